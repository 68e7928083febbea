//! A `Host` for a request that came without one.
//!
//! HTTP/1.0 does not require `Host` (nor does HTTP/2 require `:authority`), but Pingora sends
//! every request upstream as HTTP/1.1, which does (RFC 9112 §3.2). Such a request gets the
//! authority of its absolute-form target (which it was routed on; the upstream is sent the
//! origin-form), otherwise the address of the listener it arrived on: without a host it can
//! only have matched a route without `host`.

use pingora::Result;
use pingora::http::RequestHeader;
use pingora::proxy::Session;

/// Adds `Host` to `req` when it has none, or an empty one (Pingora writes `Host: ""` for an h2c
/// request without `:authority`).
pub fn supply(req: &mut RequestHeader, session: &Session) -> Result<()> {
    if req
        .headers
        .get(http::header::HOST)
        .is_some_and(|h| !h.is_empty())
    {
        return Ok(());
    }
    let host = match super::admission::absolute_authority(session.req_header().raw_path()) {
        Some(authority) => authority.as_bytes().to_vec(),
        None => match session.server_addr().and_then(|a| a.as_inet()) {
            Some(addr) => addr.to_string().into_bytes(),
            None => return Ok(()),
        },
    };
    req.insert_header(http::header::HOST, host)
}
