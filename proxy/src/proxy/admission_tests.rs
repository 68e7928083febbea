//! Request head → admission, as a table (no `Session`, no sockets).

#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::config::Config;
use crate::metrics::Metrics;

const ROUTES: &str = r#"
routes:
  - { name: admin, prefix: /admin, upstream: u, redirect_trailing_slash: true }
  - { name: console, prefix: /minio-console, upstream: u, strip_prefix: true }
  - { name: internal, prefix: /internal, upstream: u, allow: ["10.0.0.0/8"] }
  - { name: limited, prefix: /limited, upstream: u, rate_limit: { per_second: 1 } }
  - { name: upload, prefix: /upload, upstream: u, max_body_size: 10, buffer_request_body: 8 }
  - { name: empty, prefix: /empty, upstream: none }
  - { name: shop, prefix: /, host: shop.example.com, upstream: u }
  - { name: frontend, prefix: /, upstream: u }
upstreams:
  u: { endpoints: ["127.0.0.1:1"] }
  none: { endpoints: [] }
"#;

fn table() -> RouteTable {
    let text = format!("listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\n{ROUTES}");
    let config = Config::parse(&text, "test.yaml").unwrap();
    RouteTable::build(&config, &Metrics::new().unwrap())
}

/// The admission of `request` (`METHOD TARGET [name:value ...]`) from `client`, in words.
fn admit(t: &RouteTable, request: &str, client: &str) -> String {
    let mut words = request.split(' ');
    let (method, target) = (words.next().unwrap(), words.next().unwrap());
    let mut req = RequestHeader::build(method, target.as_bytes(), None).unwrap();
    for field in words {
        let (name, value) = field.split_once(':').unwrap();
        req.append_header(name.to_owned(), value).unwrap();
    }
    let name = |i: usize| t.route(i).name.to_string();
    match decide(&req, client.parse().unwrap(), t) {
        Admission::Forward(f) => {
            let mut out = format!("forward {}", name(f.route));
            if let Some(target) = f.upstream_target {
                out += &format!(" as {target}");
            }
            if let Some(limit) = f.buffer_body {
                out += &format!(" buffering {limit}");
            }
            out
        }
        Admission::Answer { route, answer } => {
            format!("{}: {answer:?}", route.map_or("-".into(), name))
        }
    }
}

const OUTSIDE: &str = "192.0.2.7";

#[test]
fn routes_targets_and_redirects() {
    let t = table();
    let cases = [
        ("GET /api/x?q=1", "forward frontend"),
        ("GET /admin/login/", "forward admin"),
        ("GET /admin", r#"admin: Redirect { location: "/admin/" }"#),
        (
            "GET /admin?next=1",
            r#"admin: Redirect { location: "/admin/?next=1" }"#,
        ),
        ("GET /minio-console/x?y=1", "forward console as /x?y=1"),
        ("GET /minio-console", "forward console as /"),
        ("GET /a/../admin/x", "forward admin as /admin/x"),
        ("GET /x host:SHOP.example.com:8080", "forward shop"),
        (
            "GET http://shop.example.com/x host:shop.example.com",
            "forward shop as /x",
        ),
        ("GET /empty/x", "empty: NoEndpoints"),
        ("OPTIONS *", "-: BadTarget"),
        (
            "GET /%2e%2e/x",
            r#"-: BadPath("path climbs above the root")"#,
        ),
    ];
    for (request, want) in cases {
        assert_eq!(admit(&t, request, OUTSIDE), want, "{request}");
    }
    let text = "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nroutes:\n  - { name: a, prefix: /a, upstream: u }\nupstreams:\n  u: { endpoints: [\"127.0.0.1:1\"] }\n";
    let hostless = RouteTable::build(
        &Config::parse(text, "t.yaml").unwrap(),
        &Metrics::new().unwrap(),
    );
    let want = r#"-: NoRoute { path: "/b/x" }"#;
    assert_eq!(admit(&hostless, "GET /b//x", OUTSIDE), want);
}

#[test]
fn the_route_policy_refuses_or_buffers() {
    let t = table();
    let cases = [
        ("GET /internal/x", OUTSIDE, "internal: Refused(NotAllowed)"),
        ("GET /internal/x", "10.1.2.3", "forward internal"),
        (
            "POST /upload content-length:11",
            OUTSIDE,
            "upload: Refused(BodyTooLarge)",
        ),
        (
            "POST /upload content-length:10",
            OUTSIDE,
            "forward upload buffering 8",
        ),
        (
            "POST /upload transfer-encoding:chunked",
            OUTSIDE,
            "forward upload buffering 8",
        ),
    ];
    for (request, client, want) in cases {
        assert_eq!(admit(&t, request, client), want, "{request} from {client}");
    }
}

#[test]
fn the_rate_limit_takes_a_token_per_admitted_request() {
    let t = table();
    assert_eq!(admit(&t, "GET /limited/x", "192.0.2.9"), "forward limited");
    let limited = admit(&t, "GET /limited/x", "192.0.2.9");
    assert!(
        limited.starts_with("limited: Refused(RateLimited("),
        "{limited}"
    );
    assert_eq!(
        admit(&t, "GET /limited/x", "192.0.2.10"),
        "forward limited",
        "per client"
    );
}
