//! An upstream's response head, between Pingora's parser and the client (RFC 9110 §6.2, §7.6.1,
//! §7.8, §15.2; RFC 9112 §6).
//!
//! - [`check`] (`upstream_response_filter`): a `101` must answer a request that asked to upgrade
//!   and name the protocol it asked for; a body's `Transfer-Encoding` must end in `chunked` (as
//!   nginx: anything else cannot be framed). Otherwise 502.
//! - [`framing_unsafe_to_reuse`]: a `204` that announces a body (`Content-Length` other
//!   than 0, `Transfer-Encoding`) has no body by definition, so Pingora pools its connection at
//!   once; a body sent late would then be read as the next request's answer. Such a connection is
//!   shut ([`close_upstream`]) so the pool drops it.
//! - [`for_client`] (`response_filter`): hop-by-hop fields are removed (`Connection` and the
//!   fields it nominates, `Keep-Alive`, `Proxy-Connection`, `TE`, `Upgrade` except on a `101`)
//!   and an HTTP/1 client gets our own version, HTTP/1.1, in the status line.

use http::header::{self, HeaderName, HeaderValue};
use http::{Method, Version};
use pingora::http::ResponseHeader;
use pingora::proxy::Session;
use pingora::{Error, ErrorType, Result};
use smallvec::SmallVec;

const KEEP_ALIVE: HeaderName = HeaderName::from_static("keep-alive");
const PROXY_CONNECTION: HeaderName = HeaderName::from_static("proxy-connection");

fn bad_response(why: &'static str) -> Box<Error> {
    let mut e = Error::explain(ErrorType::InvalidHTTPHeader, why);
    e.as_up();
    e
}

/// The comma-separated tokens of every `name` field, trimmed.
fn tokens<'a>(
    headers: &'a http::HeaderMap,
    name: &HeaderName,
) -> impl Iterator<Item = &'a [u8]> + 'a {
    headers
        .get_all(name)
        .into_iter()
        .flat_map(|v| v.as_bytes().split(|b| *b == b','))
        .map(<[u8]>::trim_ascii)
        .filter(|t| !t.is_empty())
}

/// Refuses (502) a response head that cannot be forwarded as it is.
pub fn check(session: &Session, resp: &ResponseHeader) -> Result<()> {
    let status = resp.status.as_u16();
    if status == 101 {
        // Only a request that asked to upgrade may become a tunnel (`admit` drops an `Upgrade`
        // header that came without `Connection: upgrade`).
        if !session.is_upgrade_req() {
            return Err(bad_response(
                "101 Switching Protocols to a request that did not ask to upgrade",
            ));
        }
        let asked = &session.req_header().headers;
        let mut named = tokens(&resp.headers, &header::UPGRADE).peekable();
        if named.peek().is_none() {
            return Err(bad_response("101 Switching Protocols without Upgrade"));
        }
        let offered = |p: &[u8]| tokens(asked, &header::UPGRADE).any(|a| a.eq_ignore_ascii_case(p));
        if !named.all(offered) {
            return Err(bad_response(
                "101 Switching Protocols to a protocol the client did not ask for",
            ));
        }
        return Ok(());
    }
    if status < 200 || !has_body(session, status) {
        return Ok(());
    }
    if resp.headers.contains_key(header::TRANSFER_ENCODING)
        && !tokens(&resp.headers, &header::TRANSFER_ENCODING)
            .last()
            .is_some_and(|t| t.eq_ignore_ascii_case(b"chunked"))
    {
        return Err(bad_response(
            "response Transfer-Encoding does not end in chunked",
        ));
    }
    Ok(())
}

fn has_body(session: &Session, status: u16) -> bool {
    !matches!(status, 204 | 304) && session.req_header().method != Method::HEAD
}

/// A `204` whose head announces a body (RFC 9110 §8.6 and RFC 9112 §6.1: MUST NOT): its
/// connection must not be reused. A `304` may carry the `200`'s `Content-Length` (and a
/// conforming upstream never sends a body after it), so it keeps its connection.
pub fn framing_unsafe_to_reuse(resp: &ResponseHeader) -> bool {
    resp.status.as_u16() == 204
        && (resp.headers.contains_key(header::TRANSFER_ENCODING)
            || resp
                .headers
                .get_all(header::CONTENT_LENGTH)
                .into_iter()
                .any(|v| v.as_bytes().trim_ascii() != b"0"))
}

/// Shuts the upstream connection `fd` (Pingora hands it to `connected_to_upstream`) in both
/// directions: Pingora's pool tests a connection before keeping it and again before reusing it,
/// and drops one that reads as closed. Pingora's API offers no other way to refuse reuse of a
/// connection whose response was forwarded.
pub fn close_upstream(fd: std::os::fd::RawFd) {
    if let Err(e) = nix::sys::socket::shutdown(fd, nix::sys::socket::Shutdown::Both) {
        tracing::debug!(error = %e, "could not shut an upstream connection");
    }
}

/// The value of `name` when it is one field, trimmed.
fn single<'a>(headers: &'a http::HeaderMap, name: &HeaderName) -> Option<&'a [u8]> {
    let mut all = headers.get_all(name).into_iter();
    let value = all.next()?;
    all.next().is_none().then(|| value.as_bytes().trim_ascii())
}

/// Removes hop-by-hop fields and sets the status line's version for an HTTP/1 client.
pub fn for_client(session: &Session, resp: &mut ResponseHeader) -> Result<()> {
    let switching = resp.status == http::StatusCode::SWITCHING_PROTOCOLS;
    if let Some(value) = single(&resp.headers, &header::CONNECTION)
        && (value.eq_ignore_ascii_case(b"keep-alive") || value.eq_ignore_ascii_case(b"close"))
    {
        // Nearly every response (nginx, gunicorn, uvicorn): nothing nominated but the
        // `Keep-Alive` field removed below, so no token parsing.
        resp.remove_header(&header::CONNECTION);
    } else if resp.headers.contains_key(header::CONNECTION) {
        // Names are few and short: copied out so the map can be changed.
        let nominated: SmallVec<[HeaderName; 4]> = tokens(&resp.headers, &header::CONNECTION)
            .filter_map(|t| HeaderName::from_bytes(t).ok())
            // Framing stays whatever is nominated: Pingora frames the client's body from it.
            .filter(|n| *n != header::CONTENT_LENGTH && *n != header::TRANSFER_ENCODING)
            .filter(|n| !(switching && n == header::UPGRADE))
            .collect();
        for name in &nominated {
            resp.remove_header(name);
        }
        resp.remove_header(&header::CONNECTION);
    }
    for name in [KEEP_ALIVE, PROXY_CONNECTION, header::TE] {
        if resp.headers.contains_key(&name) {
            resp.remove_header(&name);
        }
    }
    if switching {
        // The tunnel's own hop: Pingora writes a 101's head as it is.
        resp.insert_header(header::CONNECTION, HeaderValue::from_static("upgrade"))?;
    } else if resp.headers.contains_key(header::UPGRADE) {
        resp.remove_header(&header::UPGRADE);
    }
    if !session.is_http2() && resp.version != Version::HTTP_11 {
        resp.set_version(Version::HTTP_11);
    }
    Ok(())
}
