//! File format → validated [`Config`]. Every problem is collected with its field path, then
//! located in the text, so `--check` reports all of them at once.

use super::file::{FileConfig, FileRoute};
use super::locate::Locations;
use super::{
    ClientIpConfig, Config, ConfigError, ConfigErrors, DEFAULT_ADMIN, DEFAULT_LISTENERS, PathMatch,
    RouteConfig, ShutdownConfig, Timeouts, UpstreamConfig,
};
use crate::path::{NormalizeError, normalize};
use ipnet::IpNet;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

pub fn parse(text: &str, origin: &str) -> Result<Config, ConfigErrors> {
    let file: FileConfig =
        match serde_path_to_error::deserialize(serde_yaml::Deserializer::from_str(text)) {
            Ok(f) => f,
            Err(e) => return Err(ConfigErrors::single(serde_error(origin, text, e))),
        };
    let mut cx = Checker::default();
    let config = cx.config(file);
    if cx.problems.is_empty() {
        return Ok(config);
    }
    let locations = Locations::index(text);
    Err(ConfigErrors(
        cx.problems
            .into_iter()
            .map(|(path, problem)| ConfigError {
                origin: origin.to_owned(),
                // A problem with nothing closer in the file (a missing section) is the document's.
                position: Some(locations.find(&path).map_or((1, 1), |p| (p.line, p.col))),
                path,
                problem,
            })
            .collect(),
    ))
}

fn serde_error(
    origin: &str,
    text: &str,
    e: serde_path_to_error::Error<serde_yaml::Error>,
) -> ConfigError {
    let path = match e.path().to_string() {
        p if p == "." => String::new(),
        p => p,
    };
    let inner = e.inner();
    let position = inner
        .location()
        .map(|l| (l.line(), l.column()))
        .or_else(|| Locations::index(text).find(&path).map(|p| (p.line, p.col)));
    let mut problem = inner.to_string();
    // serde_yaml appends " at line L column C" (and may prefix the path): we print both ourselves.
    if let Some(cut) = problem.find(" at line ") {
        problem.truncate(cut);
    }
    // serde_yaml may prefix its own (parent) path: drop it, ours is printed before the problem.
    if let Some((head, rest)) = problem.split_once(": ")
        && !head.contains(char::is_whitespace)
        && path.starts_with(head)
    {
        problem = rest.to_owned();
    }
    if problem.is_empty() || text.trim().is_empty() {
        problem = "the file is empty: expected `routes` and `upstreams`".to_owned();
    }
    // Never past the end of the file (serde_yaml may point after a last line without a newline).
    let lines = text.split('\n').count();
    let position = match position {
        Some((line, _)) if line > lines => Some((lines, 1)),
        None => Some((1, 1)),
        p => p,
    };
    ConfigError {
        origin: origin.to_owned(),
        position,
        path,
        problem,
    }
}

#[derive(Default)]
pub(super) struct Checker {
    problems: Vec<(String, String)>,
}

impl Checker {
    pub(super) fn problem(&mut self, path: impl Into<String>, problem: impl Into<String>) {
        self.problems.push((path.into(), problem.into()));
    }

    fn config(&mut self, f: FileConfig) -> Config {
        let listeners = self.listeners(f.listeners);
        let admin = self
            .socket_addr("admin", f.admin.as_deref().unwrap_or(DEFAULT_ADMIN))
            .unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)));
        for (i, l) in listeners.iter().enumerate() {
            if l.port() != 0 && l.port() == admin.port() && overlaps(l.ip(), admin.ip()) {
                self.problem(
                    "admin",
                    format!("{admin} collides with listeners[{i}] ({l}): the admin port must never be reachable through a public listener"),
                );
            }
        }
        let threads = match f.threads {
            Some(0) => {
                self.problem("threads", "must be at least 1");
                1
            }
            Some(n) if n > 1024 => {
                self.problem("threads", "must be at most 1024");
                1024
            }
            Some(n) => n,
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        let client_ip = self.client_ip(f.client_ip);
        let upstreams: Vec<UpstreamConfig> = f
            .upstreams
            .into_iter()
            .map(|(name, u)| self.upstream(name, u))
            .collect();
        let routes = self.routes(f.routes, &upstreams);
        let resolvers = f
            .resolvers
            .unwrap_or_default()
            .iter()
            .enumerate()
            .filter_map(|(i, r)| self.socket_addr(&format!("resolvers[{i}]"), r))
            .collect();
        let d = ShutdownConfig::default();
        let shutdown = ShutdownConfig {
            drain_delay: match f.shutdown.drain_delay.as_deref() {
                Some("0s" | "0") => Duration::ZERO,
                other => self
                    .duration("shutdown.drain_delay", other)
                    .unwrap_or(d.drain_delay),
            },
            timeout: self
                .duration("shutdown.timeout", f.shutdown.timeout.as_deref())
                .unwrap_or(d.timeout),
        };
        let limits = self.limits(f.limits);
        let timeouts = self.client_timeouts(f.timeouts);
        Config {
            listeners,
            threads,
            admin,
            client_ip,
            routes,
            upstreams,
            resolvers,
            shutdown,
            limits,
            timeouts,
        }
    }

    fn listeners(&mut self, raw: Option<Vec<String>>) -> Vec<SocketAddr> {
        let raw =
            raw.unwrap_or_else(|| DEFAULT_LISTENERS.iter().map(|s| (*s).to_owned()).collect());
        if raw.is_empty() {
            self.problem("listeners", "needs at least one address");
        }
        let mut out: Vec<SocketAddr> = Vec::new();
        for (i, s) in raw.iter().enumerate() {
            let path = format!("listeners[{i}]");
            if let Some(a) = self.socket_addr(&path, s) {
                if a.port() != 0 && out.contains(&a) {
                    self.problem(path, format!("{a} is listed twice"));
                }
                out.push(a);
            }
        }
        out
    }

    pub(super) fn socket_addr(&mut self, path: &str, s: &str) -> Option<SocketAddr> {
        match s.parse::<SocketAddr>() {
            Ok(a) => Some(a),
            Err(_) => {
                self.problem(
                    path,
                    format!("expected IP:PORT like \"10.1.0.5:8000\" or \"[::1]:80\", got {s:?}"),
                );
                None
            }
        }
    }

    fn client_ip(&mut self, f: super::file::FileClientIp) -> ClientIpConfig {
        let mut trusted = Vec::new();
        for (i, s) in f.trusted_proxies.iter().enumerate() {
            match parse_cidr(s) {
                Some(net) => trusted.push(net),
                None => self.problem(
                    format!("client_ip.trusted_proxies[{i}]"),
                    format!("expected a CIDR like \"10.0.0.0/8\" or an IP address, got {s:?}"),
                ),
            }
        }
        let header =
            f.header.and_then(
                |h| match http::HeaderName::from_bytes(h.trim().as_bytes()) {
                    Ok(name) => Some(name),
                    Err(_) => {
                        self.problem(
                            "client_ip.header",
                            format!("{h:?} is not a valid header name"),
                        );
                        None
                    }
                },
            );
        ClientIpConfig {
            trusted_proxies: trusted,
            header,
            trust_forwarded_host: f.trust_forwarded_host,
        }
    }

    fn routes(&mut self, raw: Vec<FileRoute>, upstreams: &[UpstreamConfig]) -> Vec<RouteConfig> {
        if raw.is_empty() {
            self.problem("routes", "needs at least one route");
        }
        let mut names: HashMap<String, usize> = HashMap::new();
        let mut matches: HashMap<(Option<String>, PathMatch), usize> = HashMap::new();
        let mut out = Vec::with_capacity(raw.len());
        for (i, r) in raw.into_iter().enumerate() {
            let base = format!("routes[{i}]");
            if !valid_name(&r.name) {
                self.problem(
                    format!("{base}.name"),
                    "names use letters, digits, '-', '_' and '.' only",
                );
            } else if let Some(first) = names.insert(r.name.clone(), i) {
                self.problem(
                    format!("{base}.name"),
                    format!(
                        "duplicate route name {:?} (first used by routes[{first}])",
                        r.name
                    ),
                );
            }
            let Some(route) = self.route(&base, r, upstreams) else {
                continue;
            };
            let key = (route.host.clone(), route.matcher.clone());
            if let Some(first) = matches.insert(key, i) {
                let field = match route.matcher {
                    PathMatch::Exact(_) => "path",
                    PathMatch::Prefix(_) => "prefix",
                };
                self.problem(
                    format!("{base}.{field}"),
                    format!(
                        "routes[{first}] already matches {} {:?}{}",
                        field,
                        route.matcher.as_str(),
                        route
                            .host
                            .as_deref()
                            .map(|h| format!(" on host {h}"))
                            .unwrap_or_default()
                    ),
                );
            }
            out.push(route);
        }
        out
    }

    fn route(
        &mut self,
        base: &str,
        r: FileRoute,
        upstreams: &[UpstreamConfig],
    ) -> Option<RouteConfig> {
        let matcher = self.route_matcher(base, r.prefix, r.path)?;
        let host = r.host.and_then(|h| self.host(&format!("{base}.host"), &h));
        let upstream = upstreams.iter().position(|u| u.name == r.upstream);
        if upstream.is_none() {
            let known: Vec<&str> = upstreams.iter().map(|u| u.name.as_str()).collect();
            self.problem(
                format!("{base}.upstream"),
                format!(
                    "no upstream named {:?} (defined: {})",
                    r.upstream,
                    known.join(", ")
                ),
            );
        }
        let is_root_prefix = matcher == PathMatch::Prefix("/".to_owned());
        if r.strip_prefix && (is_root_prefix || matches!(matcher, PathMatch::Exact(_))) {
            self.problem(
                format!("{base}.strip_prefix"),
                "needs a `prefix` other than /",
            );
        }
        if r.redirect_trailing_slash && (is_root_prefix || matches!(matcher, PathMatch::Exact(_))) {
            self.problem(
                format!("{base}.redirect_trailing_slash"),
                "needs a `prefix` other than /",
            );
        }
        let timeouts = Timeouts {
            connect: self
                .duration(
                    &format!("{base}.timeouts.connect"),
                    r.timeouts.connect.as_deref(),
                )
                .unwrap_or(super::DEFAULT_CONNECT_TIMEOUT),
            read: self
                .duration(&format!("{base}.timeouts.read"), r.timeouts.read.as_deref())
                .unwrap_or(super::DEFAULT_READ_TIMEOUT),
        };
        let policy = self.route_policy(
            base,
            r.allow,
            r.rate_limit,
            r.max_body_size,
            r.buffer_request_body,
        );
        Some(RouteConfig {
            policy,
            name: r.name,
            host,
            matcher,
            upstream: upstream?,
            strip_prefix: r.strip_prefix,
            redirect_trailing_slash: r.redirect_trailing_slash,
            timeouts,
        })
    }

    /// A route's `prefix` or `path` (exactly one of them).
    fn route_matcher(
        &mut self,
        base: &str,
        prefix: Option<String>,
        path: Option<String>,
    ) -> Option<PathMatch> {
        match (prefix, path) {
            (Some(_), Some(_)) => {
                self.problem(
                    format!("{base}.path"),
                    "give either `prefix` or `path`, not both",
                );
                None
            }
            (None, None) => {
                self.problem(
                    base,
                    "needs `prefix` (segment match) or `path` (exact match)",
                );
                None
            }
            (Some(p), None) => self
                .route_path(&format!("{base}.prefix"), p, true)
                .map(PathMatch::Prefix),
            (None, Some(p)) => self
                .route_path(&format!("{base}.path"), p, false)
                .map(PathMatch::Exact),
        }
    }

    fn route_path(&mut self, path: &str, p: String, is_prefix: bool) -> Option<String> {
        if !p.starts_with('/') {
            self.problem(path, format!("must start with '/', got {p:?}"));
            return None;
        }
        if p.contains(['?', '#']) {
            self.problem(path, "must not contain a query or fragment");
            return None;
        }
        match normalize(&p) {
            Ok(n) if n == p => {}
            Ok(n) => {
                self.problem(path, format!("write it normalised: {n:?}"));
                return None;
            }
            Err(e) => {
                let why = match e {
                    NormalizeError::EscapesRoot => "climbs above the root",
                    NormalizeError::EncodedSeparator => "contains an encoded '/' or '\\'",
                    NormalizeError::Backslash => "contains '\\'",
                    NormalizeError::BadEncoding => "contains a malformed %-escape",
                    NormalizeError::NotOriginForm => "must start with '/'",
                };
                self.problem(path, why);
                return None;
            }
        }
        if is_prefix && p.len() > 1 && p.ends_with('/') {
            let trimmed = p.trim_end_matches('/');
            self.problem(
                path,
                format!("write the prefix without trailing '/': {trimmed:?} matches {trimmed} and {trimmed}/..."),
            );
            return None;
        }
        Some(p)
    }

    /// A lower-case host name, or a wildcard `*.` + host name ([`route_host`]).
    fn host(&mut self, path: &str, h: &str) -> Option<String> {
        route_host(h).map_err(|why| self.problem(path, why)).ok()
    }

    pub(super) fn duration(&mut self, path: &str, raw: Option<&str>) -> Option<Duration> {
        let raw = raw?;
        match super::parse_duration(raw) {
            Some(d) if d.is_zero() => {
                self.problem(path, "must be greater than zero");
                None
            }
            Some(d) => Some(d),
            None => {
                self.problem(
                    path,
                    format!("expected a duration like \"500ms\", \"2s\" or \"5m\", got {raw:?}"),
                );
                None
            }
        }
    }
}

/// A route's host as the config file and Kubernetes objects give it: a host name, or a wildcard
/// `*.` + host name (Ingress / Gateway API: the `*` stands for exactly one DNS label); in lower
/// case without a trailing dot, or why not.
pub(crate) fn route_host(h: &str) -> Result<String, String> {
    let lower = h.trim().trim_end_matches('.').to_ascii_lowercase();
    let wildcard = lower.strip_prefix("*.");
    let name = wildcard.unwrap_or(&lower);
    if name.contains('*') {
        return Err(format!(
            "a wildcard must be the whole first label, like \"*.example.com\", got {h:?}"
        ));
    }
    if !valid_host_name(name) {
        let like = if wildcard.is_some() {
            "\"*.example.com\""
        } else {
            "\"example.com\""
        };
        return Err(format!(
            "expected a host name like {like} (no port, no scheme), got {h:?}"
        ));
    }
    Ok(lower)
}

fn valid_host_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

pub(super) fn valid_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 128
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

pub(crate) fn parse_cidr(s: &str) -> Option<IpNet> {
    let s = s.trim();
    s.parse::<IpNet>()
        .ok()
        .or_else(|| s.parse::<IpAddr>().ok().map(IpNet::from))
}

/// Two bind addresses conflict when equal or when either is the unspecified address.
fn overlaps(a: IpAddr, b: IpAddr) -> bool {
    a == b || a.is_unspecified() || b.is_unspecified()
}
