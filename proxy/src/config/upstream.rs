//! Validation of `upstreams.NAME`: endpoints, retries, balancing, health checks, outlier detection.

use super::convert::{Checker, valid_name};
use super::file::{FileDns, FileHealthCheck, FileKubernetes, FileOutlier, FileUpstream};
use super::{
    DEFAULT_RETRIES, Discovery, DnsDiscovery, HashKey, HealthCheckConfig, KubernetesDiscovery,
    LoadBalancing, MAX_RETRIES, OutlierConfig, PortRef, Probe, StatusRanges, UpstreamConfig,
};
use crate::path::normalize;
use std::net::SocketAddr;
use std::time::Duration;

const DEFAULT_INTERVAL: Duration = Duration::from_secs(2);
const DEFAULT_DNS_REFRESH: Duration = Duration::from_secs(5);
const DEFAULT_PROBE_TIMEOUT: Duration = Duration::from_secs(1);

impl Checker {
    pub(super) fn upstream(&mut self, name: String, u: FileUpstream) -> UpstreamConfig {
        let base = format!("upstreams.{name}");
        if !valid_name(&name) {
            self.problem(&base, "names use letters, digits, '-', '_' and '.' only");
        }
        let mut endpoints: Vec<SocketAddr> = Vec::new();
        for (i, e) in u.endpoints.iter().enumerate() {
            let path = format!("{base}.endpoints[{i}]");
            if let Some(a) = self.socket_addr(&path, e) {
                if endpoints.contains(&a) {
                    self.problem(path, format!("{a} is listed twice"));
                } else {
                    endpoints.push(a);
                }
            }
        }
        let discovery = self.discovery(&base, &u);
        let retries = u.retries.unwrap_or(DEFAULT_RETRIES);
        if retries > MAX_RETRIES {
            self.problem(
                format!("{base}.retries"),
                format!("must be at most {MAX_RETRIES}"),
            );
        }
        let load_balancing = match &u.load_balancing {
            None => LoadBalancing::RoundRobin,
            Some(v) => self.load_balancing(&format!("{base}.load_balancing"), v),
        };
        let health_check = u
            .health_check
            .map(|h| self.health_check(&format!("{base}.health_check"), h));
        let outlier = self.outlier(
            &format!("{base}.outlier_detection"),
            u.outlier_detection.unwrap_or_default(),
        );
        UpstreamConfig {
            name,
            endpoints,
            discovery,
            retries: retries.min(MAX_RETRIES),
            load_balancing,
            health_check,
            outlier,
        }
    }

    fn discovery(&mut self, base: &str, u: &FileUpstream) -> Discovery {
        let sources = usize::from(!u.endpoints.is_empty())
            + usize::from(u.dns.is_some())
            + usize::from(u.kubernetes.is_some());
        if sources > 1 {
            self.problem(base, "give one of `endpoints`, `dns` or `kubernetes`");
        }
        if let Some(d) = &u.dns {
            return Discovery::Dns(self.dns(&format!("{base}.dns"), d));
        }
        if let Some(k) = &u.kubernetes {
            return Discovery::Kubernetes(self.kubernetes(&format!("{base}.kubernetes"), k));
        }
        Discovery::Static
    }

    /// `upstreams.NAME.dns` (at `path`).
    fn dns(&mut self, path: &str, d: &FileDns) -> DnsDiscovery {
        let name = d.name.trim_end_matches('.');
        let valid = !name.is_empty()
            && name.split('.').all(|l| {
                !l.is_empty()
                    && l.len() <= 63
                    && l.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
            });
        if !valid {
            self.problem(
                format!("{path}.name"),
                format!("{:?} is not a DNS name", d.name),
            );
        }
        if d.port == 0 {
            self.problem(format!("{path}.port"), "must be 1-65535");
        }
        let refresh = self
            .duration(&format!("{path}.refresh"), d.refresh.as_deref())
            .unwrap_or(DEFAULT_DNS_REFRESH);
        DnsDiscovery {
            name: d.name.clone(),
            port: d.port,
            refresh,
        }
    }

    /// `upstreams.NAME.kubernetes` (at `path`).
    fn kubernetes(&mut self, path: &str, k: &FileKubernetes) -> KubernetesDiscovery {
        if !dns1123(&k.service) {
            self.problem(
                format!("{path}.service"),
                format!("{:?} is not a Service name (DNS-1123 label)", k.service),
            );
        }
        if let Some(ns) = &k.namespace
            && !dns1123(ns)
        {
            self.problem(
                format!("{path}.namespace"),
                format!("{ns:?} is not a namespace name"),
            );
        }
        let port = self.kubernetes_port(path, &k.port);
        KubernetesDiscovery {
            service: k.service.clone(),
            namespace: k.namespace.clone(),
            port,
        }
    }

    /// A Service port by number or by name.
    fn kubernetes_port(&mut self, path: &str, port: &serde_yaml::Value) -> PortRef {
        let parsed = match port {
            serde_yaml::Value::Number(n) => n
                .as_u64()
                .and_then(|p| u16::try_from(p).ok())
                .filter(|p| *p > 0)
                .map(PortRef::Number),
            serde_yaml::Value::String(name) if dns1123(name) && name.len() <= 15 => {
                Some(PortRef::Name(name.clone()))
            }
            _ => None,
        };
        parsed.unwrap_or_else(|| {
            self.problem(
                format!("{path}.port"),
                "expected a port number 1-65535 or a port name",
            );
            PortRef::Number(1)
        })
    }

    fn load_balancing(&mut self, path: &str, v: &serde_yaml::Value) -> LoadBalancing {
        use serde_yaml::Value;
        const EXPECTED: &str = "expected round_robin, least_request, or hash: { header: NAME } | { cookie: NAME } | client_ip";
        match v {
            Value::String(s) if s == "round_robin" => LoadBalancing::RoundRobin,
            Value::String(s) if s == "least_request" => LoadBalancing::LeastRequest,
            Value::Mapping(m) if m.len() == 1 => {
                let Some(key) = m.get("hash") else {
                    self.problem(path, EXPECTED);
                    return LoadBalancing::RoundRobin;
                };
                let path = format!("{path}.hash");
                let hash = match key {
                    Value::String(s) if s == "client_ip" => Some(HashKey::ClientIp),
                    Value::Mapping(k) if k.len() == 1 => match (k.get("header"), k.get("cookie")) {
                        (Some(Value::String(h)), None) => {
                            match http::HeaderName::from_bytes(h.as_bytes()) {
                                Ok(name) => Some(HashKey::Header(name)),
                                Err(_) => {
                                    self.problem(
                                        format!("{path}.header"),
                                        format!("{h:?} is not a valid header name"),
                                    );
                                    return LoadBalancing::RoundRobin;
                                }
                            }
                        }
                        (None, Some(Value::String(c))) if !c.is_empty() => {
                            Some(HashKey::Cookie(c.clone()))
                        }
                        _ => None,
                    },
                    _ => None,
                };
                match hash {
                    Some(h) => LoadBalancing::Hash(h),
                    None => {
                        self.problem(
                            path,
                            "expected { header: NAME }, { cookie: NAME } or client_ip",
                        );
                        LoadBalancing::RoundRobin
                    }
                }
            }
            _ => {
                self.problem(path, EXPECTED);
                LoadBalancing::RoundRobin
            }
        }
    }

    fn health_check(&mut self, base: &str, h: FileHealthCheck) -> HealthCheckConfig {
        let probe = self.probe(base, h.path, h.tcp, h.host, h.expected_status);
        let interval = self
            .duration(&format!("{base}.interval"), h.interval.as_deref())
            .unwrap_or(DEFAULT_INTERVAL);
        let timeout = self
            .duration(&format!("{base}.timeout"), h.timeout.as_deref())
            .unwrap_or(DEFAULT_PROBE_TIMEOUT.min(interval));
        if timeout > interval {
            self.problem(
                format!("{base}.timeout"),
                "must not be longer than `interval`",
            );
        }
        let mut threshold = |key: &str, v: Option<u32>, default: u32| -> u32 {
            match v {
                Some(0) => {
                    self.problem(format!("{base}.{key}"), "must be at least 1");
                    1
                }
                Some(n) => n,
                None => default,
            }
        };
        let healthy_threshold = threshold("healthy_threshold", h.healthy_threshold, 2);
        let unhealthy_threshold = threshold("unhealthy_threshold", h.unhealthy_threshold, 3);
        HealthCheckConfig {
            probe,
            interval,
            timeout,
            healthy_threshold,
            unhealthy_threshold,
            require_first_check: h.require_first_check,
            skip_when_traffic_healthy: h.skip_when_traffic_healthy,
        }
    }

    /// The probe of a `health_check`: HTTP (`path`) or TCP (`tcp: true`), exactly one of them.
    fn probe(
        &mut self,
        base: &str,
        path: Option<String>,
        tcp: bool,
        host: Option<String>,
        expected_status: Option<String>,
    ) -> Probe {
        match (path, tcp) {
            (Some(_), true) => {
                self.problem(
                    format!("{base}.tcp"),
                    "give either `path` (HTTP probe) or `tcp: true`, not both",
                );
                Probe::Tcp
            }
            (None, false) => {
                self.problem(
                    base,
                    "needs `path` (HTTP GET probe) or `tcp: true` (connect probe)",
                );
                Probe::Tcp
            }
            (None, true) => {
                for (key, set) in [
                    ("host", host.is_some()),
                    ("expected_status", expected_status.is_some()),
                ] {
                    if set {
                        self.problem(
                            format!("{base}.{key}"),
                            "applies to HTTP probes only (tcp: true is set)",
                        );
                    }
                }
                Probe::Tcp
            }
            (Some(p), false) => {
                if !p.starts_with('/')
                    || normalize(p.split('?').next().unwrap_or_default()).is_err()
                {
                    self.problem(
                        format!("{base}.path"),
                        format!("expected an absolute path like \"/healthz\", got {p:?}"),
                    );
                }
                let expected_status = match expected_status {
                    None => StatusRanges(vec![(200, 399)]),
                    Some(s) => self.status_ranges(&format!("{base}.expected_status"), &s),
                };
                let host = host.filter(|host| {
                    let ok = !host.is_empty()
                        && http::HeaderValue::from_str(host).is_ok()
                        && !host.contains(['/', ' ']);
                    if !ok {
                        self.problem(
                            format!("{base}.host"),
                            format!("{host:?} is not a valid Host header"),
                        );
                    }
                    ok
                });
                Probe::Http {
                    path: p,
                    host,
                    expected_status,
                }
            }
        }
    }

    fn status_ranges(&mut self, path: &str, s: &str) -> StatusRanges {
        let mut ranges = Vec::new();
        for part in s.split(',').map(str::trim) {
            let parsed = match part.split_once('-') {
                Some((lo, hi)) => lo
                    .trim()
                    .parse::<u16>()
                    .ok()
                    .zip(hi.trim().parse::<u16>().ok()),
                None => part.parse::<u16>().ok().map(|c| (c, c)),
            };
            match parsed {
                Some((lo, hi)) if (100..=599).contains(&lo) && (lo..=599).contains(&hi) => {
                    ranges.push((lo, hi))
                }
                _ => {
                    self.problem(
                        path,
                        format!(
                            "expected status ranges like \"200-399\" or \"200,204\", got {s:?}"
                        ),
                    );
                    return StatusRanges(vec![(200, 399)]);
                }
            }
        }
        StatusRanges(ranges)
    }

    fn outlier(&mut self, base: &str, o: FileOutlier) -> OutlierConfig {
        let d = OutlierConfig::default();
        let max_ejection_percent = match o.max_ejection_percent {
            Some(p) if p > 100 => {
                self.problem(
                    format!("{base}.max_ejection_percent"),
                    "must be between 0 and 100",
                );
                d.max_ejection_percent
            }
            Some(p) => p,
            None => d.max_ejection_percent,
        };
        OutlierConfig {
            consecutive_failures: o.consecutive_failures.unwrap_or(d.consecutive_failures),
            base_ejection_time: self
                .duration(
                    &format!("{base}.base_ejection_time"),
                    o.base_ejection_time.as_deref(),
                )
                .unwrap_or(d.base_ejection_time),
            max_ejection_percent,
        }
    }
}

/// A DNS-1123 label (Kubernetes object names): lowercase letters, digits and inner `-`, at most
/// 63 bytes.
fn dns1123(s: &str) -> bool {
    !s.is_empty()
        && s.len() <= 63
        && s.bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !s.starts_with('-')
        && !s.ends_with('-')
}
