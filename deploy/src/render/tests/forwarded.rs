//! `FORWARDED_ALLOW_IPS`: set on exactly the Python HTTP servers the proxy fronts, and sound because
//! the NetworkPolicies let only pods (the proxy and the apps) reach them.

use super::*;
use crate::object::Manifest;
use std::collections::BTreeMap;

/// (workload, value of its first container's `FORWARDED_ALLOW_IPS`) for every pod template.
fn forwarded_allow_ips(ms: &[Manifest]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in ms {
        let doc = serde_json::to_value(&m.object).unwrap();
        let spec = &doc["spec"];
        let pod = match m.object.kind() {
            "CronJob" => &spec["jobTemplate"]["spec"]["template"]["spec"],
            _ => &spec["template"]["spec"],
        };
        for c in pod["containers"].as_array().into_iter().flatten() {
            for e in c["env"].as_array().into_iter().flatten() {
                if e["name"] == apps::FORWARDED_ALLOW_IPS {
                    let value = e["value"].as_str().unwrap().to_owned();
                    out.push((m.object.name().to_owned(), value));
                }
            }
        }
    }
    out.sort();
    out
}

/// The pod template labels of the Deployment `name`.
fn pod_labels(ms: &[Manifest], name: &str) -> BTreeMap<String, String> {
    let m = ms
        .iter()
        .find(|m| m.object.kind() == "Deployment" && m.object.name() == name)
        .unwrap();
    serde_json::from_value(
        serde_json::to_value(&m.object).unwrap()["spec"]["template"]["metadata"]["labels"].clone(),
    )
    .unwrap()
}

/// The web, fastapi and trinity-ai containers run gunicorn or uvicorn; the proxy's other upstreams
/// (frontend: nginx, the MinIO console) read no such variable.
const SERVERS: [&str; 3] = ["fastapi", "trinity-ai", "web"];

#[test]
fn forwarded_allow_ips_is_on_exactly_the_python_servers_behind_the_proxy() {
    let v = defaults();
    let ms = render(&v).unwrap();
    let want: Vec<(String, String)> = SERVERS
        .iter()
        .map(|s| ((*s).to_owned(), "10.244.0.0/16".to_owned()))
        .collect();
    assert_eq!(forwarded_allow_ips(&ms), want);
    // Each of them is an upstream of the proxy.
    let upstreams: Vec<String> = proxy_config::build(&v)
        .upstreams
        .values()
        .map(|u| u.kubernetes.service.clone())
        .collect();
    for s in SERVERS {
        assert!(upstreams.iter().any(|u| u == s), "{s}: {upstreams:?}");
    }

    // Several networks are one comma-separated list; none renders no variable.
    let two = parse(
        "x",
        "apps: {forwarded_allow_ips: [\"10.0.0.0/8\", \"fd00:10::/56\"]}\n",
    )
    .unwrap();
    let got = forwarded_allow_ips(&render(&two).unwrap());
    assert_eq!(got.len(), 3);
    assert!(
        got.iter().all(|(_, v)| v == "10.0.0.0/8,fd00:10::/56"),
        "{got:?}"
    );
    let none = parse("x", "apps: {forwarded_allow_ips: []}\n").unwrap();
    assert!(forwarded_allow_ips(&render(&none).unwrap()).is_empty());
}

/// The NetworkPolicies selecting web, fastapi and trinity-ai whose ingress admits something other
/// than pods of this namespace labelled tier `edge` (the proxy) or `app`: (policy, why).
fn non_pod_sources(ms: &[Manifest]) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for m in ms {
        let Object::NetworkPolicy(p) = &m.object else {
            continue;
        };
        let spec = p.spec.as_ref().unwrap();
        let selector = spec.pod_selector.as_ref().unwrap();
        assert!(selector.match_expressions.is_none());
        let wanted = selector.match_labels.clone().unwrap_or_default();
        let selects = SERVERS.iter().any(|s| {
            let labels = pod_labels(ms, s);
            wanted.iter().all(|(k, v)| labels.get(k) == Some(v))
        });
        if !selects {
            continue;
        }
        let name = m.object.name().to_owned();
        for rule in spec.ingress.iter().flatten() {
            let Some(from) = &rule.from else {
                out.push((name.clone(), "from anywhere".to_owned()));
                continue;
            };
            for peer in from {
                let tier = peer
                    .pod_selector
                    .as_ref()
                    .and_then(|s| s.match_labels.as_ref())
                    .and_then(|l| l.get("trinity.io/tier"));
                let ok = peer.ip_block.is_none()
                    && peer.namespace_selector.is_none()
                    && matches!(tier.map(String::as_str), Some("edge" | "app"));
                if !ok {
                    out.push((name.clone(), format!("{peer:?}")));
                }
            }
        }
    }
    out
}

#[test]
fn only_the_proxy_and_app_pods_can_send_them_forwarding_headers() {
    let ms = render(&defaults()).unwrap();
    // Ingress to them is restricted at all (default deny) and admits pods only.
    let deny = ms
        .iter()
        .any(|m| m.object.kind() == "NetworkPolicy" && m.object.name() == "default-deny-ingress");
    assert!(deny);
    assert_eq!(non_pod_sources(&ms), []);
    // Tier `edge` is the proxy alone; cloudflared (tier `tunnel`) may reach only the proxy.
    let all = render(&parse("x", ALL_ON).unwrap()).unwrap();
    assert_eq!(non_pod_sources(&all), []);
    let edge: Vec<&str> = all
        .iter()
        .filter(|m| m.object.kind() == "Deployment")
        .map(|m| m.object.name())
        .filter(|n| {
            pod_labels(&all, n)
                .get("trinity.io/tier")
                .map(String::as_str)
                == Some("edge")
        })
        .collect();
    assert_eq!(edge, [PROXY_NAME]);
    // NodePorts bypass the proxy: their policies admit anyone (README: node ports are for
    // debugging; a client of those ports sets its own forwarding headers).
    let np = render(&parse("x", "node_ports: {enabled: true}\n").unwrap()).unwrap();
    let mut names: Vec<String> = non_pod_sources(&np).into_iter().map(|(n, _)| n).collect();
    names.sort();
    assert_eq!(
        names,
        ["node-port-fastapi", "node-port-trinity-ai", "node-port-web"]
    );
}
