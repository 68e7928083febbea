//! The HTTP/1.1 connection loop, shaped so that an idle keep-alive connection holds almost nothing
//! and a request costs no more syscalls than Pingora's own loop.
//!
//! Pingora's own loop (`ServerApp::process_new`) waits for the next request *inside* the request
//! state machine, whose allocation (~20 KiB) therefore lives as long as the connection, idle or
//! not. Here one small task per connection waits for the next request's first bytes (bounded by
//! the keep-alive timeout and by shutdown) and only then starts Pingora's state machine, handing it
//! the bytes already read as its parse buffer (`set_pipelined_prefix`): the wait costs no extra
//! read, no copy into a second buffer and no task spawn per request.
//! The semantics are Pingora's: keep-alive 60 s, persistent settings carried across requests, no
//! keep-alive once shutting down. A new connection that sends nothing is closed after the same
//! timeout.
//!
//! The keep-alive timeout is one tokio timer per connection, armed once and moved only when it
//! fires (see [`next_request`]), not a new timer per request: a timer registered on a worker that
//! parked with an empty timer wheel makes tokio wake its own driver, which a timer per request
//! paid on every request (benches/RESULTS.md, "one keep-alive timer per connection").
//!
//! Once a request's first bytes are in, the rest of its head is read here too (`edge::head`):
//! under `limits.max_header_bytes` / `limits.max_headers` and one `timeouts.client_header`
//! deadline, answered 431 / 408 / 400 / 501 by `edge::reject` when it breaks them. Pingora gets
//! a complete head and parses it without reading (Pingora alone buffers about 1 MiB of header and
//! bounds only each read).

use crate::app::App;
use crate::config::ClientTimeouts;
use crate::connections::ConnectionGuard;
use crate::downstream::Downstream;
use crate::edge::body::BodyGate;
use crate::edge::head::{self, Head, HeadLimits, Rejection};
use crate::edge::reject;
use crate::h2c;
use crate::state::State;
use bytes::BytesMut;
use pingora::apps::{HttpPersistentSettings, HttpServerApp};
use pingora::protocols::http::ServerSession;
use std::future::poll_fn;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use tokio::sync::watch;
use tokio::time::{Instant, Sleep};

/// Pingora's downstream keep-alive timeout for HTTP/1.1.
pub const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(60);

/// Pingora's initial request-header buffer (`INIT_HEADER_BUF_SIZE`): the first read fills at most
/// this much, and the buffer handed over grows in place if the header is longer.
const FIRST_READ: usize = 4096;

/// Serves every request of one accepted connection.
pub(crate) async fn serve(
    app: App,
    state: Arc<State>,
    mut stream: Box<Downstream>,
    mut shutdown: watch::Receiver<bool>,
    guard: ConnectionGuard,
    timeout: Duration,
) {
    let _guard = guard;
    let mut settings: Option<HttpPersistentSettings> = None;
    let mut first = true;
    // Boxed: inline, the timer would be part of every state of this task's future.
    let mut idle = Box::pin(tokio::time::sleep(timeout));
    loop {
        let Some(mut buf) = next_request(&mut stream, &mut shutdown, idle.as_mut(), timeout).await
        else {
            return;
        };
        let (limits, client_timeouts) = {
            let table = state.table.load();
            (table.limits, table.client_timeouts)
        };
        if std::mem::take(&mut first) && h2c::is_preface(&buf) {
            // Boxed: inline, its state (~3 KiB) would be part of every HTTP/1.1 connection's task.
            Box::pin(h2c::serve(app, state, stream, buf, timeout, shutdown)).await;
            return;
        }
        let head_limits = HeadLimits {
            max_bytes: limits.max_header_bytes,
            max_headers: limits.max_headers,
            deadline: tokio::time::Instant::now() + client_timeouts.client_header,
            max_pending: limits.max_pending_header_bytes,
            pending: &state.pending_heads,
        };
        let head = match head::read(&mut *stream, &mut buf, head_limits).await {
            Ok(head) => head,
            Err(rejection) => {
                // Not held through the answer and its linger (it is no longer charged).
                drop(buf);
                refuse(&state, &mut stream, rejection, client_timeouts.client_write).await;
                return;
            }
        };
        if let Err(rejection) = begin_request(&mut stream, &mut buf, head) {
            refuse(&state, &mut stream, rejection, client_timeouts.client_write).await;
            return;
        }
        // No keep-alive once shutting down; Pingora sets its own value again once the head is
        // parsed (it never reads for it: the head is complete).
        let keepalive = (!*shutdown.borrow()).then_some(timeout.as_secs());
        let session = session(stream, buf, settings, client_timeouts, keepalive);
        let Some(reused) = app.process_new_http(session, &shutdown).await else {
            return;
        };
        let (next, kept) = reused.consume();
        let Ok(next) = next.into_any().downcast::<Downstream>() else {
            tracing::error!("a reused client connection is not ours: closing it");
            return;
        };
        stream = next;
        stream.end_request();
        settings = kept;
    }
}

/// Starts the request whose head `buf` begins with: `buf` is cut to the head and the body bytes
/// read with it (for Pingora), and the transport holds back what follows the body (a pipelined
/// request) for the next turn of the connection loop. Fails when the body's framing is broken.
fn begin_request(stream: &mut Downstream, buf: &mut BytesMut, head: Head) -> Result<(), Rejection> {
    // Bytes a pipelining client sent earlier and the transport still holds follow the head
    // (its body, then the next requests): the body read below must not skip them.
    let earlier = stream.take_held();
    if !earlier.is_empty() {
        buf.extend_from_slice(&earlier);
    }
    let mut body = BodyGate::new(head.body);
    let in_buffer = body
        .feed(&buf[head.len..])
        .map_err(|e| Rejection::BadRequest(e.0))?;
    // A copy, not `split_off`: the held bytes must not keep the head's buffer alive.
    let end = head.len + in_buffer;
    let held = match buf.len() > end {
        true => BytesMut::from(&buf[end..]),
        false => BytesMut::new(),
    };
    buf.truncate(end);
    stream.begin_request(body, held, head.upgrade);
    Ok(())
}

/// Pingora's session for one request on `stream`, parsing from `buf` (the head and the body
/// bytes read with it), with the client timeouts and the settings kept from earlier requests.
fn session(
    stream: Box<Downstream>,
    buf: BytesMut,
    settings: Option<HttpPersistentSettings>,
    client_timeouts: ClientTimeouts,
    keepalive: Option<u64>,
) -> ServerSession {
    let mut session = ServerSession::new_http1(stream);
    session.set_write_timeout(Some(client_timeouts.client_write));
    // Pingora's HTTP/1 body reads: the longest pause of a client inside its body (408).
    session.set_read_timeout(Some(client_timeouts.client_body));
    if let Some(s) = settings {
        s.apply_to_session(&mut session);
    }
    session.set_keepalive(keepalive);
    // Pipelining stays off in Pingora (the transport holds pipelined bytes back instead), so
    // the settings carry no prefix of their own.
    if let ServerSession::H1(h1) = &mut session {
        h1.set_pipelined_prefix(buf);
    }
    session
}

/// Counts and answers a head the edge refused, then lets the connection go.
async fn refuse(
    state: &State,
    stream: &mut Downstream,
    rejection: Rejection,
    write_timeout: Duration,
) {
    let edge = &state.metrics.edge;
    match rejection {
        Rejection::Closed => {}
        Rejection::Timeout => edge.connection_rejected(rejection.reason()).inc(),
        _ => edge
            .request_rejected(crate::metrics::NO_ROUTE, rejection.reason())
            .inc(),
    }
    let client = stream.peer_ip();
    // Boxed: its linger read buffer (~4.6 KiB) would otherwise be part of every connection's task.
    Box::pin(reject::answer(stream, rejection, client, write_timeout)).await;
}

/// Waits, holding only the socket, for the next request's first bytes and returns them; `None`
/// when the client closed, the read failed, the keep-alive timeout passed or shutdown began.
///
/// `idle` is the connection's one keep-alive timer. Its deadline is only ever earlier than this
/// wait's (it was set by an earlier wait, or at the connection's start): when it fires too early
/// it is moved to this wait's deadline, once, and the wait goes on. A request costs a clock read,
/// not a timer registration (see the module doc).
async fn next_request(
    stream: &mut Downstream,
    shutdown: &mut watch::Receiver<bool>,
    mut idle: Pin<&mut Sleep>,
    timeout: Duration,
) -> Option<BytesMut> {
    if *shutdown.borrow() {
        return None;
    }
    let deadline = Instant::now() + timeout;
    loop {
        tokio::select! {
            biased;
            r = read_available(stream) => return r,
            () = idle.as_mut() => {
                if idle.deadline() >= deadline {
                    return None;
                }
                idle.as_mut().reset(deadline);
            }
            _ = shutdown.wait_for(|s| *s) => return None,
        }
    }
}

/// One read of whatever has arrived. The read lands on the stack of the poll, so a waiting
/// connection keeps no buffer; the bytes are copied once into a buffer of Pingora's initial size.
async fn read_available(stream: &mut Downstream) -> Option<BytesMut> {
    poll_fn(|cx| {
        let mut space = [MaybeUninit::<u8>::uninit(); FIRST_READ];
        let mut buf = ReadBuf::uninit(&mut space);
        match Pin::new(&mut *stream).poll_read(cx, &mut buf) {
            Poll::Pending => Poll::Pending,
            Poll::Ready(Err(e)) => {
                tracing::debug!(error = %e, "downstream read failed between requests");
                Poll::Ready(None)
            }
            Poll::Ready(Ok(())) if buf.filled().is_empty() => Poll::Ready(None),
            Poll::Ready(Ok(())) => {
                let mut bytes = BytesMut::with_capacity(FIRST_READ);
                bytes.extend_from_slice(buf.filled());
                Poll::Ready(Some(bytes))
            }
        }
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The size of the future `f` returns: what a connection's task allocates for its whole life.
    fn future_size<F, R>(_: F) -> usize
    where
        F: FnOnce(
            App,
            Arc<State>,
            Box<Downstream>,
            watch::Receiver<bool>,
            ConnectionGuard,
            Duration,
        ) -> R,
    {
        std::mem::size_of::<R>()
    }

    /// An idle keep-alive connection holds its task's future, sized for the largest state of any
    /// await in it: the rare, large ones (h2c, refusing a head with its linger buffer) are boxed.
    /// Inline they made it 4,952 bytes (debug build), more than all the rest of the connection.
    #[test]
    fn an_idle_connection_task_is_small() {
        let size = future_size(serve);
        assert!(size <= 1536, "a connection's task is {size} bytes");
    }
}
