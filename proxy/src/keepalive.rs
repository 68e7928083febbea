//! The HTTP/1.1 connection loop, split so that an idle keep-alive connection holds almost nothing.
//!
//! Pingora's own loop (`ServerApp::process_new`) serves every request of a connection inside one
//! task, and a task keeps the allocation of its largest state — Pingora's whole request state
//! machine, ~20 KiB — for as long as the connection lives, idle or not. Here each request is served
//! by a task of its own; between requests a small task waits for the next request's first byte
//! (bounded by the keep-alive timeout and by shutdown) and only then starts the next request task.
//! The semantics are Pingora's: keep-alive 60 s, persistent settings carried across requests, no
//! keep-alive once shutting down.

use crate::proxy::TrinityProxy;
use crate::server::ConnectionGuard;
use pingora::apps::{HttpPersistentSettings, HttpServerApp, ReusedHttpStream};
use pingora::protocols::Stream;
use pingora::protocols::http::ServerSession;
use pingora::proxy::HttpProxy;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

/// Pingora's downstream keep-alive timeout for HTTP/1.1.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);

type App = Arc<HttpProxy<TrinityProxy>>;

/// Serves the first request of a new connection.
pub(crate) async fn serve_first(
    app: App,
    stream: Stream,
    shutdown: watch::Receiver<bool>,
    guard: ConnectionGuard,
) {
    let mut session = ServerSession::new_http1(stream);
    let keepalive = (!*shutdown.borrow()).then_some(KEEPALIVE_TIMEOUT.as_secs());
    session.set_keepalive(keepalive);
    let reused = app.process_new_http(session, &shutdown).await;
    park(app, reused, shutdown, guard);
}

/// Serves one more request on a kept-alive connection.
async fn serve_next(
    app: App,
    stream: Stream,
    settings: Option<HttpPersistentSettings>,
    shutdown: watch::Receiver<bool>,
    guard: ConnectionGuard,
) {
    let mut session = ServerSession::new_http1(stream);
    if let Some(s) = settings {
        s.apply_to_session(&mut session);
    }
    if *shutdown.borrow() {
        session.set_keepalive(None);
    }
    let reused = app.process_new_http(session, &shutdown).await;
    park(app, reused, shutdown, guard);
}

/// Hands a kept-alive connection to a small waiting task (or closes it).
fn park(
    app: App,
    reused: Option<ReusedHttpStream>,
    shutdown: watch::Receiver<bool>,
    guard: ConnectionGuard,
) {
    if let Some(reused) = reused {
        tokio::spawn(wait_next(app, reused, shutdown, guard));
    }
}

/// Waits, holding only the socket, for the next request's first byte.
async fn wait_next(
    app: App,
    reused: ReusedHttpStream,
    mut shutdown: watch::Receiver<bool>,
    guard: ConnectionGuard,
) {
    let (mut stream, settings) = reused.consume();
    if *shutdown.borrow() {
        return;
    }
    let mut first = [0u8; 1];
    let arrived = tokio::select! {
        r = stream.try_peek(&mut first) => matches!(r, Ok(true)),
        () = tokio::time::sleep(KEEPALIVE_TIMEOUT) => false,
        _ = shutdown.wait_for(|s| *s) => false,
    };
    if arrived {
        // A new task: the request state machine is allocated only while a request is served.
        tokio::spawn(serve_next(app, stream, settings, shutdown, guard));
    }
}
