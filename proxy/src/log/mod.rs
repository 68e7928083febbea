//! Logging: JSON lines on stdout. Application and Pingora records go through `tracing` (level
//! from `RUST_LOG`, default `info`); access-log lines (target `access`, level info) are formatted
//! directly by [`AccessLine`]. Both share one [`Sink`] that writes in large batches from a thread
//! of its own, so lines never interleave and a slow log pipe never stalls a request.

mod access;
mod json;
mod sink;
mod time;

pub use access::AccessLine;
pub use sink::{QUEUED_BATCHES, Sink};

use prometheus::IntCounter;
use std::sync::{LazyLock, OnceLock};
use std::time::Duration;
use tracing::level_filters::LevelFilter;
use tracing_log::AsLog;
use tracing_subscriber::EnvFilter;

pub const LOG_LINES_DROPPED_TOTAL: &str = "trinity_proxy_log_lines_dropped_total";

/// Lines the log output could not take (registered by `metrics::Metrics`).
pub static LINES_DROPPED: LazyLock<IntCounter> = LazyLock::new(|| {
    IntCounter::new(
        LOG_LINES_DROPPED_TOTAL,
        "Log lines dropped because the log output did not keep up.",
    )
    .unwrap_or_else(|e| unreachable!("constant metric options: {e}"))
});

static SINK: OnceLock<&'static Sink> = OnceLock::new();

/// How long exit waits for the log output to take the last lines.
const EXIT_WAIT: Duration = Duration::from_secs(2);

/// Writes the last lines when dropped; keep it alive until exit.
pub struct Guard(&'static Sink);

impl Drop for Guard {
    fn drop(&mut self) {
        self.0.stop(EXIT_WAIT);
    }
}

/// Installs the sink on stdout and the `tracing` subscriber; `None` if either was already set.
pub fn init() -> Option<Guard> {
    let sink = Sink::start(Box::new(std::io::stdout()), LINES_DROPPED.clone()).ok()?;
    SINK.set(sink).ok()?;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Pingora logs through the `log` crate, about 20 debug! calls a request. With log's own max
    // level at the filter's most verbose level they stop at the macro instead of each reaching
    // LogTracer to be turned down there (~1 % of a small request's instructions).
    let log_level = filter
        .max_level_hint()
        .unwrap_or(LevelFilter::TRACE)
        .as_log();
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(|| RecordWriter(Vec::new()))
        .finish();
    tracing::subscriber::set_global_default(subscriber).ok()?;
    let _ = tracing_log::LogTracer::init_with_filter(log_level);
    Some(Guard(sink))
}

/// Whether access lines are written: a sink is installed and `RUST_LOG` enables target `access`
/// at info (`RUST_LOG=warn` turns the access log off).
pub fn access_enabled() -> bool {
    SINK.get().is_some() && tracing::enabled!(target: "access", tracing::Level::INFO)
}

/// Writes one access line (batched; see [`Sink`]).
pub fn access(line: &AccessLine<'_>) {
    if let Some(sink) = SINK.get() {
        line.with_line(|bytes| sink.push(bytes, false));
    }
}

/// One `tracing` record: formatted whole into this buffer, then flushed to the sink at once
/// (application records are rare and may be waited for, as the startup line is).
struct RecordWriter(Vec<u8>);

impl std::io::Write for RecordWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Drop for RecordWriter {
    fn drop(&mut self) {
        if let Some(sink) = SINK.get()
            && !self.0.is_empty()
        {
            sink.push(&self.0, true);
        }
    }
}
