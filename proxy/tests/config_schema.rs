//! The config file's JSON Schema: `trinity-proxy schema` prints what is committed as
//! `config/trinity-proxy.schema.json`, every shipped config validates against it and names it on
//! its first line, and typos or wrong types fail it.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::Command;

const SCHEMA_FILE: &str = "trinity-proxy.schema.json";
/// The shipped configs (the Makefile's CONFIGS).
const SHIPPED: [&str; 3] = ["trinity.yaml", "demo.yaml", "compose.yaml"];

fn config_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../config")
}

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(config_dir().join(SCHEMA_FILE)).unwrap();
    let schema: Value = serde_json::from_str(&text).unwrap();
    jsonschema::validator_for(&schema).unwrap()
}

fn yaml(text: &str) -> Value {
    serde_yaml::from_str(text).unwrap()
}

fn problems(v: &jsonschema::Validator, config: &Value) -> Vec<String> {
    v.iter_errors(config)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_committed_schema_is_what_the_binary_prints() {
    let out = Command::new(env!("CARGO_BIN_EXE_trinity-proxy"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(
        printed,
        trinity_proxy::config::schema::schema_text(),
        "the binary prints the library's schema"
    );
    let committed = std::fs::read_to_string(config_dir().join(SCHEMA_FILE)).unwrap_or_default();
    assert!(
        committed == printed,
        "config/{SCHEMA_FILE} is out of date with the config structs: run `make schema` and commit it"
    );
}

#[test]
fn every_shipped_config_validates_and_names_the_schema() {
    let v = validator();
    for f in SHIPPED {
        let text = std::fs::read_to_string(config_dir().join(f)).unwrap();
        assert_eq!(
            text.lines().next(),
            Some(format!("# yaml-language-server: $schema=./{SCHEMA_FILE}").as_str()),
            "{f}: first line"
        );
        assert_eq!(problems(&v, &yaml(&text)), Vec::<String>::new(), "{f}");
    }
}

/// A config the loader accepts, with every string shape the schema describes.
const FULL: &str = r#"
listeners: ["0.0.0.0:80", "[::]:8080"]
threads: 2
admin: "127.0.0.1:9901"
client_ip: { trusted_proxies: ["10.0.0.0/8", "fd00::/8", "192.168.1.1"], header: cf-connecting-ip }
routes:
  - name: api
    prefix: /api
    upstream: api
    timeouts: { connect: 500ms, read: 1h 30m }
    allow: ["10.0.0.0/8"]
    rate_limit: { per_second: 5, burst: 10 }
    max_body_size: 10MiB
    buffer_request_body: 65536
upstreams:
  api:
    endpoints: ["10.1.0.5:8000"]
    load_balancing: { hash: { header: x-user } }
    health_check: { path: /healthz, interval: 2s, timeout: 1s, expected_status: "200-399" }
    outlier_detection: { consecutive_failures: 5, base_ejection_time: 10s, max_ejection_percent: 50 }
  k8s:
    kubernetes: { service: web, port: http }
    load_balancing: least_request
limits: { max_header_bytes: 32KiB, max_headers: 100 }
shutdown: { drain_delay: 5s, timeout: 25s }
"#;

#[test]
fn what_the_loader_accepts_validates() {
    trinity_proxy::config::Config::parse(FULL, "full.yaml").unwrap();
    assert_eq!(problems(&validator(), &yaml(FULL)), Vec::<String>::new());
}

#[test]
fn typos_and_wrong_types_fail() {
    let v = validator();
    for (what, from, to) in [
        ("a misspelled key", "    prefix: /api", "    prefx: /api"),
        ("an unknown top-level key", "threads: 2", "thread: 2"),
        ("a number as a string", "threads: 2", "threads: two"),
        ("a duration without unit", "connect: 500ms", "connect: 500"),
        (
            "a size with a bad unit",
            "max_body_size: 10MiB",
            "max_body_size: 10 megs",
        ),
        (
            "a host name as address",
            "\"127.0.0.1:9901\"",
            "\"localhost:9901\"",
        ),
        ("an unknown balancer", "least_request", "random"),
        (
            "a hash without key",
            "{ hash: { header: x-user } }",
            "{ hash: {} }",
        ),
        ("a port out of range", "port: http", "port: 70000"),
    ] {
        let bad = FULL.replacen(from, to, 1);
        assert_ne!(bad, FULL, "{what}: the replacement applies");
        assert!(
            !problems(&v, &yaml(&bad)).is_empty(),
            "{what} passed the schema"
        );
    }
}
