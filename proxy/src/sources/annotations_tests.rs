//! Annotations → route options, and the problems of those that cannot be applied.

#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;

fn options(pairs: &[(&str, &str)]) -> (RouteOptions, Vec<String>) {
    let map: BTreeMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    route_options(Some(&map))
}

#[test]
fn ours_set_the_route_keys() {
    let (o, problems) = options(&[
        ("trinity.io/allow", "10.0.0.0/8, 192.168.1.7"),
        ("trinity.io/rate-limit", "5"),
        ("trinity.io/rate-limit-burst", "10"),
        ("trinity.io/max-body-size", "10MiB"),
        ("trinity.io/buffer-request-body", "64KiB"),
        ("trinity.io/connect-timeout", "2s"),
        ("trinity.io/read-timeout", "5m"),
        ("kubernetes.io/ingress.class", "trinity"),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    let allow: Vec<String> = o.policy.allow.iter().map(ToString::to_string).collect();
    assert_eq!(allow, ["10.0.0.0/8", "192.168.1.7/32"]);
    assert_eq!(
        o.policy.rate_limit,
        Some(RateLimit {
            per_second: 5.0,
            burst: 10
        })
    );
    assert_eq!(o.policy.max_body_size, Some(10 << 20));
    assert_eq!(o.policy.buffer_request_body, Some(64 << 10));
    assert_eq!(o.timeouts.connect, Duration::from_secs(2));
    assert_eq!(o.timeouts.read, Duration::from_secs(300));
    assert_eq!(route_options(None).0, RouteOptions::default());
}

#[test]
fn ingress_nginx_annotations_are_read_as_ingress_nginx_reads_them() {
    let (o, problems) = options(&[
        ("nginx.ingress.kubernetes.io/proxy-body-size", "8m"),
        ("nginx.ingress.kubernetes.io/proxy-read-timeout", "120"),
        (
            "nginx.ingress.kubernetes.io/whitelist-source-range",
            "172.16.0.0/12",
        ),
    ]);
    assert!(problems.is_empty(), "{problems:?}");
    assert_eq!(o.policy.max_body_size, Some(8 << 20));
    assert_eq!(o.timeouts.read, Duration::from_secs(120));
    assert_eq!(
        o.policy.allow,
        ["172.16.0.0/12".parse::<ipnet::IpNet>().unwrap()]
    );
    let (o, _) = options(&[("nginx.ingress.kubernetes.io/proxy-body-size", "0")]);
    assert_eq!(o.policy.max_body_size, None, "0 is no limit");
    let (o, _) = options(&[
        ("nginx.ingress.kubernetes.io/proxy-body-size", "8m"),
        ("trinity.io/max-body-size", "1KiB"),
    ]);
    assert_eq!(o.policy.max_body_size, Some(1024), "ours win");
}

#[test]
fn what_cannot_be_applied_is_a_problem_and_left_out() {
    let (o, problems) = options(&[
        ("trinity.io/max-body-size", "lots"),
        ("trinity.io/buffer-request-body", "1MiB"),
        ("trinity.io/read-timeout", "0s"),
        ("trinity.io/allow", "10.0.0.0/33"),
        ("trinity.io/rate-limit", "-1"),
        ("trinity.io/retries", "3"),
        ("nginx.ingress.kubernetes.io/rewrite-target", "/$2"),
        ("nginx.ingress.kubernetes.io/ssl-redirect", "true"),
    ]);
    assert_eq!(o, RouteOptions::default(), "nothing half-applied");
    let want = [
        "trinity.io/allow",
        "trinity.io/buffer-request-body",
        "trinity.io/max-body-size",
        "trinity.io/read-timeout",
        "trinity.io/rate-limit:",
        "rewrite-target is an ingress-nginx annotation trinity-proxy does not support",
        "ssl-redirect is not supported until TLS listeners exist",
        "trinity.io/retries is not a trinity.io annotation",
    ];
    assert_eq!(problems.len(), want.len(), "{problems:#?}");
    for needle in want {
        assert!(
            problems.iter().any(|p| p.contains(needle)),
            "{needle} in {problems:#?}"
        );
    }
    let (_, problems) = options(&[("trinity.io/rate-limit-burst", "3")]);
    assert_eq!(
        problems,
        ["annotation trinity.io/rate-limit-burst needs trinity.io/rate-limit; ignored"]
    );
}
