//! The Pingora [`ProxyHttp`] implementation. Reads top to bottom in request order:
//!
//! 1. `request_filter`: request id, client IP, path normalisation (400), route lookup on one
//!    `ArcSwap` snapshot (404), trailing-slash redirect (301), empty pool (503).
//! 2. `upstream_peer`: round-robin over endpoints this request has not tried.
//! 3. `upstream_request_filter`: strip prefix / normalised path, forwarding headers.
//! 4. `upstream_response_filter` / `response_filter`: `Location` under the prefix, `X-Request-Id`.
//! 5. `fail_to_connect`: retry a connect failure on another endpoint, any method (nothing was sent).
//! 6. `fail_to_proxy`: JSON 502/504 naming route and upstream.
//! 7. `logging`: metrics through pre-resolved handles, one JSON access-log line.

use crate::headers::{self, Forwarding, X_REQUEST_ID};
use crate::path::normalize;
use crate::respond::{self, ErrorBody};
use crate::routing::{Route, RouteTable};
use crate::state::State;
use crate::upstream::InFlight;
use async_trait::async_trait;
use http::{HeaderValue, Uri};
use pingora::http::{RequestHeader, ResponseHeader};
use pingora::prelude::HttpPeer;
use pingora::proxy::{FailToProxy, ProxyHttp, Session};
use pingora::{Error, ErrorSource, ErrorType, Result};
use smallvec::SmallVec;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Idle upstream connections are kept this long for reuse: below the keep-alive timeouts of
/// uvicorn (5 s) and nginx (75 s), so the proxy closes first and never races a closing socket.
pub const UPSTREAM_IDLE_TIMEOUT: Duration = Duration::from_secs(4);

pub struct TrinityProxy {
    state: Arc<State>,
}

impl TrinityProxy {
    pub fn new(state: Arc<State>) -> Self {
        Self { state }
    }
}

/// Per-request state.
pub struct Ctx {
    started: Instant,
    table: Option<Arc<RouteTable>>,
    route: Option<usize>,
    request_id: HeaderValue,
    peer: IpAddr,
    trusted_peer: bool,
    client: IpAddr,
    /// Path (and query) to send upstream when it differs from the request's.
    upstream_uri: Option<Uri>,
    tried: SmallVec<[u32; 4]>,
    retries: usize,
    endpoint: Option<InFlight>,
    upstream_started: Option<Instant>,
}

impl Ctx {
    fn route(&self) -> Option<&Route> {
        Some(self.table.as_ref()?.route(self.route?))
    }
}

#[async_trait]
impl ProxyHttp for TrinityProxy {
    type CTX = Ctx;

    fn new_ctx(&self) -> Ctx {
        Ctx {
            started: Instant::now(),
            table: None,
            route: None,
            request_id: HeaderValue::from_static(""),
            peer: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            trusted_peer: false,
            client: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            upstream_uri: None,
            tried: SmallVec::new(),
            retries: 0,
            endpoint: None,
            upstream_started: None,
        }
    }

    async fn request_filter(&self, session: &mut Session, ctx: &mut Ctx) -> Result<bool> {
        let table = self.state.table.load_full();
        ctx.request_id = headers::request_id(session.req_header().headers.get(X_REQUEST_ID));
        if let Some(peer) = session.client_addr().and_then(|a| a.as_inet()) {
            ctx.peer = peer.ip().to_canonical();
        }
        ctx.trusted_peer = headers::is_trusted(ctx.peer, &table.client_ip);
        ctx.client = headers::client_ip(
            ctx.peer,
            ctx.trusted_peer,
            &table.client_ip,
            &session.req_header().headers,
        );

        let req = session.req_header();
        let raw_path = req.uri.path();
        let path = match normalize(raw_path) {
            Ok(p) => p,
            Err(e) => {
                let mut body = ErrorBody::new("bad request", &ctx.request_id);
                body.reason = Some(e.reason());
                respond::json(session, 400, &body, &ctx.request_id).await?;
                ctx.table = Some(table);
                return Ok(true);
            }
        };
        let host = req
            .headers
            .get(http::header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| req.uri.host());
        let Some(idx) = table.find(host, &path) else {
            let path = path.into_owned();
            let mut body = ErrorBody::new("no route", &ctx.request_id);
            body.path = Some(&path);
            respond::json(session, 404, &body, &ctx.request_id).await?;
            ctx.table = Some(table);
            return Ok(true);
        };
        let route = table.route(idx);
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
        if upstream_path != raw_path {
            let pq = match query {
                Some(q) => format!("{upstream_path}?{q}"),
                None => upstream_path.to_owned(),
            };
            ctx.upstream_uri = Some(Uri::builder().path_and_query(pq).build().map_err(|e| {
                Error::because(ErrorType::InternalError, "building upstream uri", e)
            })?);
        }
        ctx.route = Some(idx);
        ctx.table = Some(table);
        Ok(false)
    }

    async fn upstream_peer(&self, _session: &mut Session, ctx: &mut Ctx) -> Result<Box<HttpPeer>> {
        let Some(route) = ctx.route() else {
            return Err(Error::explain(
                ErrorType::InternalError,
                "no route in context",
            ));
        };
        let Some((idx, guard)) = route.pool.select(&ctx.tried) else {
            return Err(Error::explain(
                ErrorType::ConnectNoRoute,
                "every endpoint was tried",
            ));
        };
        let timeouts = route.timeouts;
        let mut peer = HttpPeer::new(guard.endpoint().addr, false, String::new());
        peer.options.connection_timeout = Some(timeouts.connect);
        peer.options.read_timeout = Some(timeouts.read);
        peer.options.idle_timeout = Some(UPSTREAM_IDLE_TIMEOUT);
        ctx.tried.push(idx);
        ctx.endpoint = Some(guard);
        ctx.upstream_started = Some(Instant::now());
        Ok(Box::new(peer))
    }

    async fn upstream_request_filter(
        &self,
        _session: &mut Session,
        req: &mut RequestHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let Some(route) = ctx.route() else {
            return Ok(());
        };
        if let Some(uri) = &ctx.upstream_uri {
            req.set_uri(uri.clone());
        }
        let client_ip_header = ctx.table.as_ref().and_then(|t| t.client_ip.header.as_ref());
        Forwarding {
            peer: ctx.peer,
            trusted_peer: ctx.trusted_peer,
            client: ctx.client,
            request_id: &ctx.request_id,
            prefix: route.prefix().filter(|_| route.strip_prefix),
            client_ip_header,
        }
        .apply(req)
    }

    async fn upstream_response_filter(
        &self,
        session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        let Some(route) = ctx.route() else {
            return Ok(());
        };
        if let (true, Some(prefix)) = (route.strip_prefix, route.prefix())
            && let Some(loc) = resp
                .headers
                .get(http::header::LOCATION)
                .and_then(|l| l.to_str().ok())
        {
            let host = session
                .req_header()
                .headers
                .get(http::header::HOST)
                .and_then(|h| h.to_str().ok());
            if let Some(rewritten) = rewrite_location(loc, prefix, host) {
                resp.insert_header(http::header::LOCATION, rewritten)?;
            }
        }
        Ok(())
    }

    async fn response_filter(
        &self,
        _session: &mut Session,
        resp: &mut ResponseHeader,
        ctx: &mut Ctx,
    ) -> Result<()> {
        resp.insert_header(X_REQUEST_ID, ctx.request_id.clone())
    }

    fn fail_to_connect(
        &self,
        _session: &mut Session,
        _peer: &HttpPeer,
        ctx: &mut Ctx,
        mut e: Box<Error>,
    ) -> Box<Error> {
        if let Some(guard) = ctx.endpoint.take() {
            guard.endpoint().record_failure();
        }
        let Some(route) = ctx.route() else {
            return e;
        };
        let pool = &route.pool;
        if ctx.retries < pool.retries && ctx.tried.len() < pool.endpoints.len() {
            route.metrics.retry_connect_failure.inc();
            ctx.retries += 1;
            e.set_retry(true);
        }
        e
    }

    async fn fail_to_proxy(&self, session: &mut Session, e: &Error, ctx: &mut Ctx) -> FailToProxy {
        let code = match e.etype() {
            ErrorType::HTTPStatus(code) => *code,
            ErrorType::ReadTimedout if *e.esource() == ErrorSource::Upstream => 504,
            _ => match e.esource() {
                ErrorSource::Upstream => 502,
                ErrorSource::Downstream => match e.etype() {
                    ErrorType::WriteError | ErrorType::ReadError | ErrorType::ConnectionClosed => 0,
                    _ => 400,
                },
                ErrorSource::Internal | ErrorSource::Unset => 502,
            },
        };
        if code > 0 && session.response_written().is_none() {
            let error = match code {
                504 => "upstream timed out",
                400 => "bad request",
                _ => "upstream unavailable",
            };
            let mut body = ErrorBody::new(error, &ctx.request_id);
            if let Some(route) = ctx.route() {
                body.route = Some(&route.name);
                body.upstream = Some(&route.pool.name);
            }
            let request_id = ctx.request_id.clone();
            if let Err(err) = respond::json(session, code, &body, &request_id).await {
                tracing::debug!(error = %err, "could not send the error response");
            }
        }
        FailToProxy {
            error_code: code,
            can_reuse_downstream: false,
        }
    }

    async fn logging(&self, session: &mut Session, e: Option<&Error>, ctx: &mut Ctx) {
        let status = session.response_written().map_or(0, |r| r.status.as_u16());
        let elapsed = ctx.started.elapsed();
        let endpoint = ctx.endpoint.take();
        let route = ctx.route();
        let route_metrics = route.map_or(self.state.metrics.no_route(), |r| &r.metrics);
        let method = &session.req_header().method;
        route_metrics.count(method, status);
        route_metrics.duration.observe(elapsed.as_secs_f64());
        if let (Some(ep), Some(t0)) = (&endpoint, ctx.upstream_started) {
            ep.endpoint()
                .metrics
                .duration
                .observe(t0.elapsed().as_secs_f64());
        }
        if tracing::enabled!(target: "access", tracing::Level::INFO) {
            let req = session.req_header();
            tracing::info!(
                target: "access",
                request_id = ctx.request_id.to_str().unwrap_or_default(),
                client_ip = %ctx.client,
                method = %req.method,
                path = req.uri.path(),
                route = route.map_or(crate::metrics::NO_ROUTE, |r| &*r.name),
                endpoint = endpoint.as_ref().map_or("", |g| &*g.endpoint().label),
                status,
                duration_ms = elapsed.as_secs_f64() * 1000.0,
                bytes = session.body_bytes_sent(),
                retries = ctx.retries,
                error = e.map(|e| e.etype().as_str()),
            );
        }
    }
}

/// Puts a `Location` that points at the upstream's root back under `prefix`:
/// `/x` → `/prefix/x`, and `http://HOST/x` → `http://HOST/prefix/x` when HOST is the request's host.
/// Locations already under the prefix, relative references and other hosts are left alone.
pub fn rewrite_location(loc: &str, prefix: &str, request_host: Option<&str>) -> Option<String> {
    let under = |p: &str| {
        p == prefix || p.starts_with(prefix) && p[prefix.len()..].starts_with(['/', '?', '#'])
    };
    if loc.starts_with('/') && !loc.starts_with("//") {
        return (!under(loc)).then(|| format!("{prefix}{loc}"));
    }
    let (scheme, rest) = loc.split_once("://")?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    if !request_host.is_some_and(|h| h.eq_ignore_ascii_case(authority)) || under(path) {
        return None;
    }
    Some(format!("{scheme}://{authority}{prefix}{path}"))
}

#[cfg(test)]
mod tests {
    use super::rewrite_location as r;

    #[test]
    fn location_rewrites() {
        assert_eq!(
            r("/login?next=/", "/minio-console", None).as_deref(),
            Some("/minio-console/login?next=/")
        );
        assert_eq!(
            r("/", "/minio-console", None).as_deref(),
            Some("/minio-console/")
        );
        assert_eq!(r("/minio-console/x", "/minio-console", None), None);
        assert_eq!(
            r("/minio-consoles", "/minio-console", None).as_deref(),
            Some("/minio-console/minio-consoles")
        );
        assert_eq!(r("//evil.example/x", "/p", None), None);
        assert_eq!(r("relative/x", "/p", None), None);
        assert_eq!(
            r("http://h.example:8080/x", "/p", Some("h.example:8080")).as_deref(),
            Some("http://h.example:8080/p/x")
        );
        assert_eq!(
            r("https://h.example", "/p", Some("h.example")).as_deref(),
            Some("https://h.example/p/")
        );
        assert_eq!(r("https://other.example/x", "/p", Some("h.example")), None);
    }
}
