//! The optional parts, each behind a values switch: cloudflared, monitoring (prometheus-operator objects
//! and a Grafana dashboard) and backups (CronJobs onto a `backups` volume).

use super::apps::APP_ENV;
use super::builder::Builder;
use super::common::{
    Tier, Timing, claim_spec, deployment, env, http_probe, labels, meta, pull_secrets, secret_env,
    selector, stack_labels,
};
use super::proxy::{METRICS_SERVICE, NAME as PROXY};
use crate::object::{Component, CustomObject, Manifest, Object};
use crate::secrets;
use crate::values::{Component as Image, Values};
use k8s_openapi::api::batch::v1::{CronJob, CronJobSpec, JobSpec, JobTemplateSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, EnvVar, PersistentVolumeClaim, PodSpec, PodTemplateSpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde_json::json;
use std::collections::BTreeMap;

pub fn render(v: &Values) -> Vec<Manifest> {
    let mut out = Vec::new();
    let mut push = |component, objects: Vec<Object>| {
        out.extend(
            objects
                .into_iter()
                .map(|object| Manifest { component, object }),
        );
    };
    if v.cloudflared.enabled {
        push(Component::Cloudflared, vec![cloudflared(v).into()]);
    }
    if v.monitoring.enabled {
        push(Component::Monitoring, monitoring(v));
    }
    if v.backups.enabled {
        push(Component::Backups, backups(v));
    }
    out
}

fn cloudflared(v: &Values) -> k8s_openapi::api::apps::v1::Deployment {
    let img = &v.cloudflared_image;
    let pod = Builder::new("cloudflared", img, 65532)
        .args([
            "tunnel",
            "--no-autoupdate",
            "--metrics",
            "0.0.0.0:2000",
            "run",
        ])
        .env([secret_env(
            "TUNNEL_TOKEN",
            &v.cloudflared.token_secret,
            "token",
        )])
        .port("metrics", 2000)
        .read_only_root()
        .readiness(http_probe("/ready", "metrics", None, Timing::READY))
        .liveness(http_probe("/ready", "metrics", None, Timing::LIVE))
        .pod();
    deployment(v, "cloudflared", Tier::Tunnel, img.replicas, pod)
}

/// A prometheus-operator object, labelled with `monitoring.labels` too (what the operator's
/// `serviceMonitorSelector` / `ruleSelector` match, e.g. `release: kube-prometheus-stack`).
fn custom(v: &Values, kind: &str, name: &str, spec: serde_json::Value) -> Object {
    let mut l = labels(PROXY, Tier::Edge);
    l.extend(
        v.monitoring
            .labels
            .iter()
            .map(|(k, x)| (k.0.clone(), x.0.clone())),
    );
    Object::Custom(CustomObject {
        api_version: "monitoring.coreos.com/v1".to_owned(),
        kind: kind.to_owned(),
        metadata: meta(v, name, l),
        spec,
    })
}

fn dashboard() -> serde_json::Value {
    let panel = |id: u32, title: &str, expr: &str, y: u32| {
        json!({"id": id, "title": title, "type": "timeseries",
               "gridPos": {"x": 0, "y": y, "w": 24, "h": 8},
               "targets": [{"expr": expr, "refId": "A"}]})
    };
    json!({
        "title": "Trinity proxy",
        "uid": "trinity-proxy",
        "schemaVersion": 39,
        "panels": [
            panel(1, "Requests by route and code",
                  "sum by (route, code) (rate(trinity_proxy_requests_total[5m]))", 0),
            panel(2, "p99 latency by route",
                  "histogram_quantile(0.99, sum by (le, route) (rate(trinity_proxy_request_duration_seconds_bucket[5m])))", 8),
            panel(3, "Healthy endpoints by upstream",
                  "sum by (upstream) (trinity_proxy_endpoint_healthy)", 16),
            panel(4, "Retries by reason", "sum by (reason) (rate(trinity_proxy_retries_total[5m]))", 24),
        ]
    })
}

fn monitoring(v: &Values) -> Vec<Object> {
    let monitor = json!({
        "selector": {"matchLabels": selector(PROXY)},
        "namespaceSelector": {"matchNames": [v.namespace]},
        "endpoints": [{"port": "admin", "path": "/metrics", "interval": "30s"}]
    });
    let mut dash_labels = stack_labels();
    dash_labels.insert("grafana_dashboard".to_owned(), "1".to_owned());
    let dashboard_text = serde_json::to_string_pretty(&dashboard()).unwrap_or_default();
    vec![
        custom(v, "ServiceMonitor", METRICS_SERVICE, monitor),
        custom(
            v,
            "PrometheusRule",
            PROXY,
            json!({ "groups": super::alerts::groups(v) }),
        ),
        ConfigMap {
            metadata: meta(v, "trinity-proxy-dashboard", dash_labels),
            data: Some(BTreeMap::from([(
                "trinity-proxy.json".to_owned(),
                dashboard_text,
            )])),
            ..ConfigMap::default()
        }
        .into(),
    ]
}

const BACKUP_UID: i64 = 1000;

fn backups(v: &Values) -> Vec<Object> {
    let claim = PersistentVolumeClaim {
        metadata: meta(v, "backups", labels("backups", Tier::App)),
        spec: Some(claim_spec(v, &v.backups_size.0)),
        ..PersistentVolumeClaim::default()
    };
    let keep = v.backups.retention_days;
    let prune = |dir: &str| format!("find {dir} -type f -mtime +{keep} -delete");
    let stamp = "$(date +%Y%m%d-%H%M%S)";
    let pg = format!(
        "set -eu; mkdir -p /backups/postgres; pg_dump -h postgres -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\" \
         -Fc -f /backups/postgres/{stamp}.dump; {}",
        prune("/backups/postgres")
    );
    let mongo = format!(
        "set -eu; mkdir -p /backups/mongo; mongodump --host mongo --authenticationDatabase admin \
         --username \"$MONGO_USER\" --password \"$MONGO_PASSWORD\" --gzip --archive=/backups/mongo/{stamp}.archive.gz; {}",
        prune("/backups/mongo")
    );
    // A dated snapshot per run (a mirror with --remove would copy deletions too, keeping no
    // history); snapshots past the retention are removed by mc itself (the mc image has no find).
    let minio = format!(
        "set -eu; dir=/backups/minio/{stamp}; mkdir -p \"$dir\"; \
         mc alias set trinity http://minio:9000 \"$MINIO_ACCESS_KEY\" \"$MINIO_SECRET_KEY\" >/dev/null; \
         mc mirror trinity \"$dir\"; \
         mc rm --recursive --force --older-than {keep}d /backups/minio"
    );
    let pg_env = vec![
        secret_env("POSTGRES_USER", secrets::POSTGRES.name, "username"),
        secret_env("PGPASSWORD", secrets::POSTGRES.name, "password"),
    ];
    let mongo_env = vec![
        secret_env("MONGO_USER", secrets::MONGO.name, "username"),
        secret_env("MONGO_PASSWORD", secrets::MONGO.name, "password"),
    ];
    let minio_env = vec![
        secret_env("MINIO_ACCESS_KEY", secrets::MINIO.name, "root-user"),
        secret_env("MINIO_SECRET_KEY", secrets::MINIO.name, "root-password"),
        env("MC_CONFIG_DIR", "/tmp/mc"),
    ];
    let h = v.backups.hour.0;
    vec![
        claim.into(),
        cron(
            v,
            "backup-postgres",
            &v.postgres,
            format!("0 {h} * * *"),
            pg,
            pg_env,
        )
        .into(),
        cron(
            v,
            "backup-mongo",
            &v.mongo,
            format!("20 {h} * * *"),
            mongo,
            mongo_env,
        )
        .into(),
        cron(
            v,
            "backup-minio",
            &v.backup_tools,
            format!("40 {h} * * *"),
            minio,
            minio_env,
        )
        .into(),
    ]
}

fn cron(
    v: &Values,
    name: &str,
    image: &Image,
    schedule: String,
    script: String,
    env: Vec<EnvVar>,
) -> CronJob {
    let pod = PodSpec {
        restart_policy: Some("OnFailure".to_owned()),
        image_pull_secrets: pull_secrets(v),
        automount_service_account_token: Some(false),
        ..Builder::new(name, image, BACKUP_UID)
            .command(["sh".to_owned(), "-c".to_owned(), script])
            .env_from_config(APP_ENV)
            .env(env)
            .claim("backups", "/backups", "backups")
            .scratch("tmp", "/tmp")
            .pod()
    };
    let pod_labels = labels("backups", Tier::App);
    CronJob {
        metadata: meta(v, name, pod_labels.clone()),
        spec: Some(CronJobSpec {
            schedule,
            time_zone: v.backups.time_zone.as_ref().map(|z| z.0.clone()),
            concurrency_policy: Some("Forbid".to_owned()),
            starting_deadline_seconds: Some(3600),
            successful_jobs_history_limit: Some(3),
            failed_jobs_history_limit: Some(3),
            job_template: JobTemplateSpec {
                metadata: None,
                spec: Some(JobSpec {
                    backoff_limit: Some(2),
                    template: PodTemplateSpec {
                        metadata: Some(ObjectMeta {
                            labels: Some(pod_labels),
                            ..ObjectMeta::default()
                        }),
                        spec: Some(pod),
                    },
                    ..JobSpec::default()
                }),
            },
            ..CronJobSpec::default()
        }),
        ..CronJob::default()
    }
}
