//! Configuration: the YAML file format (`file`), its validation into internal types (`convert`),
//! errors that point at `FILE:LINE:COL` and the field path (`error`, `locate`), the units of its
//! values (`units`) and its JSON Schema (`schema`, with the value shapes of `shapes`).
//!
//! The internal types below cannot hold invalid states: addresses are parsed, CIDRs are parsed,
//! durations are [`Duration`]s and routes refer to upstreams by index.

mod convert;
mod edge;
mod error;
mod file;
mod locate;
mod policy;
pub mod schema;
mod shapes;
mod units;
mod upstream;

pub(crate) use convert::{parse_cidr, route_host};
pub use error::{ConfigError, ConfigErrors};
pub(crate) use policy::{check_buffered, check_rate};
pub use units::{parse_duration, parse_size};

use ipnet::IpNet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

/// Default public listeners.
pub const DEFAULT_LISTENERS: [&str; 2] = ["0.0.0.0:80", "0.0.0.0:8080"];
/// Default admin listener.
pub const DEFAULT_ADMIN: &str = "0.0.0.0:9901";
/// Default connect timeout per attempt.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
/// Default longest idle gap while reading from an upstream.
pub const DEFAULT_READ_TIMEOUT: Duration = Duration::from_secs(60);
/// Default retries on another endpoint after a connect failure.
pub const DEFAULT_RETRIES: usize = 2;
/// Upper bound for `retries`.
pub const MAX_RETRIES: usize = 10;

/// A validated proxy configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub listeners: Vec<SocketAddr>,
    pub threads: usize,
    pub admin: SocketAddr,
    pub client_ip: ClientIpConfig,
    pub routes: Vec<RouteConfig>,
    pub upstreams: Vec<UpstreamConfig>,
    /// DNS servers for `dns` discovery; empty: the system's (/etc/resolv.conf).
    pub resolvers: Vec<SocketAddr>,
    pub shutdown: ShutdownConfig,
    pub limits: Limits,
    pub timeouts: ClientTimeouts,
}

/// What one client may make the proxy hold (`limits:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Request line + header fields, bytes; past it: 431 at once. Default 32 KiB.
    pub max_header_bytes: usize,
    /// Header fields per request; past it: 431 at once. Default 100.
    pub max_headers: usize,
    /// Open client connections per process; past it new ones are closed at once. Default 20,000.
    pub max_connections: usize,
    /// Bytes all unfinished request heads together may hold; past it: 503. Default 64 MiB.
    pub max_pending_header_bytes: usize,
    /// Which peers may open HTTP/2 with prior knowledge (h2c). Default: trusted proxies only.
    pub h2c: H2cPeers,
}

/// Who may speak h2c (`limits.h2c`). Browsers never do; cloudflared's `http2Origin` does. One h2c
/// connection carries up to 100 concurrent requests, each holding an upstream connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "snake_case")]
#[schemars(rename = "H2c")]
pub enum H2cPeers {
    /// Only peers inside `client_ip.trusted_proxies` (none when that list is empty).
    #[default]
    TrustedProxies,
    /// Any peer.
    Any,
    /// Nobody: the listeners speak HTTP/1.1 only.
    Off,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            max_connections: 20_000,
            max_pending_header_bytes: 64 << 20,
            h2c: H2cPeers::TrustedProxies,
        }
    }
}

/// Client-side timeouts (`timeouts:`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClientTimeouts {
    /// From a request's first byte to the end of its header, not reset by reads: 408. Default 10 s.
    pub client_header: Duration,
    /// Longest one response write waits for a client that does not read. Default 60 s.
    pub client_write: Duration,
    /// Longest gap between two reads of a request body: 408. Default 60 s (nginx's
    /// `client_body_timeout`).
    pub client_body: Duration,
}

impl Default for ClientTimeouts {
    fn default() -> Self {
        Self {
            client_header: Duration::from_secs(10),
            client_write: Duration::from_secs(60),
            client_body: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShutdownConfig {
    pub drain_delay: Duration,
    pub timeout: Duration,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        Self {
            drain_delay: Duration::from_secs(5),
            timeout: Duration::from_secs(25),
        }
    }
}

/// Where an upstream's endpoints come from.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Discovery {
    /// `endpoints` as written.
    #[default]
    Static,
    Dns(DnsDiscovery),
    Kubernetes(KubernetesDiscovery),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsDiscovery {
    pub name: String,
    pub port: u16,
    pub refresh: Duration,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KubernetesDiscovery {
    pub service: String,
    pub namespace: Option<String>,
    pub port: PortRef,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    Number(u16),
    Name(String),
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ClientIpConfig {
    pub trusted_proxies: Vec<IpNet>,
    /// Lower-case header name holding the client IP when the peer is trusted.
    pub header: Option<http::HeaderName>,
    /// A trusted peer's `X-Forwarded-Host` / `X-Forwarded-Prefix` are kept.
    pub trust_forwarded_host: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum PathMatch {
    /// The normalised path equals this.
    Exact(String),
    /// The normalised path is this or continues with `/` after it (segment boundary).
    Prefix(String),
}

impl PathMatch {
    pub fn as_str(&self) -> &str {
        match self {
            Self::Exact(p) | Self::Prefix(p) => p,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct RouteConfig {
    pub name: String,
    /// Lower-case host without port, or a wildcard `*.example.com` (one label below
    /// `example.com`); `None` matches any host.
    pub host: Option<String>,
    pub matcher: PathMatch,
    /// Index into [`Config::upstreams`].
    pub upstream: usize,
    pub strip_prefix: bool,
    pub redirect_trailing_slash: bool,
    pub timeouts: Timeouts,
    pub policy: RoutePolicy,
}

/// Who may use a route and how much (`allow`, `rate_limit`, `max_body_size`).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RoutePolicy {
    /// Allowed client IPs; empty: everyone.
    pub allow: Vec<IpNet>,
    pub rate_limit: Option<RateLimit>,
    /// Largest request body in bytes.
    pub max_body_size: Option<u64>,
    /// Bodies with a Content-Length up to this are read whole before the upstream is contacted.
    pub buffer_request_body: Option<u64>,
}

/// A token bucket per client IP: `per_second` sustained, `burst` more at once.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RateLimit {
    pub per_second: f64,
    pub burst: u32,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    pub connect: Duration,
    pub read: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Self {
            connect: DEFAULT_CONNECT_TIMEOUT,
            read: DEFAULT_READ_TIMEOUT,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpstreamConfig {
    pub name: String,
    /// Static endpoints; empty with `dns` or `kubernetes` discovery.
    pub endpoints: Vec<SocketAddr>,
    pub discovery: Discovery,
    pub retries: usize,
    pub load_balancing: LoadBalancing,
    pub health_check: Option<HealthCheckConfig>,
    pub outlier: OutlierConfig,
}

impl UpstreamConfig {
    /// An upstream with defaults for everything but its endpoints.
    pub fn with_endpoints(name: &str, endpoints: Vec<SocketAddr>) -> Self {
        Self {
            name: name.to_owned(),
            endpoints,
            discovery: Discovery::Static,
            retries: DEFAULT_RETRIES,
            load_balancing: LoadBalancing::RoundRobin,
            health_check: None,
            outlier: OutlierConfig::default(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum LoadBalancing {
    #[default]
    RoundRobin,
    /// Power of two random choices on in-flight requests.
    LeastRequest,
    /// Consistent hashing: the same key keeps its endpoint; adding one of n endpoints moves ~1/n of keys.
    Hash(HashKey),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HashKey {
    Header(http::HeaderName),
    Cookie(String),
    ClientIp,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HealthCheckConfig {
    pub probe: Probe,
    pub interval: Duration,
    pub timeout: Duration,
    pub healthy_threshold: u32,
    pub unhealthy_threshold: u32,
    pub require_first_check: bool,
    pub skip_when_traffic_healthy: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Probe {
    Http {
        path: String,
        /// `Host` header; `None` sends the endpoint address.
        host: Option<String>,
        expected_status: StatusRanges,
    },
    Tcp,
}

/// Inclusive status ranges, e.g. 200-399.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusRanges(pub Vec<(u16, u16)>);

impl StatusRanges {
    pub fn contains(&self, status: u16) -> bool {
        self.0.iter().any(|(lo, hi)| (*lo..=*hi).contains(&status))
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OutlierConfig {
    /// 0: passive ejection is off.
    pub consecutive_failures: u32,
    pub base_ejection_time: Duration,
    pub max_ejection_percent: u8,
}

impl Default for OutlierConfig {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            base_ejection_time: Duration::from_secs(10),
            max_ejection_percent: 50,
        }
    }
}

impl Config {
    /// Reads and validates a config file; also returns the text it was parsed from (reloads
    /// compare against it).
    pub fn load(path: &Path) -> Result<(Self, String), ConfigErrors> {
        let origin = path.display().to_string();
        let text = std::fs::read_to_string(path).map_err(|e| {
            ConfigErrors::single(ConfigError {
                origin: origin.clone(),
                position: None,
                path: String::new(),
                problem: format!("cannot read file: {e}"),
            })
        })?;
        Ok((Self::parse(&text, &origin)?, text))
    }

    /// Validates config text; `origin` names it in errors (usually the file path).
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigErrors> {
        convert::parse(text, origin)
    }

    pub fn upstream(&self, name: &str) -> Option<&UpstreamConfig> {
        self.upstreams.iter().find(|u| u.name == name)
    }
}
