//! Workload shape: image pulls, spread and disruption budgets, read-only roots, celery, monitoring, backups.

use super::*;

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
