//! The file format: serde structs that mirror the YAML exactly (`deny_unknown_fields`).
//!
//! Nothing here is validated beyond YAML types; `convert.rs` turns these into the internal
//! [`crate::config::Config`], which cannot hold an invalid state.

use serde::Deserialize;
use std::collections::BTreeMap;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    /// Public listeners. Default: `["0.0.0.0:80", "0.0.0.0:8080"]`.
    pub listeners: Option<Vec<String>>,
    /// Worker threads serving the listeners. Default: the number of CPUs.
    pub threads: Option<usize>,
    /// Admin listener (metrics, health, status). Default: `0.0.0.0:9901`.
    pub admin: Option<String>,
    #[serde(default)]
    pub client_ip: FileClientIp,
    pub routes: Vec<FileRoute>,
    pub upstreams: BTreeMap<String, FileUpstream>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileClientIp {
    /// CIDRs (or bare IPs) whose forwarding headers are believed. Default: none.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// Header holding the client IP when the peer is trusted (e.g. `cf-connecting-ip`).
    /// Default: the right-most untrusted `X-Forwarded-For` hop.
    pub header: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileRoute {
    pub name: String,
    /// Segment-boundary prefix match.
    pub prefix: Option<String>,
    /// Exact path match.
    pub path: Option<String>,
    /// Host the route is limited to (case-insensitive, port ignored). Default: any host.
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
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileTimeouts {
    /// TCP connect timeout to one endpoint. Default: `2s`.
    pub connect: Option<String>,
    /// Longest idle gap while waiting for upstream bytes (not a total deadline). Default: `60s`.
    pub read: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileUpstream {
    /// Static `IP:port` endpoints.
    #[serde(default)]
    pub endpoints: Vec<String>,
    /// Attempts on other endpoints after a failure. Default: 2.
    pub retries: Option<usize>,
}
