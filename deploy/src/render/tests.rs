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

/// The env of `container` in the pod template of the `kind/name` object, as (name, literal value).
fn env_of(ms: &[crate::object::Manifest], kind: &str, name: &str) -> Vec<(String, Option<String>)> {
    let m = ms
        .iter()
        .find(|m| m.object.kind() == kind && m.object.name() == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"));
    let doc = serde_json::to_value(&m.object).unwrap();
    let pod = if kind == "CronJob" {
        &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    } else {
        &doc["spec"]["template"]["spec"]
    };
    pod["containers"][0]["env"]
        .as_array()
        .map(|vars| {
            vars.iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap().to_owned(),
                        e["value"].as_str().map(str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn literal(vars: &[(String, Option<String>)], name: &str) -> Option<String> {
    vars.iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.clone())
}

#[test]
fn public_url_feeds_django_and_the_minio_console() {
    let v = parse(
        "x",
        "public_url: https://trinity.example.com\napps: {probe_host: probe.local}\n",
    )
    .unwrap();
    let ms = render(&v).unwrap();
    let migrate = migration_name(&v.web.tag);
    for (kind, name) in [
        ("Deployment", "web"),
        ("Deployment", "celery"),
        ("Job", migrate.as_str()),
    ] {
        let vars = env_of(&ms, kind, name);
        assert_eq!(
            literal(&vars, "DJANGO_ALLOWED_HOSTS").as_deref(),
            Some("trinity.example.com,probe.local"),
            "{kind}/{name}"
        );
        assert_eq!(
            literal(&vars, "DJANGO_CSRF_TRUSTED_ORIGINS").as_deref(),
            Some("https://trinity.example.com"),
            "{kind}/{name}"
        );
        assert_eq!(
            literal(&vars, "DJANGO_SECURE_PROXY_SSL_HEADER").as_deref(),
            Some("HTTP_X_FORWARDED_PROTO,https"),
            "{kind}/{name}"
        );
    }
    // Not a Django app: no Django settings.
    assert_eq!(
        literal(
            &env_of(&ms, "Deployment", "fastapi"),
            "DJANGO_ALLOWED_HOSTS"
        ),
        None
    );
    assert_eq!(
        literal(
            &env_of(&ms, "StatefulSet", "minio"),
            "MINIO_BROWSER_REDIRECT_URL"
        )
        .as_deref(),
        Some("https://trinity.example.com/minio-console")
    );
    // Defaults: the port-forward address, the probe host once.
    let ms = render(&defaults()).unwrap();
    let vars = env_of(&ms, "Deployment", "web");
    assert_eq!(
        literal(&vars, "DJANGO_ALLOWED_HOSTS").as_deref(),
        Some("localhost")
    );
    assert_eq!(
        literal(&vars, "DJANGO_CSRF_TRUSTED_ORIGINS").as_deref(),
        Some("http://localhost:8080")
    );
}

#[test]
fn component_env_adds_and_replaces_rendered_values() {
    let v = parse(
        "x",
        "components:\n  web:\n    env: {LOG_LEVEL: debug, DJANGO_ALLOWED_HOSTS: \"a.example.com,localhost\"}\n  \
         postgres:\n    env: {POSTGRES_INITDB_ARGS: \"--data-checksums\"}\n",
    )
    .unwrap();
    let ms = render(&v).unwrap();
    let web = env_of(&ms, "Deployment", "web");
    assert_eq!(literal(&web, "LOG_LEVEL").as_deref(), Some("debug"));
    assert_eq!(
        literal(&web, "DJANGO_ALLOWED_HOSTS").as_deref(),
        Some("a.example.com,localhost")
    );
    assert_eq!(
        web.iter()
            .filter(|(n, _)| n == "DJANGO_ALLOWED_HOSTS")
            .count(),
        1
    );
    // The migration runs web's image with web's settings.
    let migrate = env_of(&ms, "Job", &migration_name(&v.web.tag));
    assert_eq!(literal(&migrate, "LOG_LEVEL").as_deref(), Some("debug"));
    // Other components are untouched.
    assert_eq!(
        literal(&env_of(&ms, "Deployment", "celery"), "LOG_LEVEL"),
        None
    );
    let pg = env_of(&ms, "StatefulSet", "postgres");
    assert_eq!(
        literal(&pg, "POSTGRES_INITDB_ARGS").as_deref(),
        Some("--data-checksums")
    );
    assert!(pg.iter().any(|(n, _)| n == "POSTGRES_PASSWORD"));
    // A component without `env:` and without rendered env gets none.
    assert!(env_of(&ms, "Deployment", "frontend").is_empty());
}

#[test]
fn every_env_var_read_from_a_secret_is_listed_as_one() {
    let v = parse("x", ALL_ON).unwrap();
    let text = to_yaml(&render(&v).unwrap()).unwrap();
    let mut from_secrets = Vec::new();
    for doc in text.split("\n---\n").skip(1) {
        let doc: serde_yaml::Value = serde_yaml::from_str(doc).unwrap();
        fn walk(v: &serde_yaml::Value, out: &mut Vec<String>) {
            match v {
                serde_yaml::Value::Mapping(m) => {
                    if m.get("valueFrom")
                        .is_some_and(|f| f.get("secretKeyRef").is_some())
                    {
                        out.push(m["name"].as_str().unwrap().to_owned());
                    }
                    m.values().for_each(|x| walk(x, out));
                }
                serde_yaml::Value::Sequence(s) => s.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(&doc, &mut from_secrets);
    }
    assert!(from_secrets.len() > 10, "{from_secrets:?}");
    for name in &from_secrets {
        assert!(
            crate::secrets::secret_of_env(name).is_some(),
            "{name} is read from a Secret but missing from secrets::SECRET_ENV"
        );
    }
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
fn every_pod_pulls_with_the_values_pull_secrets_and_policy() {
    let text = format!(
        "{ALL_ON}registry: ghcr.io/acme\nimage_pull_policy: Always\nimage_pull_secrets: [regcred]\n"
    );
    let ms = render(&parse("x", &text).unwrap()).unwrap();
    let mut pods = 0;
    for m in &ms {
        let doc = serde_json::to_value(&m.object).unwrap();
        let pod = match m.object.kind() {
            "Deployment" | "StatefulSet" | "Job" => &doc["spec"]["template"]["spec"],
            "CronJob" => &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"],
            _ => continue,
        };
        pods += 1;
        let name = m.object.name();
        assert_eq!(
            pod["imagePullSecrets"],
            serde_json::json!([{"name": "regcred"}]),
            "{name}"
        );
        let c = &pod["containers"][0];
        let image = c["image"].as_str().unwrap();
        let ours = image.starts_with("ghcr.io/acme/trinity/");
        let policy = if ours { "Always" } else { "IfNotPresent" };
        assert_eq!(
            c["imagePullPolicy"].as_str(),
            Some(policy),
            "{name}: {image}"
        );
    }
    assert!(pods >= 15, "{pods}");
    // Without the key: no imagePullSecrets anywhere.
    let yaml = to_yaml(&render(&defaults()).unwrap()).unwrap();
    assert!(!yaml.contains("imagePullSecrets"));
    assert!(yaml.contains("image: trinity/web:0.1.0\n"));
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

/// The pod spec of the Deployment `name`, as JSON.
fn pod_of(ms: &[crate::object::Manifest], name: &str) -> serde_json::Value {
    let m = ms
        .iter()
        .find(|m| m.object.kind() == "Deployment" && m.object.name() == name)
        .unwrap_or_else(|| panic!("no Deployment/{name}"));
    serde_json::to_value(&m.object).unwrap()["spec"]["template"]["spec"].clone()
}

#[test]
fn proxy_spreads_hard_and_the_replicated_apps_soft_with_disruption_budgets() {
    let ms = render(&parse("x", ALL_ON).unwrap()).unwrap();
    for (name, when) in [
        ("trinity-proxy", "DoNotSchedule"),
        ("web", "ScheduleAnyway"),
        ("fastapi", "ScheduleAnyway"),
        ("frontend", "ScheduleAnyway"),
    ] {
        let spread = &pod_of(&ms, name)["topologySpreadConstraints"][0];
        assert_eq!(spread["whenUnsatisfiable"], when, "{name}");
        assert_eq!(spread["topologyKey"], "kubernetes.io/hostname", "{name}");
        assert_eq!(spread["maxSkew"], 1, "{name}");
        assert_eq!(spread["matchLabelKeys"][0], "pod-template-hash", "{name}");
        let budget = ms
            .iter()
            .find(|m| m.object.kind() == "PodDisruptionBudget" && m.object.name() == name)
            .unwrap_or_else(|| panic!("no PodDisruptionBudget/{name}"));
        let budget = serde_json::to_value(&budget.object).unwrap();
        assert_eq!(budget["spec"]["maxUnavailable"], 1, "{name}");
    }
}

#[test]
fn proxy_and_cloudflared_run_on_a_read_only_root() {
    let ms = render(&parse("x", ALL_ON).unwrap()).unwrap();
    for name in ["trinity-proxy", "cloudflared"] {
        let c = &pod_of(&ms, name)["containers"][0];
        assert_eq!(
            c["securityContext"]["readOnlyRootFilesystem"], true,
            "{name}"
        );
    }
}

#[test]
fn celery_runs_bounded_workers_and_a_rare_liveness_probe() {
    let v = parse(
        "x",
        "apps: {celery_concurrency: 3, celery_max_tasks_per_child: 50}\n",
    )
    .unwrap();
    let ms = render(&v).unwrap();
    let c = &pod_of(&ms, "celery")["containers"][0];
    let args: Vec<&str> = c["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    assert!(args.contains(&"--concurrency=3"), "{args:?}");
    assert!(args.contains(&"--max-tasks-per-child=50"), "{args:?}");
    let live = &c["livenessProbe"];
    assert!(live["periodSeconds"].as_i64().unwrap() >= 300, "{live}");
    assert!(live["timeoutSeconds"].as_i64().unwrap() >= 60, "{live}");
}

#[test]
fn app_containers_get_a_writable_home() {
    let ms = render(&defaults()).unwrap();
    let migrate = migration_name(&defaults().web.tag);
    for (kind, name) in [
        ("Deployment", "web"),
        ("Deployment", "fastapi"),
        ("Deployment", "trinity-ai"),
        ("Deployment", "celery"),
        ("Deployment", "flight"),
        ("Job", migrate.as_str()),
    ] {
        assert_eq!(
            literal(&env_of(&ms, kind, name), "HOME").as_deref(),
            Some("/tmp"),
            "{kind}/{name}"
        );
        let m = ms
            .iter()
            .find(|m| m.object.kind() == kind && m.object.name() == name)
            .unwrap();
        let pod = serde_json::to_value(&m.object).unwrap()["spec"]["template"]["spec"].clone();
        let mount = &pod["containers"][0]["volumeMounts"][0];
        assert_eq!(mount["mountPath"], "/tmp", "{kind}/{name}");
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|vol| vol["name"] == mount["name"])
            .unwrap()
            .clone();
        assert!(volume["emptyDir"].is_object(), "{kind}/{name}: {volume}");
    }
}

#[test]
fn monitoring_objects_carry_the_operators_selector_labels() {
    let text = format!(
        "{ALL_ON}monitoring: {{enabled: true, labels: {{release: kube-prometheus-stack}}}}\n"
    );
    let text = text.replace("monitoring: {enabled: true}\n", "");
    let ms = render(&parse("x", &text).unwrap()).unwrap();
    for kind in ["ServiceMonitor", "PrometheusRule"] {
        let m = ms.iter().find(|m| m.object.kind() == kind).unwrap();
        let doc = serde_json::to_value(&m.object).unwrap();
        assert_eq!(
            doc["metadata"]["labels"]["release"], "kube-prometheus-stack",
            "{kind}"
        );
        // The stack's own labels stay.
        assert_eq!(
            doc["metadata"]["labels"]["app.kubernetes.io/part-of"], "trinity",
            "{kind}"
        );
    }
}

#[test]
fn backups_keep_dated_minio_snapshots_in_the_time_zone() {
    let v = parse(
        "x",
        "backups: {enabled: true, retention_days: 5, time_zone: Europe/Berlin}\n",
    )
    .unwrap();
    let ms = render(&v).unwrap();
    let crons: Vec<serde_json::Value> = ms
        .iter()
        .filter(|m| m.object.kind() == "CronJob")
        .map(|m| serde_json::to_value(&m.object).unwrap())
        .collect();
    assert_eq!(crons.len(), 3);
    for c in &crons {
        assert_eq!(
            c["spec"]["timeZone"], "Europe/Berlin",
            "{}",
            c["metadata"]["name"]
        );
    }
    let minio = crons
        .iter()
        .find(|c| c["metadata"]["name"] == "backup-minio")
        .unwrap();
    let script =
        minio["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["command"][2]
            .as_str()
            .unwrap();
    assert!(!script.contains("--remove"), "{script}");
    assert!(
        script.contains("dir=/backups/minio/$(date +%Y%m%d-%H%M%S)"),
        "{script}"
    );
    assert!(script.contains("mc mirror trinity \"$dir\""), "{script}");
    assert!(
        script.contains("--older-than 5d /backups/minio"),
        "{script}"
    );
    let claim = ms
        .iter()
        .find(|m| m.object.kind() == "PersistentVolumeClaim" && m.object.name() == "backups")
        .unwrap();
    let claim = serde_json::to_value(&claim.object).unwrap();
    assert_eq!(claim["spec"]["resources"]["requests"]["storage"], "100Gi");
    // No zone given: the field is left to the cluster.
    let plain =
        to_yaml(&render(&parse("x", "backups: {enabled: true}\n").unwrap()).unwrap()).unwrap();
    assert!(!plain.contains("timeZone"));
}
