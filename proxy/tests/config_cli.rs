//! `trinity-proxy --config FILE --check`: `ok` and exit 0, or `FILE:LINE:COL: field.path: problem`
//! and exit 1. Runs the real binary on real files.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use std::path::{Path, PathBuf};
use std::process::Command;

fn check(path: &Path) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_trinity-proxy"))
        .arg("--config")
        .arg(path)
        .arg("--check")
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn check_text(text: &str) -> (i32, String, String, PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trinity.yaml");
    std::fs::write(&path, text).unwrap();
    let (code, out, err) = check(&path);
    (code, out, err, path)
}

const GOOD: &str = "\
routes:
  - name: api
    prefix: /api
    upstream: fastapi
upstreams:
  fastapi:
    endpoints: [\"10.1.0.5:8001\"]
";

#[test]
fn shipped_configs_pass() {
    for f in ["trinity.yaml", "demo.yaml"] {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../config")
            .join(f);
        let (code, out, err) = check(&path);
        assert_eq!((code, out.as_str(), err.as_str()), (0, "ok\n", ""), "{f}");
    }
    let (code, out, _, _) = check_text(GOOD);
    assert_eq!((code, out.as_str()), (0, "ok\n"));
}

/// (bad config, expected error after "FILE:")
const BAD: &[(&str, &str)] = &[
    // unknown key
    (
        "routes:\n  - name: api\n    prefix: /api\n    upstream: fastapi\n    retries: 3\nupstreams:\n  fastapi: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "5:5: routes[0].retries: unknown field `retries`, expected one of `name`, `prefix`, `path`, `host`, `upstream`, `strip_prefix`, `redirect_trailing_slash`, `timeouts`, `allow`, `rate_limit`, `max_body_size`, `buffer_request_body`",
    ),
    // duplicate route name
    (
        "routes:\n  - { name: api, prefix: /api, upstream: u }\n  - { name: api, prefix: /v2, upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "3:13: routes[1].name: duplicate route name \"api\" (first used by routes[0])",
    ),
    // missing upstream
    (
        "routes:\n  - { name: api, prefix: /api, upstream: nope }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "2:42: routes[0].upstream: no upstream named \"nope\" (defined: u)",
    ),
    // invalid CIDR
    (
        "client_ip:\n  trusted_proxies: [\"10.0.0.0/33\"]\nroutes:\n  - { name: api, prefix: /api, upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "2:21: client_ip.trusted_proxies[0]: expected a CIDR like \"10.0.0.0/8\" or an IP address, got \"10.0.0.0/33\"",
    ),
    (
        "client_ip:\n  trust_forwarded_host: maybe\nroutes:\n  - { name: api, prefix: /api, upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "2:25: client_ip.trust_forwarded_host: invalid type: string \"maybe\", expected a boolean",
    ),
    // invalid duration
    (
        "routes:\n  - name: ai\n    prefix: /trinityai\n    upstream: u\n    timeouts:\n      read: 5 minutes-ish\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "6:13: routes[0].timeouts.read: expected a duration like \"500ms\", \"2s\" or \"5m\", got \"5 minutes-ish\"",
    ),
    // invalid address
    (
        "routes:\n  - { name: api, prefix: /api, upstream: u }\nupstreams:\n  u:\n    endpoints:\n      - 10.1.0.5:8001\n      - web:8000\n",
        "7:9: upstreams.u.endpoints[1]: expected IP:PORT like \"10.1.0.5:8000\" or \"[::1]:80\", got \"web:8000\"",
    ),
    // two routes with the same match
    (
        "routes:\n  - { name: a, prefix: /api, upstream: u }\n  - { name: b, prefix: /api, upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "3:24: routes[1].prefix: routes[0] already matches prefix \"/api\"",
    ),
    // wrong type
    (
        "threads: many\nroutes:\n  - { name: api, prefix: /api, upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "1:10: threads: invalid type: string \"many\", expected usize",
    ),
    // prefix with trailing slash
    (
        "routes:\n  - { name: api, prefix: /api/, upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "2:26: routes[0].prefix: write the prefix without trailing '/': \"/api\" matches /api and /api/...",
    ),
    // edge limits and route policy
    (
        "limits:\n  max_header_bytes: lots\nroutes:\n  - { name: api, prefix: /api, upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "2:21: limits.max_header_bytes: expected a size like \"32KiB\", \"10MiB\" or a number of bytes, got lots",
    ),
    (
        "routes:\n  - { name: api, prefix: /api, upstream: u, allow: [\"10.0.0.0/8\", \"office\"] }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "2:67: routes[0].allow[1]: expected a CIDR like \"10.0.0.0/8\" or an IP address, got \"office\"",
    ),
    (
        "routes:\n  - { name: api, prefix: /api, upstream: u, rate_limit: { per_second: 0 } }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "2:71: routes[0].rate_limit.per_second: must be greater than 0 and at most 1000000",
    ),
    // admin reachable through a public listener
    (
        "listeners: [\"0.0.0.0:8080\"]\nadmin: \"127.0.0.1:8080\"\nroutes:\n  - { name: api, prefix: /api, upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "2:8: admin: 127.0.0.1:8080 collides with listeners[0] (0.0.0.0:8080): the admin port must never be reachable through a public listener",
    ),
];

/// Wildcard hosts: `*.` and a host name, the `*` only as the whole first label.
const BAD_HOSTS: &[(&str, &str)] = &[
    (
        "routes:\n  - { name: a, prefix: /, host: \"*\", upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "2:33: routes[0].host: a wildcard must be the whole first label, like \"*.example.com\", got \"*\"",
    ),
    (
        "routes:\n  - { name: a, prefix: /, host: \"*example.com\", upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "2:33: routes[0].host: a wildcard must be the whole first label, like \"*.example.com\", got \"*example.com\"",
    ),
    (
        "routes:\n  - { name: a, prefix: /a, upstream: u }\n  - { name: b, prefix: /, host: a.*.com, upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "3:33: routes[1].host: a wildcard must be the whole first label, like \"*.example.com\", got \"a.*.com\"",
    ),
    (
        "routes:\n  - { name: a, prefix: /, host: \"*.*.example.com\", upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "2:33: routes[0].host: a wildcard must be the whole first label, like \"*.example.com\", got \"*.*.example.com\"",
    ),
    (
        "routes:\n  - { name: a, prefix: /, host: \"*.example.com:8080\", upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n",
        "2:33: routes[0].host: expected a host name like \"*.example.com\" (no port, no scheme), got \"*.example.com:8080\"",
    ),
];

fn assert_rejected(cases: &[(&str, &str)]) {
    for (text, expected) in cases {
        let (code, out, err, path) = check_text(text);
        assert_eq!(code, 1, "{expected}");
        assert_eq!(out, "", "{expected}");
        assert_eq!(
            err.trim_end(),
            format!("{}:{expected}", path.display()),
            "for config:\n{text}"
        );
    }
}

#[test]
fn bad_configs_name_file_line_column_and_field() {
    assert_rejected(BAD);
}

#[test]
fn bad_wildcard_hosts_name_the_field() {
    assert_rejected(BAD_HOSTS);
    let good = "routes:\n  - { name: a, prefix: /, host: \"*.Example.com.\", upstream: u }\n  - { name: b, prefix: /, host: example.com, upstream: u }\nupstreams:\n  u: { endpoints: [\"10.1.0.5:8001\"] }\n";
    let (code, out, err, _) = check_text(good);
    assert_eq!((code, out.as_str(), err.as_str()), (0, "ok\n", ""));
}

#[test]
fn every_problem_is_reported_at_once() {
    let text = "routes:\n  - { name: a, prefix: api, upstream: u }\n  - { name: b, prefix: /x, upstream: v }\nupstreams:\n  u: { endpoints: [\"1.2.3.4\"] }\n";
    let (code, _, err, _) = check_text(text);
    assert_eq!(code, 1);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 3, "{err}");
    assert!(
        lines[0].contains(":5:20: upstreams.u.endpoints[0]: expected IP:PORT"),
        "{err}"
    );
    assert!(
        lines[1].contains(":2:24: routes[0].prefix: must start with '/'"),
        "{err}"
    );
    assert!(
        lines[2].contains(":3:38: routes[1].upstream: no upstream named \"v\""),
        "{err}"
    );
}

#[test]
fn missing_file_is_a_clear_error() {
    let (code, _, err) = check(Path::new("/nonexistent/trinity.yaml"));
    assert_eq!(code, 1);
    assert!(
        err.starts_with("/nonexistent/trinity.yaml: cannot read file:"),
        "{err}"
    );
}
