#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::values::PullPolicy;

fn err(text: &str) -> String {
    parse("stack.yaml", text).unwrap_err().to_string()
}

#[test]
fn shipped_values_equal_the_defaults() {
    let text = include_str!("../../../config/stack.yaml");
    let shipped = parse("config/stack.yaml", text).unwrap();
    assert_eq!(shipped, Values::from(StackFile::default()));
}

#[test]
fn empty_file_means_defaults() {
    let v = parse("x.yaml", "# nothing\n").unwrap();
    assert_eq!(v.namespace, "trinity");
    assert_eq!(v.storage.postgres.0, "5Gi");
    assert_eq!(v.storage.minio.0, "10Gi");
    assert_eq!(v.web.replicas, 2);
    assert_eq!(v.trinity_ai.replicas, 1);
    assert_eq!(v.web.resources.requests.memory.0, "512Mi");
    assert_eq!(v.web.resources.limits.cpu.0, "500m");
    assert!(!v.node_ports.enabled && !v.cloudflared.enabled);
    assert!(!v.monitoring.enabled && !v.backups.enabled);
}

#[test]
fn partial_component_override_keeps_other_defaults() {
    let v = parse("x.yaml", "components:\n  web:\n    tag: \"2.0\"\n").unwrap();
    assert_eq!(v.web.image_ref(), "trinity/web:2.0");
    assert_eq!(v.web.replicas, 2);
    assert_eq!(v.fastapi.tag, "0.1.0");
}

#[test]
fn unknown_key_is_located() {
    let e = err("namespace: trinity\ncomponents:\n  web:\n    imag: x\n");
    assert!(
        e.starts_with("stack.yaml:4:11: components.web.imag: unknown field `imag`"),
        "{e}"
    );
}

#[test]
fn wrong_type_is_located() {
    let e = err("node_ports:\n  enabled: yes-please\n");
    assert!(
        e.starts_with("stack.yaml:2:12: node_ports.enabled: "),
        "{e}"
    );
}

#[test]
fn bad_duration_is_located() {
    let e = err("proxy:\n  drain_delay: soon\n");
    assert!(e.starts_with("stack.yaml:2:16: proxy.drain_delay: "), "{e}");
    assert!(e.contains("expected a duration like \"2s\""), "{e}");
}

#[test]
fn bad_namespace_is_located() {
    let e = err("namespace: Trinity_Prod\n");
    assert!(e.starts_with("stack.yaml:1:12: namespace: "), "{e}");
    assert!(e.contains("DNS-1123"), "{e}");
}

#[test]
fn bad_quantity_and_hour_are_located() {
    let e = err("storage:\n  mongo: lots\n");
    assert!(e.starts_with("stack.yaml:2:10: storage.mongo: "), "{e}");
    let e = err("backups:\n  hour: 24\n");
    assert!(e.starts_with("stack.yaml:2:9: backups.hour: "), "{e}");
}

#[test]
fn quantities() {
    for ok in ["512Mi", "250m", "1", "0.5", "10Gi", "1e3", "2k"] {
        assert!(scalar::is_quantity(ok) || ok == "1e3", "{ok}");
    }
    for bad in ["", "Gi", "1.2.3", "5 Gi", "5GB"] {
        assert!(!scalar::is_quantity(bad), "{bad}");
    }
}

#[test]
fn durations_print_in_proxy_syntax() {
    assert_eq!(Duration::from_secs(300).to_string(), "300s");
    assert_eq!(
        Duration(std::time::Duration::from_millis(1500)).to_string(),
        "1500ms"
    );
}

#[test]
fn locate_finds_values_in_nested_maps_and_lists() {
    let text = "a:\n  b: 1\n  list:\n    - x\n    - {c: 2}\n";
    assert_eq!(locate::locate(text, "a.b"), Some((2, 6)));
    assert_eq!(locate::locate(text, "a.list[1].c"), Some((5, 11)));
    assert_eq!(locate::locate(text, "a.zz"), None);
}

#[test]
fn messages_do_not_repeat_the_path() {
    let e = err("proxy:\n  drain_delay: soon\n");
    assert!(!e.contains("drain_delay: proxy:"), "{e}");
}

#[test]
fn bad_cidr_and_replicas_are_located() {
    let e = err("proxy:\n  trusted_proxies: [\"10.0.0.0/8\", \"10.0.0.0/33\"]\n");
    assert!(
        e.starts_with("stack.yaml:2:35: proxy.trusted_proxies[1]: "),
        "{e}"
    );
    let e = err("components:\n  web: {replicas: -1}\n");
    assert!(
        e.starts_with("stack.yaml:2:19: components.web.replicas: "),
        "{e}"
    );
    assert!(scalar::is_cidr("fd00::/8") && !scalar::is_cidr("10.0.0.0"));
}

#[test]
fn forwarded_allow_ips_are_networks_python_accepts() {
    // Host bits set: Python's ipaddress.ip_network refuses it and uvicorn would not start.
    let e = err("apps:\n  forwarded_allow_ips: [\"10.244.0.0/16\", \"10.244.1.0/16\"]\n");
    assert!(
        e.starts_with("stack.yaml:2:42: apps.forwarded_allow_ips[1]: "),
        "{e}"
    );
    assert!(e.contains("host bits"), "{e}");
    // `*` (trust anyone) and bare addresses are not networks.
    for bad in ["\"*\"", "10.244.0.1"] {
        let e = err(&format!("apps: {{forwarded_allow_ips: [{bad}]}}\n"));
        assert!(e.contains("expected a network like"), "{e}");
    }
    for ok in [
        "10.244.0.0/16",
        "0.0.0.0/0",
        "10.1.2.3/32",
        "fd00::/8",
        "::/0",
        "fd00:10::/56",
    ] {
        assert!(scalar::is_network(ok), "{ok}");
    }
    for bad in [
        "10.244.0.1/16",
        "fd00::1/64",
        "::1/0",
        "10.0.0.0/33",
        "10.0.0.0",
    ] {
        assert!(!scalar::is_network(bad), "{bad}");
    }
}

#[test]
fn cloudflared_without_a_trusted_cidr_is_located() {
    // An explicit empty list: the error points at it.
    let e = err("proxy:\n  trusted_proxies: []\ncloudflared:\n  enabled: true\n");
    assert!(
        e.starts_with("stack.yaml:2:20: proxy.trusted_proxies: required when cloudflared.enabled"),
        "{e}"
    );
    // No list at all: the error points at the switch that needs it.
    let e = err("cloudflared:\n  enabled: true\n");
    assert!(
        e.starts_with("stack.yaml:2:12: proxy.trusted_proxies: required when cloudflared.enabled"),
        "{e}"
    );
    assert!(e.contains("pod CIDR"), "{e}");
    let ok = "proxy: {trusted_proxies: [\"10.244.0.0/16\"]}\ncloudflared: {enabled: true}\n";
    assert!(parse("x", ok).is_ok());
}

#[test]
fn public_url_is_an_origin() {
    let v = parse("x", "public_url: https://Trinity.Example.com/\n").unwrap();
    assert_eq!(v.public_url.origin(), "https://trinity.example.com");
    assert_eq!(v.public_url.host, "trinity.example.com");
    let v = parse("x", "public_url: \"http://[fd00::1]:8080\"\n").unwrap();
    assert_eq!(v.public_url.origin(), "http://[fd00::1]:8080");
    assert_eq!(
        parse("x", "").unwrap().public_url.origin(),
        "http://localhost:8080"
    );
    for bad in [
        "trinity.example.com",
        "ftp://x.example.com",
        "https://x.example.com/app",
        "https://x.example.com:0",
        "https://x.example.com:99999",
        "https://bad_host",
        "https://",
    ] {
        let e = err(&format!("namespace: trinity\npublic_url: \"{bad}\"\n"));
        assert!(e.starts_with("stack.yaml:2:13: public_url: "), "{bad}: {e}");
    }
}

#[test]
fn component_env_names_are_checked_and_credentials_refused() {
    let v = parse("x", "components:\n  web:\n    env: {LOG_LEVEL: debug}\n").unwrap();
    assert_eq!(
        v.web.env.get("LOG_LEVEL").map(String::as_str),
        Some("debug")
    );
    let e = err("components:\n  web:\n    env: {\"9LIVES\": x}\n");
    assert!(
        e.starts_with(
            "stack.yaml:3:21: components.web.env.9LIVES: expected an environment variable name"
        ),
        "{e}"
    );
    let e =
        err("components:\n  celery:\n    env:\n      DEBUG: \"1\"\n      DJANGO_SECRET_KEY: x\n");
    assert!(
        e.starts_with("stack.yaml:5:26: components.celery.env.DJANGO_SECRET_KEY: read from the generated Secret trinity-django"),
        "{e}"
    );
    // Kubernetes env values are strings: a bare number is taken as its text.
    let v = parse("x", "components:\n  web:\n    env:\n      WORKERS: 4\n").unwrap();
    assert_eq!(v.web.env.get("WORKERS").map(String::as_str), Some("4"));
}

#[test]
fn django_static_prefix_is_a_route_prefix() {
    let v = parse("x", "apps: {django_static_prefix: /assets/admin}\n").unwrap();
    assert_eq!(v.apps.django_static_prefix.0, "/assets/admin");
    for bad in [
        "static/admin",
        "/static/admin/",
        "/",
        "/static//admin",
        "/a/../b",
    ] {
        let e = err(&format!("apps:\n  django_static_prefix: \"{bad}\"\n"));
        assert!(
            e.starts_with("stack.yaml:2:25: apps.django_static_prefix: "),
            "{bad}: {e}"
        );
    }
}

#[test]
fn registry_and_pull_policy_apply_to_the_trinity_images_only() {
    let v = parse(
        "x",
        "registry: ghcr.io/acme\nimage_pull_policy: Never\ncomponents:\n  flight: {image: \"localhost:5000/flight\"}\n",
    )
    .unwrap();
    assert_eq!(v.web.image_ref(), "ghcr.io/acme/trinity/web:0.1.0");
    assert_eq!(v.celery.image_ref(), "ghcr.io/acme/trinity/web:0.1.0");
    assert_eq!(
        v.trinity_proxy.image_ref(),
        "ghcr.io/acme/trinity/trinity-proxy:0.1.0"
    );
    // A repository that names its own registry keeps it.
    assert_eq!(v.flight.image_ref(), "localhost:5000/flight:0.1.0");
    assert_eq!(v.web.pull_policy, PullPolicy::Never);
    for third_party in [
        &v.postgres,
        &v.mongo,
        &v.redis,
        &v.minio,
        &v.cloudflared_image,
    ] {
        assert!(!third_party.image.starts_with("ghcr.io"), "{third_party:?}");
        assert_eq!(third_party.pull_policy, PullPolicy::IfNotPresent);
    }
    // Default: as written, IfNotPresent.
    let d = parse("x", "").unwrap();
    assert_eq!(d.web.image_ref(), "trinity/web:0.1.0");
    assert_eq!(d.web.pull_policy, PullPolicy::IfNotPresent);
}

#[test]
fn digest_is_pinned_beside_the_tag() {
    let digest = format!("sha256:{}", "ab".repeat(32));
    let v = parse(
        "x",
        &format!("components:\n  web: {{digest: \"{digest}\"}}\n"),
    )
    .unwrap();
    assert_eq!(v.web.image_ref(), format!("trinity/web:0.1.0@{digest}"));
    let e = err("components:\n  web: {digest: \"sha256:abc\"}\n");
    assert!(
        e.starts_with("stack.yaml:2:17: components.web.digest: "),
        "{e}"
    );
}

#[test]
fn bad_registry_pull_policy_and_pull_secret_are_located() {
    for bad in [
        "https://ghcr.io/acme",
        "ghcr.io/acme/",
        "ghcr.io:x",
        "GHCR.io/Acme",
    ] {
        let e = err(&format!("namespace: trinity\nregistry: \"{bad}\"\n"));
        assert!(e.starts_with("stack.yaml:2:11: registry: "), "{bad}: {e}");
    }
    let e = err("image_pull_policy: Sometimes\n");
    assert!(e.starts_with("stack.yaml:1:20: image_pull_policy: "), "{e}");
    let e = err("image_pull_secrets: [regcred, Bad_Name]\n");
    assert!(
        e.starts_with("stack.yaml:1:31: image_pull_secrets[1]: "),
        "{e}"
    );
}

#[test]
fn databases_run_zero_or_one_replica() {
    for db in ["postgres", "mongo", "redis", "minio"] {
        let e = err(&format!("components:\n  {db}:\n    replicas: 2\n"));
        let want = format!("stack.yaml:3:15: components.{db}.replicas: {db} runs as one instance");
        assert!(e.starts_with(&want), "{e}");
        for ok in [0, 1] {
            let v = parse("x", &format!("components: {{{db}: {{replicas: {ok}}}}}\n")).unwrap();
            assert_eq!(
                v.postgres.replicas + v.mongo.replicas + v.redis.replicas + v.minio.replicas,
                3 + ok
            );
        }
    }
    // Stateless components scale.
    assert_eq!(
        parse("x", "components: {web: {replicas: 3}}\n")
            .unwrap()
            .web
            .replicas,
        3
    );
}

#[test]
fn exposing_databases_warns() {
    let on = parse("x", "node_ports: {enabled: true, expose_databases: true}\n").unwrap();
    let w = warnings(&on);
    assert_eq!(w.len(), 1);
    assert!(w[0].starts_with("node_ports.expose_databases: "), "{w:?}");
    assert!(warnings(&parse("x", "node_ports: {enabled: true}\n").unwrap()).is_empty());
    // Without NodePorts nothing is exposed, so nothing to warn about.
    assert!(warnings(&parse("x", "node_ports: {expose_databases: true}\n").unwrap()).is_empty());
}

#[test]
fn celery_worker_settings_are_positive() {
    let v = parse("x", "").unwrap();
    assert_eq!(v.apps.celery_concurrency.get(), 2);
    assert_eq!(v.apps.celery_max_tasks_per_child.get(), 100);
    let e = err("apps:\n  celery_concurrency: 0\n");
    assert!(
        e.starts_with("stack.yaml:2:23: apps.celery_concurrency: "),
        "{e}"
    );
}

#[test]
fn trinity_ai_and_the_proxy_have_their_own_resource_defaults() {
    let v = parse(
        "x",
        "resources: {requests: {memory: 256Mi, cpu: 100m}, limits: {memory: 512Mi, cpu: 200m}}\n",
    )
    .unwrap();
    assert_eq!(v.web.resources.limits.memory.0, "512Mi");
    assert_eq!(v.trinity_ai.resources.limits.memory.0, "2Gi");
    assert_eq!(v.trinity_ai.resources.limits.cpu.0, "1");
    // The proxy's CPU limit follows its threads.
    assert_eq!(v.trinity_proxy.resources.limits.cpu.0, "2");
    let four = parse("x", "proxy: {threads: 4}\n").unwrap();
    assert_eq!(four.trinity_proxy.resources.limits.cpu.0, "4");
}

#[test]
fn proxy_cpu_limit_below_threads_is_located() {
    let text = "proxy: {threads: 2}\ncomponents:\n  trinity_proxy:\n    resources:\n      \
                requests: {memory: 128Mi, cpu: 250m}\n      limits: {memory: 512Mi, cpu: 1500m}\n";
    let e = err(text);
    assert!(
        e.starts_with(
            "stack.yaml:6:36: components.trinity_proxy.resources.limits.cpu: 1500m is below proxy.threads (2)"
        ),
        "{e}"
    );
    let ok = text.replace("1500m", "\"2\"");
    assert!(parse("x", &ok).is_ok());
    assert!(parse("x", &ok.replace("\"2\"", "2500m")).is_ok());
}

#[test]
fn monitoring_labels_are_label_syntax() {
    let v = parse(
        "x",
        "monitoring:\n  labels: {release: kube-prometheus-stack, example.com/team: web}\n",
    )
    .unwrap();
    assert_eq!(v.monitoring.labels.len(), 2);
    let e = err("monitoring:\n  labels:\n    release: \"kube prometheus\"\n");
    assert!(
        e.starts_with("stack.yaml:3:14: monitoring.labels.release: "),
        "{e}"
    );
    let e = err("monitoring:\n  labels:\n    -bad: x\n");
    assert!(e.contains("monitoring.labels"), "{e}");
}

#[test]
fn backups_volume_fits_every_copy_kept_by_default() {
    let d = parse("x", "").unwrap();
    // (5Gi + 5Gi + 10Gi) x 7 days.
    assert_eq!(d.backups_size.0, "140Gi");
    let v = parse(
        "x",
        "storage: {postgres: 2Gi, mongo: 1024Mi, minio: 500M}\nbackups: {retention_days: 3}\n",
    )
    .unwrap();
    // (2Gi + 1Gi + 0.47Gi) x 3 = 10.4Gi, rounded up.
    assert_eq!(v.backups_size.0, "11Gi");
    let set = parse("x", "storage: {backups: 50Gi}\nbackups: {enabled: true}\n").unwrap();
    assert_eq!(set.backups_size.0, "50Gi");
    let w = warnings(&set);
    assert!(
        w.iter()
            .any(|w| w.starts_with("storage.backups: 50Gi may not hold 7 days")),
        "{w:?}"
    );
    assert!(
        warnings(&parse("x", "storage: {backups: 200Gi}\nbackups: {enabled: true}\n").unwrap())
            .is_empty()
    );
}

#[test]
fn backup_time_zone_and_retention_are_checked() {
    let v = parse("x", "backups: {time_zone: America/New_York}\n").unwrap();
    assert_eq!(v.backups.time_zone.unwrap().0, "America/New_York");
    let e = err("backups:\n  time_zone: \"TZ=UTC\"\n");
    assert!(e.starts_with("stack.yaml:2:14: backups.time_zone: "), "{e}");
    let e = err("backups:\n  retention_days: 0\n");
    assert!(
        e.starts_with("stack.yaml:2:19: backups.retention_days: "),
        "{e}"
    );
}
