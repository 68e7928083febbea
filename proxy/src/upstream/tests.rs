#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::config::{HashKey, LoadBalancing, UpstreamConfig};
use std::net::SocketAddr;

fn addrs(n: usize) -> Vec<SocketAddr> {
    (0..n)
        .map(|i| SocketAddr::from(([10, 0, (i / 250) as u8, (i % 250) as u8 + 1], 8000)))
        .collect()
}

fn pool_with(n: usize, lb: LoadBalancing) -> Pool {
    let mut cfg = UpstreamConfig::with_endpoints("web", addrs(n));
    cfg.load_balancing = lb;
    Pool::new(&cfg, &Metrics::new().unwrap(), None)
}

/// A TCP check under which new endpoints wait for their first probe.
fn tcp_check_pending_first_probe() -> crate::config::HealthCheckConfig {
    crate::config::HealthCheckConfig {
        probe: crate::config::Probe::Tcp,
        interval: std::time::Duration::from_secs(1),
        timeout: std::time::Duration::from_secs(1),
        healthy_threshold: 1,
        unhealthy_threshold: 1,
        require_first_check: true,
        skip_when_traffic_healthy: false,
    }
}

fn pick(p: &Pool, tried: &[SocketAddr], key: Option<u64>) -> Option<SocketAddr> {
    p.select(tried, key).map(|s| s.guard.endpoint().addr)
}

fn ep(p: &Pool, i: usize) -> Arc<Endpoint> {
    p.members().endpoints[i].clone()
}

#[test]
fn round_robin_spreads_evenly() {
    let p = pool_with(3, LoadBalancing::RoundRobin);
    let mut hits: HashMap<SocketAddr, usize> = HashMap::new();
    for _ in 0..300 {
        *hits.entry(pick(&p, &[], None).unwrap()).or_default() += 1;
    }
    assert_eq!(hits.values().copied().collect::<Vec<_>>(), [100, 100, 100]);
}

#[test]
fn skips_tried_endpoints_and_runs_out() {
    let p = pool_with(2, LoadBalancing::RoundRobin);
    let a = pick(&p, &[], None).unwrap();
    let b = pick(&p, &[a], None).unwrap();
    assert_ne!(a, b);
    assert!(pick(&p, &[a, b], None).is_none());
    assert!(!p.can_select(&[a, b]) && p.can_select(&[a]));
}

#[test]
fn in_flight_follows_guards() {
    let p = pool_with(1, LoadBalancing::RoundRobin);
    let s = p.select(&[], None).unwrap();
    assert_eq!(ep(&p, 0).in_flight(), 1);
    drop(s);
    assert_eq!(ep(&p, 0).in_flight(), 0);
}

#[test]
fn least_request_prefers_the_idle_endpoint() {
    let p = pool_with(2, LoadBalancing::LeastRequest);
    let busy: Vec<_> = (0..5).map(|_| InFlight::new(&ep(&p, 0))).collect();
    let idle = ep(&p, 1).addr;
    let to_idle = (0..200)
        .filter(|_| pick(&p, &[], None) == Some(idle))
        .count();
    drop(busy);
    // P2C picks the busy one only when both random choices land on it (~1/4).
    assert!(to_idle > 120, "{to_idle} of 200 went to the idle endpoint");
}

#[test]
fn hash_is_sticky_and_moves_about_one_nth_of_keys() {
    let lb = LoadBalancing::Hash(HashKey::ClientIp);
    let before = pool_with(10, lb.clone());
    let after = pool_with(11, lb);
    let keys: Vec<u64> = (0..10_000u32)
        .map(|k| hash_bytes(&k.to_le_bytes()))
        .collect();
    let mut moved = 0;
    for k in &keys {
        let a = pick(&before, &[], Some(*k)).unwrap();
        assert_eq!(
            pick(&before, &[], Some(*k)).unwrap(),
            a,
            "same key, same endpoint"
        );
        if pick(&after, &[], Some(*k)).unwrap() != a {
            moved += 1;
        }
    }
    // Ideal: 1/11 ≈ 9.1%; allow for ring variance.
    assert!((500..=1500).contains(&moved), "{moved} of 10000 keys moved");
}

#[test]
fn panic_mode_when_nothing_is_eligible() {
    let mut cfg = UpstreamConfig::with_endpoints("web", addrs(2));
    cfg.health_check = Some(tcp_check_pending_first_probe());
    let p = Pool::new(&cfg, &Metrics::new().unwrap(), None);
    let s = p.select(&[], None).unwrap();
    assert!(s.panic);
    assert!(p.select(&addrs(2), None).is_none());
    assert_eq!(p.metrics.panic_routing.get(), 1);
}

#[tokio::test]
async fn max_ejection_percent_keeps_endpoints_in_rotation() {
    let mut cfg = UpstreamConfig::with_endpoints("web", addrs(4));
    cfg.outlier.consecutive_failures = 1;
    let p = Pool::new(&cfg, &Metrics::new().unwrap(), None);
    for _ in 0..3 {
        for i in 0..3 {
            p.record_failure(&ep(&p, i), "test");
        }
    }
    let ejected = p
        .members()
        .endpoints
        .iter()
        .filter(|e| e.health.is_ejected())
        .count();
    assert_eq!(ejected, 2, "50% of 4");
    let mut cfg1 = UpstreamConfig::with_endpoints("one", addrs(1));
    cfg1.outlier.consecutive_failures = 1;
    cfg1.outlier.max_ejection_percent = 100;
    let single = Pool::new(&cfg1, &Metrics::new().unwrap(), None);
    single.record_failure(&ep(&single, 0), "test");
    assert!(
        !ep(&single, 0).health.is_ejected(),
        "the last endpoint is never ejected"
    );
}

#[test]
fn retry_budget_allows_twenty_percent_with_a_floor() {
    let p = Arc::new(pool_with(2, LoadBalancing::RoundRobin));
    let mut reqs: Vec<ActiveRequest> = (0..30).map(|_| p.begin_request()).collect();
    let granted = reqs
        .iter_mut()
        .filter_map(|r| r.try_retry().then_some(()))
        .count();
    assert_eq!(granted, 6, "20% of 30 active");
    drop(reqs);
    let mut few: Vec<ActiveRequest> = (0..4).map(|_| p.begin_request()).collect();
    assert_eq!(
        few.iter_mut()
            .filter_map(|r| r.try_retry().then_some(()))
            .count(),
        3,
        "at least 3"
    );
}

#[test]
fn endpoint_series_leave_with_the_pool() {
    let metrics = Metrics::new().unwrap();
    let pool = Pool::new(
        &UpstreamConfig::with_endpoints("gone", addrs(2)),
        &metrics,
        None,
    );
    let text = |m: &Metrics| String::from_utf8(m.encode()).unwrap();
    assert!(
        text(&metrics).contains(
            r#"trinity_proxy_endpoint_healthy{endpoint="10.0.0.1:8000",upstream="gone"} 1"#
        )
    );
    drop(pool);
    let after = text(&metrics);
    assert!(!after.contains("endpoint=\"10.0.0.1:8000\""), "{after}");
}

#[tokio::test]
async fn membership_changes_keep_the_state_of_endpoints_that_stay() {
    let metrics = Metrics::new().unwrap();
    let mut cfg = UpstreamConfig::with_endpoints("web", addrs(3));
    cfg.outlier.consecutive_failures = 1;
    let p = Pool::new(&cfg, &metrics, None);
    let stays = ep(&p, 1);
    p.record_failure(&stays, "test");
    assert!(stays.health.is_ejected());

    let all = addrs(4);
    p.set_members(&[all[1], all[3]], &[]);
    let m = p.members();
    assert_eq!(m.endpoints.len(), 2);
    assert!(
        Arc::ptr_eq(&m.endpoints[0], &stays),
        "the same endpoint object, state and all"
    );
    assert!(m.endpoints[0].health.is_ejected());
    let text = String::from_utf8(metrics.encode()).unwrap();
    assert!(
        !text.contains(&format!("endpoint=\"{}\"", all[0])),
        "the endpoint that left left the metrics"
    );
    assert!(text.contains(&format!("endpoint=\"{}\"", all[3])));
    assert_eq!(
        pick(&p, &[], None),
        Some(all[3]),
        "the ejected one is skipped"
    );
}

#[test]
fn terminating_endpoints_only_serve_when_nothing_else_can() {
    let p = pool_with(2, LoadBalancing::RoundRobin);
    let all = addrs(2);
    p.set_members(&all, &[all[0]]);
    for _ in 0..10 {
        assert_eq!(pick(&p, &[], None), Some(all[1]));
    }
    p.set_members(&all, &all);
    let s = p.select(&[], None).unwrap();
    assert!(
        !s.panic,
        "all terminating but healthy: they serve, without panic mode"
    );
    assert_eq!(p.metrics.panic_routing.get(), 0);
}

fn dns_upstream(name: &str) -> UpstreamConfig {
    let mut cfg = UpstreamConfig::with_endpoints(name, vec![]);
    cfg.discovery = crate::config::Discovery::Dns(crate::config::DnsDiscovery {
        name: "web.example".into(),
        port: 8000,
        refresh: std::time::Duration::from_secs(5),
    });
    cfg
}

#[test]
fn reload_of_a_discovered_upstream_keeps_members_and_terminating_flags() {
    let metrics = Metrics::new().unwrap();
    let old = Pool::new(&dns_upstream("web"), &metrics, None);
    let all = addrs(2);
    old.set_members(&all, &[all[0]]);
    let mut changed = dns_upstream("web");
    changed.retries = 1;
    if let crate::config::Discovery::Dns(d) = &mut changed.discovery {
        d.refresh = std::time::Duration::from_secs(1);
    }
    let new = Pool::new(&changed, &metrics, Some(&old));
    let m = new.members();
    assert_eq!(
        m.endpoints.iter().map(|e| e.addr).collect::<Vec<_>>(),
        all,
        "serving until the provider answers"
    );
    assert!(m.endpoints[0].is_terminating() && !m.endpoints[1].is_terminating());
}

#[test]
fn removing_the_health_check_forgets_unhealthy_verdicts() {
    let metrics = Metrics::new().unwrap();
    let mut cfg = UpstreamConfig::with_endpoints("web", addrs(1));
    cfg.health_check = Some(tcp_check_pending_first_probe());
    let old = Pool::new(&cfg, &metrics, None);
    assert!(!ep(&old, 0).eligible(), "pending its first probe");
    cfg.health_check = None;
    let new = Pool::new(&cfg, &metrics, Some(&old));
    assert!(Arc::ptr_eq(&ep(&old, 0), &ep(&new, 0)));
    assert!(ep(&new, 0).eligible(), "nothing will probe it any more");
}

#[test]
fn reload_reuses_endpoints_of_the_previous_pool() {
    let metrics = Metrics::new().unwrap();
    let old = Pool::new(
        &UpstreamConfig::with_endpoints("web", addrs(2)),
        &metrics,
        None,
    );
    let mut cfg = UpstreamConfig::with_endpoints("web", addrs(3));
    cfg.retries = 5;
    let new = Pool::new(&cfg, &metrics, Some(&old));
    assert!(Arc::ptr_eq(&ep(&old, 0), &ep(&new, 0)));
    assert!(Arc::ptr_eq(&ep(&old, 1), &ep(&new, 1)));
    assert_eq!(new.members().endpoints.len(), 3);
}
