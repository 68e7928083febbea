//! Admission of a request before any upstream is involved.

use super::{Ctx, policy};
use crate::headers;
use crate::path::normalize;
use crate::respond::{self, ErrorBody};
use crate::routing::RouteTable;
use http::Uri;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};
use std::sync::Arc;

/// `request_filter`: request id, client IP, normalised path, route; answers 400/404/301/503
/// itself (returning `true`), otherwise leaves the route and upstream URI in `ctx`.
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
    let req = session.req_header();
    let raw_target = req.raw_path();
    let Some(form) = target_form(raw_target) else {
        let mut body = ErrorBody::new("bad request", &ctx.request_id);
        body.reason = Some(
            "the request target must be origin-form (/path) or absolute-form (http://host/path)",
        );
        respond::json(session, 400, &body, &ctx.request_id).await?;
        ctx.table = Some(table);
        return Ok(true);
    };
    let path = match normalize(req.uri.path()) {
        Ok(p) => p,
        Err(e) => {
            let mut body = ErrorBody::new("bad request", &ctx.request_id);
            body.reason = Some(e.reason());
            respond::json(session, 400, &body, &ctx.request_id).await?;
            ctx.table = Some(table);
            return Ok(true);
        }
    };
    let host = match form {
        Target::Absolute { authority } => Some(authority),
        // HTTP/2 carries the host as `:authority` (in the URI), HTTP/1.1 as `Host`.
        Target::Origin => req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri.authority().map(|a| a.as_str())),
    };
    let Some(idx) = table.find(host, &path) else {
        let path = path.into_owned();
        let mut body = ErrorBody::new("no route", &ctx.request_id);
        body.path = Some(&path);
        respond::json(session, 404, &body, &ctx.request_id).await?;
        ctx.table = Some(table);
        return Ok(true);
    };
    let route = table.route(idx);
    if let Some(refusal) = policy::decide(session, ctx, route) {
        policy::refuse(session, ctx, route, refusal).await?;
        ctx.route = Some(idx);
        ctx.table = Some(table);
        return Ok(true);
    }
    let query = req.uri.query();

    if route.redirect_trailing_slash && route.prefix() == Some(&*path) {
        let location = match query {
            Some(q) => format!("{path}/?{q}"),
            None => format!("{path}/"),
        };
        respond::redirect(session, &location, &ctx.request_id).await?;
        ctx.route = Some(idx);
        ctx.table = Some(table);
        return Ok(true);
    }
    if route.pool.is_empty() {
        let mut body = ErrorBody::new("no endpoints", &ctx.request_id);
        body.route = Some(&route.name);
        body.upstream = Some(&route.pool.name);
        respond::json(session, 503, &body, &ctx.request_id).await?;
        ctx.route = Some(idx);
        ctx.table = Some(table);
        return Ok(true);
    }

    let upstream_path = match route.prefix() {
        Some(prefix) if route.strip_prefix => match &path[prefix.len()..] {
            "" => "/",
            rest => rest,
        },
        _ => &*path,
    };
    // The upstream gets exactly the routed origin-form target: the client's raw bytes only when
    // they are that already (an absolute-form target, a fragment or a normalised path are not).
    if !is_target(raw_target, upstream_path, query) {
        let pq = match query {
            Some(q) => format!("{upstream_path}?{q}"),
            None => upstream_path.to_owned(),
        };
        ctx.upstream_uri =
            Some(Uri::builder().path_and_query(pq).build().map_err(|e| {
                Error::because(ErrorType::InternalError, "building upstream uri", e)
            })?);
    }
    let buffer = route.buffer_request_body;
    let gap = table.client_timeouts.client_body;
    ctx.route = Some(idx);
    ctx.table = Some(table);
    if let Some(limit) = buffer {
        // With the route in `ctx`: a refused body is counted and logged on it.
        policy::buffer_body(session, ctx, limit, gap).await?;
    }
    Ok(false)
}

/// The request target's form (RFC 9112 §3.2), for routing.
enum Target<'a> {
    /// `/path?query`.
    Origin,
    /// `http(s)://authority/path?query`: routed on the authority.
    Absolute { authority: &'a str },
}

/// Origin-form, or absolute-form with an `http`/`https` scheme and an authority; `None` for
/// asterisk-form (`OPTIONS *`), authority-form (`CONNECT host:port`), targets that are not
/// UTF-8, and anything else, which would otherwise be routed as `/` while their raw bytes went
/// upstream. (Pingora keeps an absolute-form target's scheme and authority out of the `Uri` and
/// has already checked that `Host` agrees with the authority.)
fn target_form(raw: &[u8]) -> Option<Target<'_>> {
    if raw.first() == Some(&b'/') {
        return std::str::from_utf8(raw).is_ok().then_some(Target::Origin);
    }
    let raw = std::str::from_utf8(raw).ok()?;
    let (scheme, rest) = raw.split_once("://")?;
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return None;
    }
    let authority = &rest[..rest.find(['/', '?']).unwrap_or(rest.len())];
    (!authority.is_empty()).then_some(Target::Absolute { authority })
}

/// The authority of an absolute-form `http(s)://authority/...` target.
pub(super) fn absolute_authority(raw: &[u8]) -> Option<&str> {
    match target_form(raw)? {
        Target::Absolute { authority } => Some(authority),
        Target::Origin => None,
    }
}

/// Whether `raw` is exactly `path` followed by `?query` (when there is one).
fn is_target(raw: &[u8], path: &str, query: Option<&str>) -> bool {
    let Some(rest) = raw.strip_prefix(path.as_bytes()) else {
        return false;
    };
    match query {
        None => rest.is_empty(),
        Some(q) => rest.first() == Some(&b'?') && &rest[1..] == q.as_bytes(),
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
