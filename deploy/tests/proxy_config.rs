//! The proxy ConfigMap that trinity-deploy renders is a config trinity-proxy accepts: it is loaded
//! with the proxy crate's own loader, for the shipped values and for every option switched on, and
//! it validates against the proxy's JSON Schema.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use support::root;
use trinity_deploy::render::proxy_config;
use trinity_deploy::values;
use trinity_proxy::config::{Config, Discovery, PortRef};

fn check(values_file: &str) -> Config {
    let v = values::load(&root().join(values_file)).unwrap();
    let yaml = proxy_config::to_yaml(&v).unwrap();
    // The proxy's JSON Schema (what editors check a config against) accepts it too.
    let schema = serde_json::to_value(trinity_proxy::config::schema::schema()).unwrap();
    let doc: serde_json::Value = serde_yaml::from_str(&yaml).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let problems: Vec<String> = validator.iter_errors(&doc).map(|e| e.to_string()).collect();
    assert!(problems.is_empty(), "{problems:?}\n---\n{yaml}");
    Config::parse(&yaml, "trinity-proxy ConfigMap")
        .unwrap_or_else(|e| panic!("the proxy rejects the rendered config:\n{e}\n---\n{yaml}"))
}

#[test]
fn rendered_proxy_config_is_accepted_by_the_proxy() {
    for file in ["config/stack.yaml", "deploy/tests/values/full.yaml"] {
        let config = check(file);
        assert_eq!(config.routes.len(), 6, "{file}");
        for u in &config.upstreams {
            let Discovery::Kubernetes(k) = &u.discovery else {
                panic!(
                    "{file}: upstream {} should use kubernetes discovery",
                    u.name
                )
            };
            // By name: the EndpointSlice's port, whatever number the Service itself listens on.
            assert!(matches!(k.port, PortRef::Name(_)), "{file}: {}", u.name);
            assert!(k.namespace.is_some(), "{file}: {}", u.name);
        }
        let admin = config.routes.iter().find(|r| r.name == "admin").unwrap();
        assert!(admin.redirect_trailing_slash);
        let statics = config
            .routes
            .iter()
            .find(|r| r.name == "django-static")
            .unwrap();
        assert_eq!(statics.upstream, admin.upstream, "{file}");
        assert_eq!(config.admin.port(), 9901);
    }
    // The full values run cloudflared: the proxy reads the visitor's address from Cloudflare.
    let tunnel = check("deploy/tests/values/full.yaml");
    let header = tunnel.client_ip.header.as_ref().map(|h| h.as_str());
    assert_eq!(header, Some("cf-connecting-ip"));
    assert!(!tunnel.client_ip.trusted_proxies.is_empty());
}

#[test]
fn the_configmap_in_k8s_carries_the_same_config() {
    let v = values::load(&root().join("config/stack.yaml")).unwrap();
    let rendered = proxy_config::to_yaml(&v).unwrap();
    let manifests = std::fs::read_to_string(root().join("k8s/14-trinity-proxy.yaml")).unwrap();
    let docs: Vec<serde_yaml::Value> = serde_yaml::Deserializer::from_str(&manifests)
        .map(|d| serde::Deserialize::deserialize(d).unwrap())
        .collect();
    let cm = docs
        .iter()
        .find(|d| {
            d["kind"] == "ConfigMap"
                && d["metadata"]["name"]
                    .as_str()
                    .is_some_and(|n| n.contains("proxy"))
        })
        .expect("the proxy ConfigMap in k8s/14-trinity-proxy.yaml");
    let text = cm["data"][proxy_config::CONFIG_KEY].as_str().unwrap();
    assert_eq!(text, rendered);
    Config::parse(text, "k8s/14-trinity-proxy.yaml").unwrap();
}
