//! The trinity-proxy config file the proxy ConfigMap carries, following the proxy config contract
//! (shared ARCHITECTURE.md): routes for every public path and `kubernetes` discovery for every upstream.

use crate::values::Values;
use serde::Serialize;
use std::collections::BTreeMap;

/// Port of the proxy's admin listener (`/metrics`, `/healthz`, `/readyz`, `/status`).
pub const ADMIN_PORT: i32 = 9901;
/// The proxy's public listener ports.
pub const LISTEN_PORTS: [i32; 2] = [80, 8080];
/// Key of the config file in the ConfigMap, and its file name in the pod.
pub const CONFIG_KEY: &str = "trinity.yaml";

#[derive(Debug, Serialize)]
pub struct ProxyConfig {
    pub listeners: Vec<String>,
    pub threads: u32,
    pub admin: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub client_ip: Option<ClientIp>,
    pub routes: Vec<Route>,
    pub upstreams: BTreeMap<String, Upstream>,
    pub shutdown: Shutdown,
}

#[derive(Debug, Serialize)]
pub struct ClientIp {
    pub trusted_proxies: Vec<String>,
    /// `cf-connecting-ip` behind cloudflared: Cloudflare's record of the visitor's address.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub header: Option<String>,
}

/// The header Cloudflare sets to the visitor's address.
pub const CLOUDFLARE_CLIENT_IP: &str = "cf-connecting-ip";

#[derive(Debug, Serialize)]
pub struct Route {
    pub name: String,
    pub prefix: String,
    pub upstream: String,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub redirect_trailing_slash: bool,
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub strip_prefix: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeouts: Option<Timeouts>,
}

#[derive(Debug, Serialize)]
pub struct Timeouts {
    pub read: String,
}

#[derive(Debug, Serialize)]
pub struct Upstream {
    pub kubernetes: Kubernetes,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub health_check: Option<HealthCheck>,
}

#[derive(Debug, Serialize)]
pub struct Kubernetes {
    pub service: String,
    pub namespace: String,
    /// The Service port's *name*: the proxy takes the matching port of each EndpointSlice (the
    /// container's), so a Service port that differs from its target port still works.
    pub port: String,
}

#[derive(Debug, Serialize)]
pub struct HealthCheck {
    pub path: String,
    pub host: String,
}

#[derive(Debug, Serialize)]
pub struct Shutdown {
    pub drain_delay: String,
    pub timeout: String,
}

/// Prefix of the MinIO console's route (stripped before the upstream).
pub const MINIO_CONSOLE_PREFIX: &str = "/minio-console";

/// One route and its upstream: (route name, prefix, upstream, upstream Service, Service port name).
struct Entry<'a>(
    &'static str,
    &'a str,
    &'static str,
    &'static str,
    &'static str,
);

/// The routes in config order, the frontend's catch-all last.
fn entries(v: &Values) -> [Entry<'_>; 6] {
    [
        Entry("admin", "/admin", "web", "web", "http"),
        // Django admin's CSS and JS: longer than the frontend's `/`, so it wins for this prefix.
        Entry(
            "django-static",
            &v.apps.django_static_prefix.0,
            "web",
            "web",
            "http",
        ),
        Entry("api", "/api", "fastapi", "fastapi", "http"),
        Entry(
            "trinityai",
            "/trinityai",
            "trinity-ai",
            "trinity-ai",
            "http",
        ),
        Entry(
            "minio-console",
            MINIO_CONSOLE_PREFIX,
            "minio-console",
            "minio",
            "console",
        ),
        Entry("frontend", "/", "frontend", "frontend", "http"),
    ]
}

/// The proxy config for these values.
pub fn build(v: &Values) -> ProxyConfig {
    let entries = entries(v);
    let routes = entries
        .iter()
        .map(|Entry(name, prefix, upstream, _, _)| Route {
            name: (*name).to_owned(),
            prefix: (*prefix).to_owned(),
            upstream: (*upstream).to_owned(),
            redirect_trailing_slash: *name == "admin",
            strip_prefix: *name == "minio-console",
            timeouts: (*name == "trinityai").then(|| Timeouts {
                read: v.proxy.trinity_ai_read_timeout.to_string(),
            }),
        })
        .collect();
    let upstreams = entries
        .iter()
        .map(|Entry(_, _, upstream, service, port)| {
            let up = Upstream {
                kubernetes: Kubernetes {
                    service: (*service).to_owned(),
                    namespace: v.namespace.clone(),
                    port: (*port).to_owned(),
                },
                health_check: (*upstream == "web").then(|| HealthCheck {
                    path: "/admin/".to_owned(),
                    host: v.apps.probe_host.clone(),
                }),
            };
            ((*upstream).to_owned(), up)
        })
        .collect();
    ProxyConfig {
        listeners: LISTEN_PORTS
            .iter()
            .map(|p| format!("0.0.0.0:{p}"))
            .collect(),
        threads: v.proxy.threads,
        admin: format!("0.0.0.0:{ADMIN_PORT}"),
        client_ip: (!v.proxy.trusted_proxies.is_empty()).then(|| ClientIp {
            trusted_proxies: v
                .proxy
                .trusted_proxies
                .iter()
                .map(|c| c.0.clone())
                .collect(),
            header: v
                .cloudflared
                .enabled
                .then(|| CLOUDFLARE_CLIENT_IP.to_owned()),
        }),
        routes,
        upstreams,
        shutdown: Shutdown {
            drain_delay: v.proxy.drain_delay.to_string(),
            timeout: v.proxy.shutdown_timeout.to_string(),
        },
    }
}

/// The config as YAML text, headed by a note saying where it comes from.
pub fn to_yaml(v: &Values) -> Result<String, serde_yaml::Error> {
    let body = serde_yaml::to_string(&build(v))?;
    Ok(format!(
        "# Generated by trinity-deploy from the stack values; edit config/stack.yaml instead.\n{body}"
    ))
}
