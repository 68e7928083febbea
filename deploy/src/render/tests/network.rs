//! Routing and reachability: client-IP trust behind cloudflared, NetworkPolicies, proxy routes and upstream ports.

use super::*;

#[test]
fn workloads_with_a_node_port_admit_it_from_anywhere() {
    // (policy name, the container ports it admits) per render.
    let policies = |text: &str| -> Vec<(String, Vec<i32>)> {
        let ms = render(&parse("x", text).unwrap()).unwrap();
        let container_ports = |app: &str| -> Vec<i32> {
            ms.iter()
                .filter_map(|m| {
                    let doc = serde_json::to_value(&m.object).ok()?;
                    let labels = &doc["spec"]["template"]["metadata"]["labels"];
                    (labels["app.kubernetes.io/name"] == app).then(|| {
                        doc["spec"]["template"]["spec"]["containers"][0]["ports"]
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|p| p["containerPort"].as_i64().unwrap() as i32)
                            .collect::<Vec<_>>()
                    })
                })
                .flatten()
                .collect()
        };
        ms.iter()
            .filter_map(|m| match &m.object {
                Object::NetworkPolicy(p) if m.object.name().starts_with("node-port-") => Some(p),
                _ => None,
            })
            .map(|p| {
                let spec = p.spec.as_ref().unwrap();
                let app = &spec
                    .pod_selector
                    .as_ref()
                    .unwrap()
                    .match_labels
                    .as_ref()
                    .unwrap()["app.kubernetes.io/name"];
                let rule = &spec.ingress.as_ref().unwrap()[0];
                assert!(rule.from.is_none(), "{rule:?}");
                let ports: Vec<i32> = rule
                    .ports
                    .iter()
                    .flatten()
                    .map(|p| match p.port {
                        Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(n)) => {
                            n
                        }
                        _ => panic!("{p:?}"),
                    })
                    .collect();
                let open = container_ports(app);
                assert!(
                    ports.iter().all(|p| open.contains(p)),
                    "{app}: {ports:?} vs {open:?}"
                );
                (p.metadata.name.clone().unwrap(), ports)
            })
            .collect()
    };
    assert!(policies("").is_empty());
    let apps = policies("node_ports: {enabled: true}\n");
    let names: Vec<&str> = apps.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(
        names,
        [
            "node-port-fastapi",
            "node-port-flight",
            "node-port-frontend",
            "node-port-trinity-ai",
            "node-port-web"
        ]
    );
    let all = policies("node_ports: {enabled: true, expose_databases: true}\n");
    assert_eq!(all.len(), 9);
    assert!(all.contains(&("node-port-minio".to_owned(), vec![9000, 9001])));
}

#[test]
fn behind_cloudflared_the_proxy_trusts_the_pods_and_cf_connecting_ip() {
    let client_ip = |text: &str| {
        let cfg: serde_yaml::Value =
            serde_yaml::from_str(&proxy_config::to_yaml(&parse("x", text).unwrap()).unwrap())
                .unwrap();
        cfg["client_ip"].clone()
    };
    let tunnel = client_ip(ALL_ON);
    assert_eq!(tunnel["header"].as_str(), Some("cf-connecting-ip"));
    assert_eq!(tunnel["trusted_proxies"][0].as_str(), Some("10.244.0.0/16"));
    // Trusted proxies without a tunnel: X-Forwarded-For, no header.
    let plain = client_ip("proxy: {trusted_proxies: [\"10.0.0.0/8\"]}\n");
    assert!(plain["header"].is_null(), "{plain:?}");
    assert!(client_ip("").is_null());
}

#[test]
fn cloudflared_egress_reaches_any_dns_and_the_edge_over_ipv4_and_ipv6() {
    let v = parse("x", ALL_ON).unwrap();
    let ms = render(&v).unwrap();
    let policy = ms
        .iter()
        .find_map(|m| match &m.object {
            Object::NetworkPolicy(p) if m.object.name() == "cloudflared-to-proxy-only" => Some(p),
            _ => None,
        })
        .unwrap();
    let egress = policy.spec.as_ref().unwrap().egress.as_ref().unwrap();
    let ports = |r: &k8s_openapi::api::networking::v1::NetworkPolicyEgressRule| -> Vec<String> {
        r.ports
            .iter()
            .flatten()
            .map(|p| {
                format!(
                    "{}/{:?}",
                    p.protocol.as_deref().unwrap(),
                    p.port.as_ref().unwrap()
                )
            })
            .collect()
    };
    // DNS: port 53 to any address, so a node-local cache on 169.254.20.10 (host network) answers.
    let dns = egress
        .iter()
        .find(|r| ports(r).iter().any(|p| p.contains("Int(53)")))
        .unwrap();
    assert!(dns.to.is_none(), "{dns:?}");
    assert_eq!(ports(dns).len(), 2);
    let edge = egress
        .iter()
        .find(|r| ports(r).iter().any(|p| p.contains("Int(7844)")))
        .unwrap();
    let cidrs: Vec<&str> = edge
        .to
        .iter()
        .flatten()
        .map(|p| p.ip_block.as_ref().unwrap().cidr.as_str())
        .collect();
    assert_eq!(cidrs, ["0.0.0.0/0", "::/0"]);
    assert!(
        ports(edge).contains(&"UDP/Int(7844)".to_owned()),
        "{:?}",
        ports(edge)
    );
}

#[test]
fn django_admin_static_files_route_to_web() {
    let route = |text: &str| {
        let cfg: serde_yaml::Value =
            serde_yaml::from_str(&proxy_config::to_yaml(&parse("x", text).unwrap()).unwrap())
                .unwrap();
        let r = cfg["routes"]
            .as_sequence()
            .unwrap()
            .iter()
            .find(|r| r["name"] == "django-static")
            .cloned()
            .unwrap();
        (
            r["prefix"].as_str().unwrap().to_owned(),
            r["upstream"].as_str().unwrap().to_owned(),
        )
    };
    assert_eq!(route(""), ("/static/admin".to_owned(), "web".to_owned()));
    assert_eq!(
        route("apps: {django_static_prefix: /django-static}\n"),
        ("/django-static".to_owned(), "web".to_owned())
    );
}

#[test]
fn every_upstream_names_a_port_of_its_service() {
    let v = defaults();
    let ms = render(&v).unwrap();
    let cfg = proxy_config::build(&v);
    for (name, up) in &cfg.upstreams {
        let k = &up.kubernetes;
        let svc = ms
            .iter()
            .find_map(|m| match &m.object {
                Object::Service(s) if m.object.name() == k.service => Some(s),
                _ => None,
            })
            .unwrap_or_else(|| panic!("{name}: no Service {}", k.service));
        let ports = svc.spec.as_ref().unwrap().ports.as_ref().unwrap();
        assert!(
            ports
                .iter()
                .any(|p| p.name.as_deref() == Some(k.port.as_str())),
            "{name}: Service {} has no port named {}",
            k.service,
            k.port
        );
    }
}
