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
//! Limits: `limits.max_header_bytes` bounds each stream's decoded header list (the h2 crate
//! answers 431 past it), at most [`MAX_STREAMS`] streams run at once per connection, and the
//! connection counts once toward `limits.max_connections`. A connection with no stream for the
//! keep-alive timeout (60 s) is closed, checked once per timeout.

use crate::config::Limits;
use crate::downstream::Downstream;
use crate::proxy::TrinityProxy;
use bytes::BytesMut;
use pingora::apps::HttpServerApp;
use pingora::protocols::http::ServerSession;
use pingora::protocols::http::v2::server::{self, H2Accept, HttpSession, default_h2_options};
use pingora::protocols::{Digest, GetProxyDigest, GetSocketDigest, GetTimingDigest};
use pingora::proxy::HttpProxy;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tokio::time::Instant;

/// The start of the HTTP/2 client connection preface (RFC 9113 §3.4).
const PREFACE_START: &[u8] = b"PRI * HTTP/2.0\r\n";

/// Concurrent streams per connection (Pingora's default; nginx's is 128).
pub const MAX_STREAMS: u32 = 100;

/// Whether a new connection's first bytes open HTTP/2 with prior knowledge.
pub fn is_preface(first: &[u8]) -> bool {
    first.starts_with(PREFACE_START)
}

/// Serves one h2c connection whose first bytes (`first`) were already read.
pub async fn serve(
    app: Arc<HttpProxy<TrinityProxy>>,
    mut stream: Box<Downstream>,
    first: BytesMut,
    limits: Limits,
    idle_timeout: Duration,
    mut shutdown: watch::Receiver<bool>,
) {
    stream.unread(first);
    let digest = Arc::new(Digest {
        ssl_digest: None,
        timing_digest: stream.get_timing_digest(),
        proxy_digest: stream.get_proxy_digest(),
        socket_digest: stream.get_socket_digest(),
    });
    let mut options = default_h2_options();
    options.max_header_list_size(u32::try_from(limits.max_header_bytes).unwrap_or(u32::MAX));
    options.max_concurrent_streams(MAX_STREAMS);
    let mut conn = match server::handshake(stream, Some(options)).await {
        Ok(conn) => conn,
        Err(e) => {
            tracing::debug!(error = %e, "h2c handshake failed");
            return;
        }
    };
    let mut closing = *shutdown.borrow();
    if closing {
        conn.graceful_shutdown();
    }
    // Streams in flight: the strong count of `streams` beyond this one.
    let streams = Arc::new(());
    let mut last_stream = Instant::now();
    let mut idle_check = tokio::time::interval(idle_timeout);
    idle_check.tick().await;
    loop {
        let accepted = tokio::select! {
            biased;
            _ = shutdown.wait_for(|s| *s), if !closing => {
                // GOAWAY: streams in flight finish, no new ones are taken.
                conn.graceful_shutdown();
                closing = true;
                continue;
            }
            _ = idle_check.tick() => {
                // Closed like an idle HTTP/1.1 keep-alive connection.
                if Arc::strong_count(&streams) == 1 && last_stream.elapsed() >= idle_timeout {
                    return;
                }
                continue;
            }
            accepted = HttpSession::from_h2_conn(&mut conn, digest.clone()) => accepted,
        };
        match accepted {
            Ok(Some(H2Accept::Session(session))) => {
                last_stream = Instant::now();
                let app = app.clone();
                let shutdown = shutdown.clone();
                let in_flight = streams.clone();
                tokio::spawn(async move {
                    let _in_flight = in_flight;
                    app.process_new_http(ServerSession::new_http2(session), &shutdown)
                        .await;
                });
            }
            Ok(Some(H2Accept::Rejected)) => {}
            Ok(None) => return,
            Err(e) => {
                tracing::debug!(error = %e, "h2c connection ended");
                return;
            }
        }
    }
}
