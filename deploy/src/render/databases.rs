//! PostgreSQL, MongoDB, Redis and MinIO: StatefulSets with volume claim templates, real readiness
//! probes, non-root pods, and their Services.

use super::builder::Builder;
use super::common::{
    Port, Tier, Timing, app_selector, claim_spec, db_node_port, env, http_probe, labels, meta,
    pull_secrets, secret_env, service, shell_probe, tcp_probe,
};
use super::proxy_config::MINIO_CONSOLE_PREFIX;
use crate::object::{Component, Manifest};
use crate::secrets;
use crate::values::{Component as Image, Quantity, Values};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{PersistentVolumeClaim, PodSpec, PodTemplateSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

/// The four databases' objects.
pub fn render(v: &Values) -> Vec<Manifest> {
    let mut out = Vec::new();
    let mut push = |component, objects: Vec<crate::object::Object>| {
        out.extend(
            objects
                .into_iter()
                .map(|object| Manifest { component, object }),
        );
    };
    push(Component::Postgres, postgres(v));
    push(Component::Mongo, mongo(v));
    push(Component::Redis, redis(v));
    push(Component::Minio, minio(v));
    out
}

/// A one-volume StatefulSet (`data`, of `size`) running `pod`.
fn stateful_set(
    v: &Values,
    app: &str,
    image: &Image,
    pod: PodSpec,
    size: &Quantity,
) -> StatefulSet {
    let claim = PersistentVolumeClaim {
        metadata: ObjectMeta {
            name: Some("data".to_owned()),
            labels: Some(labels(app, Tier::Db)),
            ..ObjectMeta::default()
        },
        spec: Some(claim_spec(v, &size.0)),
        ..PersistentVolumeClaim::default()
    };
    StatefulSet {
        metadata: meta(v, app, labels(app, Tier::Db)),
        spec: Some(StatefulSetSpec {
            replicas: Some(image.replicas),
            service_name: Some(app.to_owned()),
            selector: app_selector(app),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(app, Tier::Db)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    image_pull_secrets: pull_secrets(v),
                    ..pod
                }),
            },
            volume_claim_templates: Some(vec![claim]),
            ..StatefulSetSpec::default()
        }),
        ..StatefulSet::default()
    }
}

fn postgres(v: &Values) -> Vec<crate::object::Object> {
    let s = secrets::POSTGRES.name;
    let ready = "pg_isready -h 127.0.0.1 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\"";
    let pod = Builder::new("postgres", &v.postgres, 70)
        .port("postgres", 5432)
        .env([
            secret_env("POSTGRES_USER", s, "username"),
            secret_env("POSTGRES_PASSWORD", s, "password"),
            env("POSTGRES_DB", &v.apps.postgres_db),
            env("PGDATA", "/var/lib/postgresql/data/pgdata"),
        ])
        .readiness(shell_probe(ready, Timing::READY))
        .liveness(shell_probe(
            ready,
            Timing {
                initial_delay: 30,
                period: 20,
                timeout: 5,
                failure_threshold: 6,
            },
        ))
        .mount("data", "/var/lib/postgresql/data")
        .scratch("run", "/var/run/postgresql")
        .pod();
    let np = db_node_port(v, v.node_ports.postgres);
    vec![
        service(
            v,
            "postgres",
            "postgres",
            Tier::Db,
            &[Port {
                name: "postgres",
                port: 5432,
                node_port: np,
            }],
        )
        .into(),
        stateful_set(v, "postgres", &v.postgres, pod, &v.storage.postgres).into(),
    ]
}

fn mongo(v: &Values) -> Vec<crate::object::Object> {
    let s = secrets::MONGO.name;
    let ping = "mongosh --quiet --eval \"db.adminCommand('ping').ok\" | grep -q 1";
    let pod = Builder::new("mongo", &v.mongo, 999)
        .port("mongo", 27017)
        .env([
            secret_env("MONGO_INITDB_ROOT_USERNAME", s, "username"),
            secret_env("MONGO_INITDB_ROOT_PASSWORD", s, "password"),
        ])
        .readiness(shell_probe(
            ping,
            Timing {
                initial_delay: 10,
                period: 10,
                timeout: 10,
                failure_threshold: 3,
            },
        ))
        .liveness(tcp_probe("mongo", Timing::LIVE))
        .mount("data", "/data/db")
        .scratch("tmp", "/tmp")
        .pod();
    let np = db_node_port(v, v.node_ports.mongo);
    vec![
        service(
            v,
            "mongo",
            "mongo",
            Tier::Db,
            &[Port {
                name: "mongo",
                port: 27017,
                node_port: np,
            }],
        )
        .into(),
        stateful_set(v, "mongo", &v.mongo, pod, &v.storage.mongo).into(),
    ]
}

fn redis(v: &Values) -> Vec<crate::object::Object> {
    let ping = "redis-cli -h 127.0.0.1 ping | grep -q PONG";
    let pod = Builder::new("redis", &v.redis, 999)
        .port("redis", 6379)
        .env([
            secret_env("REDIS_PASSWORD", secrets::REDIS.name, "password"),
            // redis-cli reads the password from REDISCLI_AUTH, keeping it off the command line.
            secret_env("REDISCLI_AUTH", secrets::REDIS.name, "password"),
        ])
        // One shell line: a lone `yes` argument would be read as a boolean by YAML 1.1 parsers
        // (kubectl).
        .args([
            "sh",
            "-c",
            "exec redis-server --appendonly yes --requirepass \"$REDIS_PASSWORD\"",
        ])
        .readiness(shell_probe(ping, Timing::READY))
        .liveness(tcp_probe("redis", Timing::LIVE))
        .mount("data", "/data")
        .pod();
    let np = db_node_port(v, v.node_ports.redis);
    vec![
        service(
            v,
            "redis",
            "redis",
            Tier::Db,
            &[Port {
                name: "redis",
                port: 6379,
                node_port: np,
            }],
        )
        .into(),
        stateful_set(v, "redis", &v.redis, pod, &v.storage.redis).into(),
    ]
}

fn minio(v: &Values) -> Vec<crate::object::Object> {
    let s = secrets::MINIO.name;
    let pod = Builder::new("minio", &v.minio, 1000)
        .port("api", 9000)
        .port("console", 9001)
        .args(["server", "/data", "--console-address", ":9001"])
        .env([
            secret_env("MINIO_ROOT_USER", s, "root-user"),
            secret_env("MINIO_ROOT_PASSWORD", s, "root-password"),
            // The console lives under the proxy's /minio-console route: without this it serves
            // `<base href="/">` and its assets and API calls fall to other routes.
            env(
                "MINIO_BROWSER_REDIRECT_URL",
                &format!("{}{}", v.public_url.origin(), MINIO_CONSOLE_PREFIX),
            ),
        ])
        .readiness(http_probe(
            "/minio/health/ready",
            "api",
            None,
            Timing::READY,
        ))
        .liveness(http_probe("/minio/health/live", "api", None, Timing::LIVE))
        .mount("data", "/data")
        .pod();
    let ports = [
        Port {
            name: "api",
            port: 9000,
            node_port: db_node_port(v, v.node_ports.minio),
        },
        Port {
            name: "console",
            port: 9001,
            node_port: db_node_port(v, v.node_ports.minio_console),
        },
    ];
    vec![
        service(v, "minio", "minio", Tier::Db, &ports).into(),
        stateful_set(v, "minio", &v.minio, pod, &v.storage.minio).into(),
    ]
}
