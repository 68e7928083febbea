//! The component builder: what every component gets from it.

use super::*;
use crate::render::builder::Builder;
use crate::render::common::env;

#[test]
fn builder_pairs_volumes_with_mounts_and_lays_values_env_over_rendered_env() {
    let v = parse(
        "x",
        "components:\n  flight: {env: {MODE: fast, EXTRA: \"1\"}}\n",
    )
    .unwrap();
    let pod = Builder::new("flight", &v.flight, 1000)
        .port("flight", 8815)
        .env([env("MODE", "slow"), env("KEEP", "x")])
        .mount("data", "/data")
        .scratch("tmp", "/tmp")
        .claim("backups", "/backups", "backups-claim")
        .config_map("config", "/etc/x", "x-config")
        .low_ports()
        .read_only_root()
        .pod();
    let doc = serde_json::to_value(&pod).unwrap();
    let c = &doc["containers"][0];
    assert_eq!(c["image"], "trinity/flight:0.1.0");
    // Rendered order kept; the values' MODE replaces the rendered one in place, EXTRA comes last.
    let vars: Vec<(String, String)> = c["env"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| {
            (
                e["name"].as_str().unwrap().to_owned(),
                e["value"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    let want = [("MODE", "fast"), ("KEEP", "x"), ("EXTRA", "1")];
    assert_eq!(
        vars,
        want.map(|(a, b)| (a.to_owned(), b.to_owned())).to_vec()
    );
    // Every mount but the claim template's `data` has its volume, in the same order.
    let mounts: Vec<&str> = c["volumeMounts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    let volumes: Vec<&str> = doc["volumes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["name"].as_str().unwrap())
        .collect();
    assert_eq!(mounts, ["data", "tmp", "backups", "config"]);
    assert_eq!(volumes, ["tmp", "backups", "config"]);
    assert_eq!(c["volumeMounts"][3]["readOnly"], true);
    assert_eq!(
        doc["volumes"][1]["persistentVolumeClaim"]["claimName"],
        "backups-claim"
    );
    assert_eq!(c["securityContext"]["readOnlyRootFilesystem"], true);
    assert_eq!(doc["securityContext"]["runAsUser"], 1000);
    assert_eq!(
        doc["securityContext"]["sysctls"][0]["name"],
        "net.ipv4.ip_unprivileged_port_start"
    );
    // Nothing asked for, nothing rendered.
    let bare = serde_json::to_value(Builder::new("x", &v.web, 1000).pod()).unwrap();
    assert!(bare.get("volumes").is_none() && bare["containers"][0].get("env").is_none());
    assert!(bare["securityContext"].get("sysctls").is_none());
}
