#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::object::Object;
use crate::values::{StackFile, parse};

/// Every optional part on (cloudflared needs the pod CIDR trusted).
const ALL_ON: &str = "proxy: {trusted_proxies: [\"10.244.0.0/16\"]}\ncloudflared: {enabled: true}\n\
                      backups: {enabled: true}\nmonitoring: {enabled: true}\n";

fn defaults() -> Values {
    Values::from(StackFile::default())
}

#[test]
fn render_is_deterministic_and_in_helm_order() {
    let v = defaults();
    let a = to_yaml(&render(&v).unwrap()).unwrap();
    let b = to_yaml(&render(&v).unwrap()).unwrap();
    assert_eq!(a, b);
    let kinds: Vec<String> = render(&v)
        .unwrap()
        .iter()
        .map(|m| m.object.kind().to_owned())
        .collect();
    assert_eq!(kinds.first().map(String::as_str), Some("Namespace"));
    let rank: Vec<usize> = kinds.iter().map(|k| crate::object::kind_rank(k)).collect();
    assert!(rank.windows(2).all(|w| w[0] <= w[1]), "{kinds:?}");
}

#[test]
fn no_secret_objects_and_credentials_only_by_reference() {
    let v = parse("x", ALL_ON).unwrap();
    let text = to_yaml(&render(&v).unwrap()).unwrap();
    assert!(!text.contains("kind: Secret"));
    let doc: Vec<serde_yaml::Value> = text
        .split("\n---\n")
        .skip(1)
        .map(|d| serde_yaml::from_str(d).unwrap())
        .collect();
    // Every env var whose name smells of a credential takes its value from a Secret.
    fn walk(v: &serde_yaml::Value, bad: &mut Vec<String>) {
        match v {
            serde_yaml::Value::Mapping(m) => {
                if let Some(name) = m.get("name").and_then(|n| n.as_str()) {
                    let secretish = ["PASSWORD", "SECRET", "TOKEN", "AUTH"]
                        .iter()
                        .any(|w| name.contains(w));
                    if secretish && m.contains_key("value") {
                        bad.push(name.to_owned());
                    }
                }
                m.values().for_each(|x| walk(x, bad));
            }
            serde_yaml::Value::Sequence(s) => s.iter().for_each(|x| walk(x, bad)),
            _ => {}
        }
    }
    let mut bad = Vec::new();
    doc.iter().for_each(|d| walk(d, &mut bad));
    assert!(bad.is_empty(), "literal credential values: {bad:?}");
}

#[test]
fn proxy_config_has_every_route_and_kubernetes_discovery() {
    let v = defaults();
    let yaml = proxy_config::to_yaml(&v).unwrap();
    let cfg: serde_yaml::Value = serde_yaml::from_str(&yaml).unwrap();
    let routes = cfg["routes"].as_sequence().unwrap();
    let pairs: Vec<(&str, &str)> = routes
        .iter()
        .map(|r| {
            (
                r["prefix"].as_str().unwrap(),
                r["upstream"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        pairs,
        [
            ("/admin", "web"),
            ("/static/admin", "web"),
            ("/api", "fastapi"),
            ("/trinityai", "trinity-ai"),
            ("/minio-console", "minio-console"),
            ("/", "frontend"),
        ]
    );
    assert_eq!(routes[3]["timeouts"]["read"].as_str(), Some("300s"));
    assert_eq!(routes[4]["strip_prefix"].as_bool(), Some(true));
    assert_eq!(cfg["admin"].as_str(), Some("0.0.0.0:9901"));
    let console = &cfg["upstreams"]["minio-console"]["kubernetes"];
    assert_eq!(console["service"].as_str(), Some("minio"));
    assert_eq!(console["namespace"].as_str(), Some("trinity"));
    assert_eq!(console["port"].as_str(), Some("console"));
    for (_, up) in cfg["upstreams"].as_mapping().unwrap() {
        assert!(up["kubernetes"]["service"].is_string());
    }
}

#[test]
fn grace_period_covers_pre_stop_and_drain() {
    let v = parse("x", "proxy: {drain_delay: 5s, shutdown_timeout: 25s}\n").unwrap();
    assert_eq!(termination_grace_seconds(&v), 5 + 30 + 5);
}

#[test]
fn migration_job_is_named_per_tag() {
    assert_eq!(migration_name("1.2.3"), "web-migrate-1-2-3");
    assert_eq!(migration_name("RC_1"), "web-migrate-rc-1");
    assert!(migration_name(&"x".repeat(100)).len() <= 63);
}

#[test]
fn node_ports_only_when_enabled() {
    let count = |v: &Values| {
        render(v)
            .unwrap()
            .iter()
            .filter(|m| match &m.object {
                Object::Service(s) => s.spec.as_ref().unwrap().type_.as_deref() == Some("NodePort"),
                _ => false,
            })
            .count()
    };
    assert_eq!(count(&defaults()), 0);
    // The proxy and the five apps; the databases only when exposed on purpose.
    let on = parse("x", "node_ports: {enabled: true}\n").unwrap();
    assert_eq!(count(&on), 6);
    let dbs = parse("x", "node_ports: {enabled: true, expose_databases: true}\n").unwrap();
    assert_eq!(count(&dbs), 10);
    let off = parse("x", "node_ports: {expose_databases: true}\n").unwrap();
    assert_eq!(count(&off), 0);
}

#[test]
fn optional_parts_follow_their_switches() {
    let names = |v: &Values| -> Vec<String> {
        render(v)
            .unwrap()
            .iter()
            .map(|m| format!("{}/{}", m.object.kind(), m.object.name()))
            .collect()
    };
    let off = names(&defaults());
    assert!(
        !off.iter()
            .any(|n| n.contains("cloudflared") || n.starts_with("CronJob"))
    );
    let on = parse("x", ALL_ON).unwrap();
    let on = names(&on);
    for want in [
        "Deployment/cloudflared",
        "NetworkPolicy/cloudflared-to-proxy-only",
        "ServiceMonitor/trinity-proxy-metrics",
        "PrometheusRule/trinity-proxy",
        "CronJob/backup-postgres",
        "CronJob/backup-mongo",
        "CronJob/backup-minio",
        "PersistentVolumeClaim/backups",
    ] {
        assert!(on.iter().any(|n| n == want), "missing {want}: {on:?}");
    }
}

/// The pod spec of the Deployment `name`, as JSON.
fn pod_of(ms: &[crate::object::Manifest], name: &str) -> serde_json::Value {
    let m = ms
        .iter()
        .find(|m| m.object.kind() == "Deployment" && m.object.name() == name)
        .unwrap_or_else(|| panic!("no Deployment/{name}"));
    serde_json::to_value(&m.object).unwrap()["spec"]["template"]["spec"].clone()
}

mod builder;
mod env;
mod forwarded;
mod network;
mod workloads;
