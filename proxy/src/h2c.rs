//! HTTP/2 over cleartext with prior knowledge (h2c), beside HTTP/1.1 on the public listeners:
//! cloudflared's `http2Origin: true` speaks it to its origin.
//!
//! The connection loop (`keepalive.rs`) recognises the client preface in a new connection's first
//! bytes and hands the connection here. The bytes already read go back to the transport (read
//! first by the HTTP/2 handshake), and each stream becomes a Pingora session served by the same
//! `ProxyHttp` as HTTP/1.1 (routing, forwarding headers, policy, metrics, access log). Pingora's
//! own h2c path peeks the socket for the preface, which cannot see bytes already read, and its
//! stream-accept loop is crate-private: this is that loop on Pingora's public API.
//!
//! Who may speak it: `limits.h2c` (default: peers inside `client_ip.trusted_proxies` only;
//! browsers never use h2c). Anyone else gets the server preface and a GOAWAY with
//! `HTTP_1_1_REQUIRED` (RFC 9113 §7), and the connection is counted in
//! `connections_rejected_total{reason="h2c"}`.
//!
//! Limits, as for HTTP/1.1: the preface, the handshake and the first request's HEADERS must all
//! arrive within `timeouts.client_header` of the connection's first bytes (else the connection
//! is closed, `reason="header_timeout"`); each stream's response writes are bounded by
//! `timeouts.client_write` (a client that never opens its flow-control window, or stops reading
//! the socket, loses the stream and the upstream connection behind it, as an HTTP/1.1 client
//! would); `limits.max_header_bytes` bounds each stream's decoded header list (the h2 crate
//! answers 431 past it), at most [`MAX_STREAMS`] streams run at once per connection, and the
//! connection counts once toward `limits.max_connections`. A connection with no stream for the
//! keep-alive timeout (60 s) is closed, checked once per timeout.

use crate::app::App;
use crate::config::{ClientTimeouts, H2cPeers, Limits};
use crate::downstream::Downstream;
use crate::edge::reject::send_and_linger;
use crate::headers::is_trusted;
use crate::metrics::EdgeMetrics;
use crate::state::State;
use bytes::BytesMut;
use pingora::apps::HttpServerApp;
use pingora::protocols::http::ServerSession;
use pingora::protocols::http::v2::server::{
    self, H2Accept, H2Options, HttpSession, default_h2_options,
};
use pingora::protocols::{Digest, GetProxyDigest, GetSocketDigest, GetTimingDigest};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::{Instant, Interval, Sleep};

/// The start of the HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE_START: &[u8] = b"PRI * HTTP/2.0\r\n";

/// Concurrent streams per connection (Pingora's default; nginx's is 128).
pub const MAX_STREAMS: u32 = 100;

/// Whether a new connection's first bytes open HTTP/2 with prior knowledge.
pub fn is_preface(first: &[u8]) -> bool {
    first.starts_with(PREFACE_START)
}

/// Serves one h2c connection whose first bytes (`first`) were already read, or refuses it when
/// `limits.h2c` does not admit its peer.
pub async fn serve(
    app: App,
    state: Arc<State>,
    mut stream: Box<Downstream>,
    first: BytesMut,
    idle_timeout: Duration,
    shutdown: watch::Receiver<bool>,
) {
    // The head deadline counts from the connection's first bytes, read just now.
    let (limits, timeouts, admitted) = admission(&state, &stream);
    let edge = &state.metrics.edge;
    if !admitted {
        edge.connection_rejected("h2c").inc();
        send_and_linger(&mut *stream, &refusal(), timeouts.client_write).await;
        return;
    }
    let deadline = Instant::now() + timeouts.client_header;
    stream.unread(first);
    let digest = digest_of(&stream);
    let handshake = server::handshake(stream, Some(h2_options(&limits)));
    let Some(mut conn) = within_head_deadline(deadline, handshake, edge).await else {
        return;
    };
    let head_timer = tokio::time::sleep_until(deadline);
    tokio::pin!(head_timer);
    let closing = *shutdown.borrow();
    if closing {
        conn.graceful_shutdown();
    }
    let each = PerStream {
        app,
        shutdown,
        write_timeout: timeouts.client_write,
    };
    let mut accepting = Accepting::start(each, edge, closing, idle_timeout).await;
    loop {
        let accept = HttpSession::from_h2_conn(&mut conn, digest.clone());
        match accepting.next(head_timer.as_mut(), accept).await {
            Step::Continue => {}
            // GOAWAY: streams in flight finish, no new ones are taken.
            Step::GoAway => conn.graceful_shutdown(),
            Step::Close => return,
        }
    }
}

/// The limits and client timeouts in force now, and whether `limits.h2c` admits this peer.
fn admission(state: &State, stream: &Downstream) -> (Limits, ClientTimeouts, bool) {
    let table = state.table.load();
    let peer = stream.peer_ip();
    let admitted = match table.limits.h2c {
        H2cPeers::Any => true,
        H2cPeers::Off => false,
        H2cPeers::TrustedProxies => peer.is_some_and(|ip| is_trusted(ip, &table.client_ip)),
    };
    (table.limits, table.client_timeouts, admitted)
}

/// What every stream's Pingora session learns of the connection.
fn digest_of(stream: &Downstream) -> Arc<Digest> {
    Arc::new(Digest {
        ssl_digest: None,
        timing_digest: stream.get_timing_digest(),
        proxy_digest: stream.get_proxy_digest(),
        socket_digest: stream.get_socket_digest(),
    })
}

/// The HTTP/2 settings the edge limits give: the header list bound and the streams at once.
fn h2_options(limits: &Limits) -> H2Options {
    let mut options = default_h2_options();
    options.max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    options.max_concurrent_streams(MAX_STREAMS);
    options
}

/// The handshake, if it succeeds before the head deadline (a late one counts as
/// `header_timeout`).
async fn within_head_deadline<C>(
    deadline: Instant,
    handshake: impl Future<Output = pingora::Result<C>>,
    edge: &EdgeMetrics,
) -> Option<C> {
    match tokio::time::timeout_at(deadline, handshake).await {
        Ok(Ok(conn)) => Some(conn),
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "h2c handshake failed");
            None
        }
        Err(_) => {
            edge.connection_rejected("header_timeout").inc();
            None
        }
    }
}

/// What each stream of the connection is served with.
struct PerStream {
    app: App,
    shutdown: watch::Receiver<bool>,
    /// Each response write waits at most this long for the client's window or socket.
    write_timeout: Duration,
}

/// What the connection does after one wake.
enum Step {
    Continue,
    /// Shutdown began: send GOAWAY.
    GoAway,
    Close,
}

/// An h2c connection after its handshake: its streams in flight and what may end it.
struct Accepting<'a> {
    each: PerStream,
    edge: &'a EdgeMetrics,
    /// GOAWAY sent: no shutdown left to wait for.
    closing: bool,
    /// Until the first request's HEADERS are in, the connection is bound by the head deadline.
    awaiting_first: bool,
    /// Streams in flight: the strong count beyond this one.
    streams: Arc<()>,
    last_stream: Instant,
    idle_timeout: Duration,
    idle_check: Interval,
}

impl<'a> Accepting<'a> {
    async fn start(
        each: PerStream,
        edge: &'a EdgeMetrics,
        closing: bool,
        idle_timeout: Duration,
    ) -> Self {
        let streams = Arc::new(());
        let last_stream = Instant::now();
        let mut idle_check = tokio::time::interval(idle_timeout);
        idle_check.tick().await;
        Self {
            each,
            edge,
            closing,
            awaiting_first: true,
            streams,
            last_stream,
            idle_timeout,
            idle_check,
        }
    }

    /// Waits for the first of: shutdown, the head deadline, the idle check, `accept` (the next
    /// stream, or the connection's end), and acts on it.
    async fn next(
        &mut self,
        head_timer: Pin<&mut Sleep>,
        accept: impl Future<Output = pingora::Result<Option<H2Accept>>>,
    ) -> Step {
        let accepted = tokio::select! {
            biased;
            _ = self.each.shutdown.wait_for(|s| *s), if !self.closing => {
                self.closing = true;
                return Step::GoAway;
            }
            () = head_timer, if self.awaiting_first => {
                self.edge.connection_rejected("header_timeout").inc();
                return Step::Close;
            }
            _ = self.idle_check.tick() => {
                // Closed like an idle HTTP/1.1 keep-alive connection.
                let idle = Arc::strong_count(&self.streams) == 1
                    && self.last_stream.elapsed() >= self.idle_timeout;
                return if idle { Step::Close } else { Step::Continue };
            }
            accepted = accept => accepted,
        };
        match accepted {
            Ok(Some(H2Accept::Session(session))) => {
                self.spawn(session);
                Step::Continue
            }
            Ok(Some(H2Accept::Rejected)) => Step::Continue,
            Ok(None) => Step::Close,
            Err(e) => {
                tracing::debug!(error = %e, "h2c connection ended");
                Step::Close
            }
        }
    }

    /// Serves a new stream in a task of its own, through the same `ProxyHttp` as HTTP/1.1.
    fn spawn(&mut self, session: HttpSession) {
        self.awaiting_first = false;
        self.last_stream = Instant::now();
        let app = self.each.app.clone();
        let shutdown = self.each.shutdown.clone();
        let in_flight = self.streams.clone();
        let mut session = ServerSession::new_http2(session);
        session.set_write_timeout(Some(self.each.write_timeout));
        tokio::spawn(async move {
            let _in_flight = in_flight;
            app.process_new_http(session, &shutdown).await;
        });
    }
}

/// The server preface (an empty SETTINGS frame) and a GOAWAY with `HTTP_1_1_REQUIRED` (0xd) for
/// stream 0: an h2 client reads it as "use HTTP/1.1 on this address" (RFC 9113 §6.8).
fn refusal() -> Vec<u8> {
    const DEBUG: &[u8] = b"h2c is not accepted from this address";
    let mut out = vec![0, 0, 0, 0x4, 0, 0, 0, 0, 0];
    let len = u32::try_from(8 + DEBUG.len()).unwrap_or(0).to_be_bytes();
    out.extend_from_slice(&len[1..]);
    out.extend_from_slice(&[0x7, 0, 0, 0, 0, 0]);
    out.extend_from_slice(&0u32.to_be_bytes());
    out.extend_from_slice(&0xdu32.to_be_bytes());
    out.extend_from_slice(DEBUG);
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_refusal_is_a_settings_frame_then_a_goaway() {
        let r = super::refusal();
        assert_eq!(&r[..9], &[0, 0, 0, 4, 0, 0, 0, 0, 0]);
        let len = usize::from(r[9]) << 16 | usize::from(r[10]) << 8 | usize::from(r[11]);
        assert_eq!(r[12], 7, "GOAWAY");
        assert_eq!(r.len(), 18 + len);
        assert_eq!(&r[18..26], &[0, 0, 0, 0, 0, 0, 0, 0xd]);
    }
}
