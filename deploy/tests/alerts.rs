//! The PrometheusRule's alerts fire on synthetic series as meant, and only then: the rendered rules
//! run through `promtool test rules` with deploy/tests/alerts/trinity-proxy.test.yaml.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::process::Command;
use support::root;
use trinity_deploy::render::alerts;
use trinity_deploy::values;

fn promtool_test(rules: &serde_json::Value) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let file = serde_yaml::to_string(&serde_json::json!({ "groups": rules })).unwrap();
    std::fs::write(dir.path().join("rules.yaml"), file).unwrap();
    let test = dir.path().join("trinity-proxy.test.yaml");
    std::fs::copy(
        root().join("deploy/tests/alerts/trinity-proxy.test.yaml"),
        &test,
    )
    .unwrap();
    let out = Command::new("promtool")
        .args(["test", "rules"])
        .arg(&test)
        .output()
        .expect(
            "promtool (Debian package `prometheus`; `scripts/ensure-deps.sh test` installs it)",
        );
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[test]
fn rendered_alerts_pass_their_promtool_tests() {
    let v = values::parse("x", "monitoring: {enabled: true}\n").unwrap();
    let (ok, text) = promtool_test(&alerts::groups(&v));
    assert!(ok, "{text}");
}

#[test]
fn the_promtool_tests_catch_a_broken_rule() {
    // The same tests against rules whose 5xx threshold is off fail: they do check the alerts.
    let v = values::parse("x", "monitoring: {enabled: true}\n").unwrap();
    let mut rules = alerts::groups(&v);
    let r = rules[0]["rules"]
        .as_array_mut()
        .unwrap()
        .iter_mut()
        .find(|r| r["alert"] == "TrinityProxyHigh5xxRate")
        .unwrap();
    let expr = r["expr"].as_str().unwrap().replace("> 0.05", "> 0.5");
    r["expr"] = expr.into();
    let (ok, text) = promtool_test(&rules);
    assert!(!ok, "{text}");
    assert!(text.contains("TrinityProxyHigh5xxRate"), "{text}");
}
