//! `request_filter`: the request's identity (request id, peer, client IP), the head fixes that
//! hold for every request, then admission (`admission.rs`) and its answer (`answer.rs`).

use super::admission::{self, Admission};
use super::{Ctx, Routed, answer, policy};
use crate::headers;
use crate::routing::RouteTable;
use http::Uri;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};
use std::sync::Arc;

/// Answers 400/404/403/429/413/301/503 itself (returning `true`), otherwise leaves the route and
/// upstream URI in `ctx` (and has read a body to buffer).
pub async fn admit(session: &mut Session, ctx: &mut Ctx, table: Arc<RouteTable>) -> Result<bool> {
    if let Some(peer) = session.client_addr().and_then(|a| a.as_inet()) {
        ctx.peer = peer.ip().to_canonical();
    }
    ctx.trusted_peer = headers::is_trusted(ctx.peer, &table.client_ip);
    // Always the proxy's own: a client (or a hop that passes the client's headers through, as
    // Cloudflare does) must not choose the id others see in logs.
    ctx.request_id = headers::new_request_id();
    ctx.client = headers::client_ip(
        ctx.peer,
        ctx.trusted_peer,
        &table.client_ip,
        &session.req_header().headers,
    );

    drop_lone_upgrade(session);
    quiet_http10(session);
    if session.req_header().version == http::Version::HTTP_2 {
        headers::join_cookie_crumbs(session.req_header_mut());
    }
    let gap = table.client_timeouts.client_body;
    match admission::decide(session.req_header(), ctx.client, &table) {
        Admission::Answer { route, answer } => {
            let routed = route.map(|index| Routed { table, index });
            answer::write(session, ctx, routed.as_ref().map(Routed::route), &answer).await?;
            // Once written: an answer the client did not take is logged without its route.
            ctx.routed = routed;
            Ok(true)
        }
        Admission::Forward(forward) => {
            if let Some(target) = forward.upstream_target {
                let uri = Uri::builder().path_and_query(target).build();
                ctx.upstream_uri = Some(uri.map_err(|e| {
                    Error::because(ErrorType::InternalError, "building upstream uri", e)
                })?);
            }
            ctx.routed = Some(Routed {
                table,
                index: forward.route,
            });
            if let Some(limit) = forward.buffer_body {
                // With the route in `ctx`: a refused body is counted and logged on it.
                policy::buffer_body(session, ctx, limit, gap).await?;
            }
            Ok(false)
        }
    }
}

/// An `Upgrade` header without `Connection: upgrade` asks for nothing (RFC 9110 §7.8): it is
/// removed, so neither Pingora nor the upstream takes the request for a handshake.
fn drop_lone_upgrade(session: &mut Session) {
    let headers = &session.req_header().headers;
    if !headers.contains_key(http::header::UPGRADE) {
        return;
    }
    let asked = headers
        .get_all(http::header::CONNECTION)
        .iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
    if !asked {
        session
            .req_header_mut()
            .remove_header(&http::header::UPGRADE);
    }
}

/// HTTP/1.0 defines no 1xx status (RFC 9110 §15.2): none is forwarded to such a client, and its
/// `Expect` is ignored (§10.1.1), so the upstream is not asked for a `100 Continue` either.
fn quiet_http10(session: &mut Session) {
    if session.req_header().version != http::Version::HTTP_10 {
        return;
    }
    session.set_ignore_info_resp(true);
    if session
        .req_header()
        .headers
        .contains_key(http::header::EXPECT)
    {
        session
            .req_header_mut()
            .remove_header(&http::header::EXPECT);
    }
}
