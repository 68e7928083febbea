//! The log sink: whole lines are appended to a shared batch, and a writer thread writes batches
//! in large chunks, like nginx's `access_log … buffer=64k flush=1s`. A batch goes to the writer
//! once it holds [`BATCH_BYTES`], when a line asks to be flushed (application log lines, which
//! may be waited for: the writer is asked once, however many ask before it takes the batch), or
//! after [`FLUSH_EVERY`] at the latest.
//!
//! The request path never waits for the writer: at most [`QUEUED_BATCHES`] batches wait for it,
//! and when the output cannot keep up (a blocked pipe), further batches are dropped and their
//! lines counted in `trinity_proxy_log_lines_dropped_total`.

use prometheus::IntCounter;
use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

pub const BATCH_BYTES: usize = 64 * 1024;
pub const FLUSH_EVERY: Duration = Duration::from_secs(1);
/// Full batches waiting for the writer (4 MiB with [`BATCH_BYTES`], about 2 s of lines at
/// 10,000 requests/s) before lines are dropped: enough for a writer thread that did not get a
/// CPU for a moment, not for an output that stopped.
pub const QUEUED_BATCHES: usize = 64;

#[derive(Default)]
struct Batch {
    buf: Vec<u8>,
    lines: u64,
}

enum Msg {
    Batch(Batch),
    /// Take the batch being filled and write it now.
    Flush,
    /// Write what is queued, then acknowledge and stop.
    Stop(SyncSender<()>),
}

pub struct Sink {
    batch: Mutex<Batch>,
    tx: SyncSender<Msg>,
    /// Batches handed to the writer and not yet taken by it.
    queued: AtomicUsize,
    /// A [`Msg::Flush`] is on its way: more flushes until it is taken add nothing to the queue
    /// (a storm of error records must not fill it one record at a time).
    flush_asked: AtomicBool,
    dropped: IntCounter,
}

impl Sink {
    /// A sink writing to `out` from a thread of its own; `dropped` counts lost lines.
    pub fn start(
        out: Box<dyn Write + Send>,
        dropped: IntCounter,
    ) -> std::io::Result<&'static Sink> {
        let (tx, rx) = sync_channel(QUEUED_BATCHES);
        let sink: &'static Sink = Box::leak(Box::new(Sink {
            batch: Mutex::new(Batch::default()),
            tx,
            queued: AtomicUsize::new(0),
            flush_asked: AtomicBool::new(false),
            dropped,
        }));
        std::thread::Builder::new()
            .name("trinity-log".into())
            .spawn(move || sink.write_loop(&rx, out))?;
        Ok(sink)
    }

    /// Appends one whole line (ending in `\n`); `flush` asks the writer to write the batch now.
    pub fn push(&self, line: &[u8], flush: bool) {
        let full = {
            let mut b = self.lock();
            if b.buf.capacity() == 0 {
                b.buf.reserve(BATCH_BYTES + 1024);
            }
            b.buf.extend_from_slice(line);
            b.lines += 1;
            (b.buf.len() >= BATCH_BYTES).then(|| std::mem::take(&mut *b))
        };
        if let Some(batch) = full {
            self.send(batch);
        } else if flush
            && !self.flush_asked.swap(true, Ordering::AcqRel)
            && self.tx.try_send(Msg::Flush).is_err()
        {
            self.flush_asked.store(false, Ordering::Release);
        }
    }

    /// Writes everything appended so far and stops the writer, waiting at most `wait` (a blocked
    /// output must not hold the process's exit).
    pub fn stop(&self, wait: Duration) {
        let deadline = Instant::now() + wait;
        let rest = std::mem::take(&mut *self.lock());
        if rest.lines > 0 {
            self.queued.fetch_add(1, Ordering::Relaxed);
            if let Err(Msg::Batch(b)) = self.send_until(Msg::Batch(rest), deadline) {
                self.queued.fetch_sub(1, Ordering::Relaxed);
                self.dropped.inc_by(b.lines);
            }
        }
        let (ack_tx, ack_rx) = sync_channel(1);
        if self.send_until(Msg::Stop(ack_tx), deadline).is_ok() {
            let _ = ack_rx.recv_timeout(deadline.saturating_duration_since(Instant::now()));
        }
    }

    /// Sends `msg`, waiting for room in the queue until `deadline`; gives it back if it cannot.
    fn send_until(&self, mut msg: Msg, deadline: Instant) -> Result<(), Msg> {
        loop {
            match self.tx.try_send(msg) {
                Ok(()) => return Ok(()),
                Err(TrySendError::Full(m)) if Instant::now() < deadline => {
                    msg = m;
                    std::thread::sleep(Duration::from_millis(5));
                }
                Err(TrySendError::Full(m) | TrySendError::Disconnected(m)) => return Err(m),
            }
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Batch> {
        // A line is appended whole or not at all: a panic elsewhere cannot leave it half-done.
        self.batch.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Full batches waiting for the writer.
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    fn send(&self, batch: Batch) {
        self.queued.fetch_add(1, Ordering::Relaxed);
        if let Err(TrySendError::Full(Msg::Batch(b)) | TrySendError::Disconnected(Msg::Batch(b))) =
            self.tx.try_send(Msg::Batch(batch))
        {
            self.queued.fetch_sub(1, Ordering::Relaxed);
            self.dropped.inc_by(b.lines);
        }
    }

    fn write_loop(&self, rx: &Receiver<Msg>, mut out: Box<dyn Write + Send>) {
        loop {
            let batch = match rx.recv_timeout(FLUSH_EVERY) {
                Ok(Msg::Batch(b)) => {
                    self.queued.fetch_sub(1, Ordering::Relaxed);
                    b
                }
                Ok(Msg::Flush) => {
                    self.flush_asked.store(false, Ordering::Release);
                    std::mem::take(&mut *self.lock())
                }
                Ok(Msg::Stop(ack)) => {
                    let _ = out.flush();
                    let _ = ack.send(());
                    return;
                }
                Err(RecvTimeoutError::Timeout) => std::mem::take(&mut *self.lock()),
                Err(RecvTimeoutError::Disconnected) => return,
            };
            if batch.lines == 0 {
                continue;
            }
            if out
                .write_all(&batch.buf)
                .and_then(|()| out.flush())
                .is_err()
            {
                self.dropped.inc_by(batch.lines);
            }
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::mpsc::Sender;

    /// Records each write; optionally blocks every write until released.
    struct Out {
        writes: Sender<Vec<u8>>,
        gate: Option<Arc<Mutex<()>>>,
    }

    impl Write for Out {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            if let Some(g) = &self.gate {
                drop(g.lock().unwrap());
            }
            self.writes.send(buf.to_vec()).unwrap();
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    fn counter() -> IntCounter {
        IntCounter::new("dropped", "test").unwrap()
    }

    /// A sink whose writes arrive on the returned channel (each blocked while `gate` is held).
    fn recording(
        gate: Option<Arc<Mutex<()>>>,
        dropped: IntCounter,
    ) -> (&'static Sink, std::sync::mpsc::Receiver<Vec<u8>>) {
        let (writes, rx) = std::sync::mpsc::channel();
        let sink = Sink::start(Box::new(Out { writes, gate }), dropped).unwrap();
        (sink, rx)
    }

    /// `len` bytes ending in a newline.
    fn line(len: usize) -> Vec<u8> {
        let mut l = vec![b'x'; len - 1];
        l.push(b'\n');
        l
    }

    #[test]
    fn lines_are_written_in_large_batches() {
        let (sink, rx) = recording(None, counter());
        let line = line(100);
        for _ in 0..1000 {
            sink.push(&line, false);
        }
        let first = rx.recv_timeout(Duration::from_secs(5)).unwrap();
        let size = first.len();
        assert!(size >= BATCH_BYTES, "one write of {size} bytes");
        sink.stop(Duration::from_secs(5));
        let total: usize = size + rx.try_iter().map(|w| w.len()).sum::<usize>();
        assert_eq!(total, 1000 * 100, "every line written once");
    }

    #[test]
    fn a_flushed_line_is_written_without_waiting_for_the_batch() {
        let (sink, rx) = recording(None, counter());
        sink.push(b"access\n", false);
        sink.push(b"serving\n", true);
        let w = rx.recv_timeout(FLUSH_EVERY / 2).unwrap();
        assert_eq!(w, b"access\nserving\n");
    }

    #[test]
    fn a_storm_of_flushed_records_is_written_whole_not_one_queued_batch_each() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let dropped = counter();
        let (sink, rx) = recording(Some(gate.clone()), dropped.clone());
        for _ in 0..10_000 {
            sink.push(b"ERROR upstream down\n", true);
        }
        assert_eq!(dropped.get(), 0);
        drop(held);
        sink.stop(Duration::from_secs(5));
        let written: usize = rx.try_iter().map(|w| w.len()).sum();
        assert_eq!(written, 10_000 * 20);
    }

    #[test]
    fn a_blocked_output_drops_and_counts_instead_of_blocking() {
        let gate = Arc::new(Mutex::new(()));
        let held = gate.lock().unwrap();
        let dropped = counter();
        let (sink, rx) = recording(Some(gate.clone()), dropped.clone());
        let line = line(1024);
        let lines = 64 * (QUEUED_BATCHES as u64 + 4);
        for _ in 0..lines {
            sink.push(&line, false);
        }
        assert!(dropped.get() >= 64, "dropped {}", dropped.get());
        drop(held);
        sink.stop(Duration::from_secs(5));
        let written: usize = rx.try_iter().map(|w| w.len()).sum();
        assert_eq!(written as u64 / 1024 + dropped.get(), lines);
    }
}
