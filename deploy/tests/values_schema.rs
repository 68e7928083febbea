//! The values file's JSON Schema: `trinity-deploy schema` prints what is committed as
//! `config/stack.schema.json`, config/stack.yaml validates against it and names it on its first
//! line, values the loader accepts validate, and typos or wrong types fail it.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use serde_json::Value;
use std::process::Command;
use support::root;
use trinity_deploy::values;

fn validator() -> jsonschema::Validator {
    let text = std::fs::read_to_string(root().join("config/stack.schema.json")).unwrap();
    jsonschema::validator_for(&serde_json::from_str::<Value>(&text).unwrap()).unwrap()
}

fn problems(v: &jsonschema::Validator, text: &str) -> Vec<String> {
    let doc: Value = serde_yaml::from_str(text).unwrap();
    v.iter_errors(&doc)
        .map(|e| format!("{}: {e}", e.instance_path()))
        .collect()
}

#[test]
fn the_committed_schema_is_what_the_binary_prints() {
    let out = Command::new(env!("CARGO_BIN_EXE_trinity-deploy"))
        .arg("schema")
        .output()
        .unwrap();
    assert!(out.status.success());
    let printed = String::from_utf8(out.stdout).unwrap();
    assert_eq!(printed, values::schema::schema_text());
    let committed =
        std::fs::read_to_string(root().join("config/stack.schema.json")).unwrap_or_default();
    assert!(
        committed == printed,
        "config/stack.schema.json is out of date with the values structs: run `make schema` and commit it"
    );
}

#[test]
fn the_shipped_values_validate_and_name_the_schema() {
    let text = std::fs::read_to_string(root().join("config/stack.yaml")).unwrap();
    assert_eq!(
        text.lines().next(),
        Some("# yaml-language-server: $schema=./stack.schema.json")
    );
    values::parse("config/stack.yaml", &text).unwrap();
    assert_eq!(problems(&validator(), &text), Vec::<String>::new());
}

/// Values the loader accepts, with the scalar shapes the schema describes.
const FULL: &str = r#"
namespace: trinity-prod
public_url: https://trinity.example.com
registry: registry.local:5000/acme
image_pull_policy: Always
image_pull_secrets: [regcred]
resources: { requests: { memory: 512Mi, cpu: 250m }, limits: { memory: 1Gi, cpu: 1 } }
proxy: { threads: 1, trusted_proxies: ["10.244.0.0/16"], trinity_ai_read_timeout: 300s }
apps: { django_static_prefix: /static/admin, celery_concurrency: 2 }
components:
  web: { tag: "1.2", replicas: 3, env: { LOG_LEVEL: debug }, digest: "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" }
monitoring: { enabled: true, labels: { release: kube-prometheus-stack } }
backups: { enabled: true, hour: 3, time_zone: Europe/Berlin }
"#;

#[test]
fn what_the_loader_accepts_validates() {
    values::parse("full.yaml", FULL).unwrap();
    assert_eq!(problems(&validator(), FULL), Vec::<String>::new());
}

#[test]
fn typos_and_wrong_types_fail() {
    let v = validator();
    for (what, from, to) in [
        (
            "a misspelled key",
            "image_pull_policy:",
            "image_pull_polcy:",
        ),
        ("a misspelled nested key", "replicas: 3", "replica: 3"),
        ("a string for a number", "threads: 1", "threads: one"),
        ("an unknown pull policy", "Always", "Sometimes"),
        ("an upper-case namespace", "trinity-prod", "Trinity"),
        ("a duration without unit", "300s", "300"),
        ("an hour past 23", "hour: 3", "hour: 24"),
        ("a bad env name", "LOG_LEVEL", "LOG-LEVEL"),
        (
            "a short digest",
            "sha256:0123456789abcdef0123",
            "sha256:0123",
        ),
    ] {
        let bad = FULL.replacen(from, to, 1);
        assert_ne!(bad, FULL, "{what}: the replacement applies");
        assert!(
            values::parse("bad.yaml", &bad).is_err(),
            "{what}: the loader refuses it too"
        );
        assert!(!problems(&v, &bad).is_empty(), "{what} passed the schema");
    }
}
