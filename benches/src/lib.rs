//! Fixtures shared by the Criterion benchmarks in `benches/`: configs, route tables, pools and
//! request headers built through trinity-proxy's public API only, so a benchmark measures the
//! code the proxy runs and nothing written for the benchmark.
//!
//! Configs are built from YAML text with [`Config::parse`] rather than struct literals: the file
//! format is the stable contract, the internal types change with the code.
//!
//! A fixture that cannot be built is a broken benchmark, not a figure, so fixtures panic with the
//! config error instead of returning it.

use pingora::http::RequestHeader;
use std::fmt::Write;
use std::net::IpAddr;
use trinity_proxy::config::{Config, UpstreamConfig};
use trinity_proxy::metrics::Metrics;
use trinity_proxy::routing::RouteTable;

/// The five Trinity routes of `config/trinity.yaml` (same prefixes, same options), all on one
/// upstream each.
pub const TRINITY_YAML: &str = r#"
listeners: ["127.0.0.1:0"]
admin: "127.0.0.1:0"
client_ip:
  trusted_proxies: ["10.0.0.0/8"]
  header: cf-connecting-ip
routes:
  - { name: admin, prefix: /admin, upstream: web, redirect_trailing_slash: true }
  - { name: api, prefix: /api, upstream: fastapi }
  - { name: trinityai, prefix: /trinityai, upstream: trinity-ai, timeouts: { connect: 2s, read: 300s } }
  - { name: minio-console, prefix: /minio-console, strip_prefix: true, upstream: minio-console }
  - { name: frontend, prefix: /, upstream: frontend }
upstreams:
  web: { endpoints: ["127.0.0.1:8000"] }
  fastapi: { endpoints: ["127.0.0.1:8001"] }
  trinity-ai: { endpoints: ["127.0.0.1:8002"], retries: 1 }
  minio-console: { endpoints: ["127.0.0.1:9001"] }
  frontend: { endpoints: ["127.0.0.1:8080"] }
"#;

/// Host names in [`many_routes_yaml`]: `h0.example.com` … `h{HOSTS-1}.example.com`.
pub const HOSTS: usize = 50;

/// Parses a fixture config; panics with the located error if the fixture is invalid.
pub fn config(yaml: &str) -> Config {
    match Config::parse(yaml, "bench.yaml") {
        Ok(c) => c,
        Err(e) => panic!("benchmark fixture is not a valid config:\n{e}"),
    }
}

/// A fresh metrics registry, as the proxy creates one per process.
pub fn metrics() -> Metrics {
    match Metrics::new() {
        Ok(m) => m,
        Err(e) => panic!("metrics registry: {e}"),
    }
}

/// The route table the proxy would build for `yaml`.
pub fn table(yaml: &str) -> RouteTable {
    RouteTable::build(&config(yaml), &metrics())
}

/// `routes` routes spread over [`HOSTS`] hosts (one in ten host-less), mixing exact paths and
/// prefixes of one to three segments, all sharing a few upstreams — a large multi-tenant table.
pub fn many_routes_yaml(routes: usize) -> String {
    let mut y = String::from(
        "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nroutes:\n  - { name: fallback, prefix: /, upstream: u0 }\n",
    );
    for i in 1..routes {
        let host = i % (HOSTS + HOSTS / 10);
        let host = if host < HOSTS {
            format!(", host: h{host}.example.com")
        } else {
            String::new()
        };
        let path = match i % 4 {
            0 => format!("path: /exact/{i}"),
            1 => format!("prefix: /svc{i}"),
            2 => format!("prefix: /team{}/svc{i}", i % 7),
            _ => format!("prefix: /team{}/svc{i}/v{}", i % 7, i % 3),
        };
        let _ = writeln!(
            y,
            "  - {{ name: r{i}, {path}{host}, upstream: u{} }}",
            i % 4
        );
    }
    y.push_str("upstreams:\n");
    for u in 0..4 {
        let _ = writeln!(y, "  u{u}: {{ endpoints: [\"127.0.0.1:{}\"] }}", 9000 + u);
    }
    y
}

/// The host a request for route `i` of [`many_routes_yaml`] carries (`None` for host-less ones).
pub fn many_routes_host(i: usize) -> Option<String> {
    let host = i % (HOSTS + HOSTS / 10);
    (host < HOSTS).then(|| format!("h{host}.example.com"))
}

/// One upstream with `n` endpoints on 127.0.0.1, balanced by `algorithm` (`None`: the default,
/// round-robin). `extra` is appended to the upstream's YAML mapping, e.g. health-check settings.
pub fn upstream(n: usize, algorithm: Option<&str>, extra: &str) -> UpstreamConfig {
    let mut y = String::from(
        "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nroutes:\n  - { name: r, prefix: /, upstream: u }\nupstreams:\n  u:\n    endpoints: [",
    );
    for i in 0..n {
        if i > 0 {
            y.push_str(", ");
        }
        let _ = write!(y, "\"127.0.{}.{}:8000\"", i / 250, 1 + i % 250);
    }
    y.push_str("]\n");
    if let Some(a) = algorithm {
        let _ = writeln!(y, "    load_balancing: {a}");
    }
    for line in extra.lines() {
        let _ = writeln!(y, "    {line}");
    }
    let mut c = config(&y);
    c.upstreams.remove(0)
}

/// A browser-like request as it reaches the proxy: 8 ordinary headers plus `extra`.
pub fn request(path: &str, extra: &[(&'static str, &str)]) -> RequestHeader {
    let mut req = match RequestHeader::build("GET", path.as_bytes(), Some(16)) {
        Ok(r) => r,
        Err(e) => panic!("request fixture: {e}"),
    };
    let base: [(&'static str, &str); 8] = [
        ("host", "trinity.example.com"),
        (
            "user-agent",
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        ),
        ("accept", "application/json, text/plain, */*"),
        ("accept-language", "en-GB,en;q=0.5"),
        ("accept-encoding", "gzip, deflate, br, zstd"),
        ("referer", "https://trinity.example.com/app/"),
        (
            "cookie",
            "csrftoken=Qx8bW0VfJ3kq9yT1; sessionid=9x7lkq2m1n0p",
        ),
        ("connection", "keep-alive"),
    ];
    for (k, v) in base.iter().chain(extra) {
        if let Err(e) = req.append_header(*k, *v) {
            panic!("request fixture header {k}: {e}");
        }
    }
    req
}

/// Parses an IP literal of a fixture.
pub fn ip(s: &str) -> IpAddr {
    match s.parse() {
        Ok(ip) => ip,
        Err(e) => panic!("fixture IP {s}: {e}"),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn fixtures_are_valid_configs() {
        let t = table(TRINITY_YAML);
        assert_eq!(t.routes.len(), 5);
        let big = table(&many_routes_yaml(500));
        assert_eq!(big.routes.len(), 500);
        assert_eq!(upstream(200, None, "").endpoints.len(), 200);
    }

    #[test]
    fn many_routes_hosts_find_their_routes() {
        let t = table(&many_routes_yaml(500));
        for i in [1, 5, 53, 57, 497] {
            let host = many_routes_host(i);
            let route = t.route(t.find(host.as_deref(), &format!("/svc{i}/x")).unwrap());
            assert_eq!(&*route.name, format!("r{i}"));
        }
    }
}
