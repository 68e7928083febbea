//! Answers written before Pingora has a session: a head that broke a limit or the framing rules.
//!
//! The answer is the same JSON as every other error the proxy writes (`respond.rs`), with a fresh
//! request id and `Connection: close`. The connection then closes the way nginx's lingering close
//! does: the write side is shut, and what the client still sends is read and dropped for a short
//! while, so the answer is not lost to a reset caused by unread bytes.

use super::head::Rejection;
use crate::headers::new_request_id;
use crate::log::AccessLine;
use crate::respond::ErrorBody;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

/// How long, and how much, a rejected client may still send before the socket is closed.
const LINGER_TIME: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;

/// Writes the answer for `rejection` (if it has one), logs it, and lingers before returning.
pub async fn answer<S: AsyncRead + AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    rejection: Rejection,
    client: Option<IpAddr>,
    write_timeout: Duration,
) {
    let Some(status) = rejection.status() else {
        return;
    };
    let request_id = new_request_id();
    let (error, reason) = rejection.message();
    let mut body = ErrorBody::new(error, &request_id);
    body.reason = reason;
    let mut json = serde_json::to_vec(&body).unwrap_or_default();
    json.push(b'\n');
    let id = request_id.to_str().unwrap_or_default();
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nCache-Control: no-store\r\nConnection: close\r\nX-Request-Id: {id}\r\n\r\n",
        reason_phrase(status),
        json.len()
    )
    .into_bytes();
    out.extend_from_slice(&json);
    if crate::log::access_enabled() {
        // No method or path: the head was refused before it was parsed.
        crate::log::access(&AccessLine {
            request_id: id,
            client_ip: client.unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            method: "",
            path: "",
            route: crate::metrics::NO_ROUTE,
            endpoint: "",
            status,
            duration: Duration::ZERO,
            bytes: json.len(),
            retries: 0,
            panic: false,
            error: Some(rejection.reason()),
        });
    }
    send_and_linger(stream, &out, write_timeout).await;
}

/// Writes `answer` (within `write_timeout`), shuts the write side, then lingers: reads and drops
/// what the client still sends, for a short while, so that unread bytes do not make the kernel
/// reset the connection (and the client lose the answer) when it closes.
pub async fn send_and_linger<S: AsyncRead + AsyncWrite + Unpin + ?Sized>(
    stream: &mut S,
    answer: &[u8],
    write_timeout: Duration,
) {
    let sent = tokio::time::timeout(write_timeout, async {
        stream.write_all(answer).await?;
        stream.flush().await?;
        stream.shutdown().await
    })
    .await;
    if !matches!(sent, Ok(Ok(()))) {
        return;
    }
    let _ = tokio::time::timeout(LINGER_TIME, async {
        let mut sink = [0u8; 4096];
        let mut dropped = 0;
        while dropped < LINGER_BYTES {
            match stream.read(&mut sink).await {
                Ok(0) | Err(_) => break,
                Ok(n) => dropped += n,
            }
        }
    })
    .await;
}

fn reason_phrase(status: u16) -> &'static str {
    http::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("")
}
