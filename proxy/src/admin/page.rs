//! `GET /`: the status page. One self-contained HTML file (inline CSS and JavaScript, no external
//! asset, so it works offline inside a cluster) that polls `/status` every 2 s and renders routes
//! with their last-minute figures and 5-minute sparklines, upstreams with each endpoint's state,
//! the reload outcome, version, uptime and open connections. Every state is written out in text;
//! colour only repeats it. The page only reads.

use bytes::Bytes;
use http::{Response, header};
use http_body_util::Full;

/// The page, compiled into the binary.
pub const PAGE: &str = include_str!("page.html");

pub(super) fn page() -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from_static(PAGE.as_bytes())));
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/html; charset=utf-8"),
    );
    // Nothing but this document's own inline code may run or load.
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(
            "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
        ),
    );
    h.insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("no-store"),
    );
    resp
}
