//! The file format: serde structs that mirror the YAML exactly (`deny_unknown_fields`).
//!
//! Nothing here is validated beyond YAML types; `convert.rs` turns these into the internal
//! [`crate::config::Config`], which cannot hold an invalid state. The same structs generate the
//! file's JSON Schema (`schema.rs`; `trinity-proxy schema`): `#[schemars(with = …)]` names the
//! string shapes (durations, sizes, CIDRs, addresses; `shapes.rs`) the conversion accepts.

use super::shapes::{Cidr, Duration, KubernetesPort, LoadBalancing, Size, SocketAddr};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Config")]
pub struct FileConfig {
    /// Public listeners. Default: `["0.0.0.0:80", "0.0.0.0:8080"]`.
    #[schemars(with = "Option<Vec<SocketAddr>>")]
    pub listeners: Option<Vec<String>>,
    /// Worker threads serving the listeners. Default: the number of CPUs.
    pub threads: Option<usize>,
    /// Admin listener (metrics, health, status). Default: `0.0.0.0:9901`.
    #[schemars(with = "Option<SocketAddr>")]
    pub admin: Option<String>,
    #[serde(default)]
    pub client_ip: FileClientIp,
    pub routes: Vec<FileRoute>,
    pub upstreams: BTreeMap<String, FileUpstream>,
    /// DNS servers (`IP:PORT`) for `dns` discovery. Default: those of /etc/resolv.conf.
    #[schemars(with = "Option<Vec<SocketAddr>>")]
    pub resolvers: Option<Vec<String>>,
    #[serde(default)]
    pub shutdown: FileShutdown,
    #[serde(default)]
    pub limits: FileLimits,
    #[serde(default)]
    pub timeouts: FileClientTimeouts,
}

/// Edge limits on what one client may make the proxy hold.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Limits")]
pub struct FileLimits {
    /// Request line + header fields, in bytes (a size like `32KiB`). Default: `32KiB`.
    #[schemars(with = "Option<Size>")]
    pub max_header_bytes: Option<serde_yaml::Value>,
    /// Header fields per request. Default: 100.
    pub max_headers: Option<usize>,
    /// Open client connections per process. Default: 20000.
    pub max_connections: Option<usize>,
    /// Bytes all unfinished request heads together may hold (a size). Default: `64MiB`.
    #[schemars(with = "Option<Size>")]
    pub max_pending_header_bytes: Option<serde_yaml::Value>,
    /// Which peers may open HTTP/2 with prior knowledge (h2c, cloudflared's `http2Origin`):
    /// `trusted_proxies` (peers inside `client_ip.trusted_proxies`), `any` or `off`. Others are
    /// answered with an HTTP/2 GOAWAY (HTTP_1_1_REQUIRED). Default: `trusted_proxies`.
    pub h2c: Option<super::H2cPeers>,
}

/// Client-side (downstream) timeouts.
#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ClientTimeouts")]
pub struct FileClientTimeouts {
    /// From a request's first byte to the end of its header; not reset by reads. Default: `10s`.
    #[schemars(with = "Option<Duration>")]
    pub client_header: Option<String>,
    /// Longest a response write may wait for a client that does not read. Default: `60s`.
    #[schemars(with = "Option<Duration>")]
    pub client_write: Option<String>,
    /// Longest gap between two reads of a request body; past it the client is answered 408 (the
    /// upstream is not blamed). Default: `60s`.
    #[schemars(with = "Option<Duration>")]
    pub client_body: Option<String>,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Shutdown")]
pub struct FileShutdown {
    /// After SIGTERM, keep serving (with /readyz failing) this long. Default: `5s`.
    #[schemars(with = "Option<Duration>")]
    pub drain_delay: Option<String>,
    /// Then wait at most this long for in-flight requests. Default: `25s`.
    #[schemars(with = "Option<Duration>")]
    pub timeout: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Dns")]
pub struct FileDns {
    pub name: String,
    pub port: u16,
    /// Re-resolve period (never later than the record TTL). Default: `5s`.
    #[schemars(with = "Option<Duration>")]
    pub refresh: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Kubernetes")]
pub struct FileKubernetes {
    pub service: String,
    /// Default: the namespace of the proxy's service account (or of the kubeconfig context).
    pub namespace: Option<String>,
    /// Port number or port name of the Service's EndpointSlices.
    #[schemars(with = "KubernetesPort")]
    pub port: serde_yaml::Value,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "ClientIp")]
pub struct FileClientIp {
    /// CIDRs (or bare IPs) whose forwarding headers are believed. Default: none.
    #[serde(default)]
    #[schemars(with = "Vec<Cidr>")]
    pub trusted_proxies: Vec<String>,
    /// Header holding the client IP when the peer is trusted (e.g. `cf-connecting-ip`).
    /// Default: the right-most untrusted `X-Forwarded-For` hop.
    pub header: Option<String>,
    /// Keep a trusted peer's `X-Forwarded-Host` / `X-Forwarded-Prefix`. Default: false (both are
    /// set from the request's own Host and the route's prefix).
    #[serde(default)]
    pub trust_forwarded_host: bool,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Route")]
pub struct FileRoute {
    pub name: String,
    /// Segment-boundary prefix match.
    pub prefix: Option<String>,
    /// Exact path match.
    pub path: Option<String>,
    /// Host the route is limited to (case-insensitive, port ignored); `*.example.com` matches
    /// one label below `example.com` (`a.example.com`, not `example.com` or `a.b.example.com`).
    /// Default: any host.
    pub host: Option<String>,
    pub upstream: String,
    /// Send the path without the prefix upstream. Default: false.
    #[serde(default)]
    pub strip_prefix: bool,
    /// Answer `prefix` (without trailing slash) with 301 to `prefix/`. Default: false.
    #[serde(default)]
    pub redirect_trailing_slash: bool,
    #[serde(default)]
    pub timeouts: FileTimeouts,
    /// Client IPs (CIDRs or bare IPs) allowed on this route; others get 403. Default: everyone.
    #[schemars(with = "Option<Vec<Cidr>>")]
    pub allow: Option<Vec<String>>,
    /// Requests per client IP: `{ per_second, burst }`; past it 429. Default: none.
    pub rate_limit: Option<FileRateLimit>,
    /// Largest request body (a size like `10MiB`); past it 413. Default: no limit.
    #[schemars(with = "Option<Size>")]
    pub max_body_size: Option<serde_yaml::Value>,
    /// Read bodies of up to this size (with a Content-Length) completely before contacting the
    /// upstream, at most `64KiB`. Default: bodies stream.
    #[schemars(with = "Option<Size>")]
    pub buffer_request_body: Option<serde_yaml::Value>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "RateLimit")]
pub struct FileRateLimit {
    /// Sustained requests per second per client IP.
    pub per_second: f64,
    /// Requests a client may make at once above the sustained rate. Default: 0.
    #[serde(default)]
    pub burst: u32,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Timeouts")]
pub struct FileTimeouts {
    /// TCP connect timeout to one endpoint. Default: `2s`.
    #[schemars(with = "Option<Duration>")]
    pub connect: Option<String>,
    /// Longest idle gap while waiting for upstream bytes (not a total deadline). Default: `60s`.
    #[schemars(with = "Option<Duration>")]
    pub read: Option<String>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Upstream")]
pub struct FileUpstream {
    /// Static `IP:port` endpoints (or `dns` / `kubernetes` discovery).
    #[serde(default)]
    #[schemars(with = "Vec<SocketAddr>")]
    pub endpoints: Vec<String>,
    /// Every A/AAAA record of `name` is an endpoint on `port`.
    pub dns: Option<FileDns>,
    /// The ready endpoints of a Service, from its EndpointSlices.
    pub kubernetes: Option<FileKubernetes>,
    /// Attempts on other endpoints after a failure. Default: 2.
    pub retries: Option<usize>,
    /// `round_robin` (default), `least_request`, or `{ hash: { header: X } | { cookie: X } | client_ip }`.
    /// Kept as a YAML value: its shapes differ, and `upstream.rs` explains a wrong one precisely.
    #[schemars(with = "Option<LoadBalancing>")]
    pub load_balancing: Option<serde_yaml::Value>,
    /// Active probes; none when absent.
    pub health_check: Option<FileHealthCheck>,
    /// Passive ejection; on with the defaults when absent.
    pub outlier_detection: Option<FileOutlier>,
}

#[derive(Debug, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "HealthCheck")]
pub struct FileHealthCheck {
    /// HTTP probe path (give `path` or `tcp: true`).
    pub path: Option<String>,
    /// `Host` header of HTTP probes. Default: the endpoint address.
    pub host: Option<String>,
    /// TCP-connect probe instead of HTTP. Default: false.
    #[serde(default)]
    pub tcp: bool,
    /// Default: `2s` (each probe is jittered by up to ±10%).
    #[schemars(with = "Option<Duration>")]
    pub interval: Option<String>,
    /// Default: `1s`; at most `interval`.
    #[schemars(with = "Option<Duration>")]
    pub timeout: Option<String>,
    /// Consecutive successes that make an unhealthy endpoint healthy. Default: 2.
    pub healthy_threshold: Option<u32>,
    /// Consecutive failures that make a healthy endpoint unhealthy. Default: 3.
    pub unhealthy_threshold: Option<u32>,
    /// Status ranges counted as healthy, e.g. `"200-399"` or `"200,204,300-302"`. Default: `"200-399"`.
    pub expected_status: Option<String>,
    /// New endpoints take no traffic until their first probe passes. Default: false.
    #[serde(default)]
    pub require_first_check: bool,
    /// Skip the probe of an endpoint that answered a request successfully within the last interval. Default: false.
    #[serde(default)]
    pub skip_when_traffic_healthy: bool,
}

#[derive(Debug, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "Outlier")]
pub struct FileOutlier {
    /// Consecutive failures (connect errors, resets, timeouts, 502/503/504) that eject. 0 turns ejection off. Default: 5.
    pub consecutive_failures: Option<u32>,
    /// Ejection time × times ejected (capped at 10×). Default: `10s`.
    #[schemars(with = "Option<Duration>")]
    pub base_ejection_time: Option<String>,
    /// Most of the pool that may be ejected at once, in percent. Default: 50.
    pub max_ejection_percent: Option<u8>,
}
