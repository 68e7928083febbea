//! Logging: JSON lines on stdout through `tracing`; Pingora's `log` records are captured too.
//! The level comes from `RUST_LOG` (default `info`); access-log lines have target `access`.
//!
//! Lines are handed to a writer thread through a bounded queue, so a slow log pipe never stalls
//! request handling; when the queue is full, lines are dropped (and counted by the appender)
//! rather than blocking a worker.

use tracing_appender::non_blocking::{NonBlockingBuilder, WorkerGuard};
use tracing_subscriber::EnvFilter;

/// Lines queued for the writer thread before new ones are dropped.
const QUEUED_LINES: usize = 64 * 1024;

/// Installs the subscriber; keep the guard alive until exit (dropping it flushes the queue).
pub fn init() -> Option<WorkerGuard> {
    let (writer, guard) = NonBlockingBuilder::default()
        .lossy(true)
        .buffered_lines_limit(QUEUED_LINES)
        .thread_name("trinity-log")
        .finish(std::io::stdout());
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let subscriber = tracing_subscriber::fmt()
        .json()
        .flatten_event(true)
        .with_current_span(false)
        .with_env_filter(filter)
        .with_writer(writer)
        .finish();
    if tracing::subscriber::set_global_default(subscriber).is_err() {
        return None;
    }
    let _ = tracing_log::LogTracer::init();
    Some(guard)
}
