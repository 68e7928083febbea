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
    Pool::new(&cfg, &Metrics::new().unwrap())
}

#[test]
fn round_robin_spreads_evenly() {
    let p = pool_with(3, LoadBalancing::RoundRobin);
    let mut hits = [0; 3];
    for _ in 0..300 {
        hits[p.select(&[], None).unwrap().index as usize] += 1;
    }
    assert_eq!(hits, [100, 100, 100]);
}

#[test]
fn skips_tried_endpoints_and_runs_out() {
    let p = pool_with(2, LoadBalancing::RoundRobin);
    let a = p.select(&[], None).unwrap().index;
    let b = p.select(&[a], None).unwrap().index;
    assert_ne!(a, b);
    assert!(p.select(&[a, b], None).is_none());
}

#[test]
fn in_flight_follows_guards() {
    let p = pool_with(1, LoadBalancing::RoundRobin);
    let s = p.select(&[], None).unwrap();
    assert_eq!(p.endpoints[0].in_flight(), 1);
    drop(s);
    assert_eq!(p.endpoints[0].in_flight(), 0);
}

#[test]
fn least_request_prefers_the_idle_endpoint() {
    let p = pool_with(2, LoadBalancing::LeastRequest);
    let busy: Vec<_> = (0..5).map(|_| InFlight::new(&p.endpoints[0])).collect();
    let mut to_idle = 0;
    for _ in 0..200 {
        if p.select(&[], None).unwrap().index == 1 {
            to_idle += 1;
        }
    }
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
        let a = before.select(&[], Some(*k)).unwrap().index;
        assert_eq!(
            before.select(&[], Some(*k)).unwrap().index,
            a,
            "same key, same endpoint"
        );
        let b = after.select(&[], Some(*k)).unwrap().index;
        if before.endpoints[a as usize].addr != after.endpoints[b as usize].addr {
            moved += 1;
        }
    }
    // Ideal: 1/11 ≈ 9.1%; allow for ring variance.
    assert!((500..=1500).contains(&moved), "{moved} of 10000 keys moved");
}

#[test]
fn panic_mode_when_nothing_is_eligible() {
    let mut cfg = UpstreamConfig::with_endpoints("web", addrs(2));
    cfg.health_check = Some(crate::config::HealthCheckConfig {
        probe: crate::config::Probe::Tcp,
        interval: std::time::Duration::from_secs(1),
        timeout: std::time::Duration::from_secs(1),
        healthy_threshold: 1,
        unhealthy_threshold: 1,
        require_first_check: true,
        skip_when_traffic_healthy: false,
    });
    let p = Pool::new(&cfg, &Metrics::new().unwrap());
    let s = p.select(&[], None).unwrap();
    assert!(s.panic);
    assert!(p.select(&[0, 1], None).is_none());
    assert_eq!(p.metrics.panic_routing.get(), 1);
}

#[tokio::test]
async fn max_ejection_percent_keeps_endpoints_in_rotation() {
    let mut cfg = UpstreamConfig::with_endpoints("web", addrs(4));
    cfg.outlier.consecutive_failures = 1;
    let p = Pool::new(&cfg, &Metrics::new().unwrap());
    for _ in 0..3 {
        for ep in &p.endpoints[..3] {
            p.record_failure(ep, "test");
        }
    }
    let ejected = p.endpoints.iter().filter(|e| e.health.is_ejected()).count();
    assert_eq!(ejected, 2, "50% of 4");
    let mut cfg1 = UpstreamConfig::with_endpoints("one", addrs(1));
    cfg1.outlier.consecutive_failures = 1;
    cfg1.outlier.max_ejection_percent = 100;
    let single = Pool::new(&cfg1, &Metrics::new().unwrap());
    single.record_failure(&single.endpoints[0], "test");
    assert!(
        !single.endpoints[0].health.is_ejected(),
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
    let pool = Pool::new(&UpstreamConfig::with_endpoints("gone", addrs(2)), &metrics);
    let text = |m: &Metrics| String::from_utf8(m.encode()).unwrap();
    assert!(text(&metrics).contains(r#"trinity_proxy_endpoint_healthy{endpoint="10.0.0.1:8000",upstream="gone"} 1"#));
    drop(pool);
    let after = text(&metrics);
    assert!(!after.contains("endpoint=\"10.0.0.1:8000\""), "{after}");
}
