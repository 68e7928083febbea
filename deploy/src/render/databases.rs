//! PostgreSQL, MongoDB, Redis and MinIO: StatefulSets with volume claim templates, real readiness
//! probes, non-root pods, and their Services.

use super::common::{
    Port, Tier, Timing, claim_spec, container, db_node_port, env, http_probe, labels, meta,
    pod_security, pull_secrets, secret_env, selector, service, set_env, shell_probe, tcp_probe,
};
use super::proxy_config::MINIO_CONSOLE_PREFIX;
use crate::object::{Component, Manifest};
use crate::secrets;
use crate::values::{Component as Image, Quantity, Values};
use k8s_openapi::api::apps::v1::{StatefulSet, StatefulSetSpec};
use k8s_openapi::api::core::v1::{
    Container, ContainerPort, EmptyDirVolumeSource, PersistentVolumeClaim, PodSpec,
    PodTemplateSpec, Volume, VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};

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

fn port(name: &str, port: i32) -> ContainerPort {
    ContainerPort {
        name: Some(name.to_owned()),
        container_port: port,
        protocol: Some("TCP".to_owned()),
        ..ContainerPort::default()
    }
}

fn mount(name: &str, path: &str) -> VolumeMount {
    VolumeMount {
        name: name.to_owned(),
        mount_path: path.to_owned(),
        ..VolumeMount::default()
    }
}

fn scratch(name: &str) -> Volume {
    Volume {
        name: name.to_owned(),
        empty_dir: Some(EmptyDirVolumeSource::default()),
        ..Volume::default()
    }
}

/// A one-volume StatefulSet (`data`, of `size`) running `c` as `uid`.
fn stateful_set(
    v: &Values,
    app: &str,
    image: &Image,
    c: Container,
    uid: i64,
    size: &Quantity,
    extra: Vec<Volume>,
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
            selector: LabelSelector {
                match_labels: Some(selector(app)),
                ..LabelSelector::default()
            },
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(app, Tier::Db)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: Some(false),
                    image_pull_secrets: pull_secrets(v),
                    security_context: Some(pod_security(uid)),
                    containers: vec![c],
                    volumes: (!extra.is_empty()).then_some(extra),
                    ..PodSpec::default()
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
    let mut c = container("postgres", &v.postgres);
    c.ports = Some(vec![port("postgres", 5432)]);
    set_env(
        &mut c,
        vec![
            secret_env("POSTGRES_USER", s, "username"),
            secret_env("POSTGRES_PASSWORD", s, "password"),
            env("POSTGRES_DB", &v.apps.postgres_db),
            env("PGDATA", "/var/lib/postgresql/data/pgdata"),
        ],
        &v.postgres,
    );
    let ready = "pg_isready -h 127.0.0.1 -U \"$POSTGRES_USER\" -d \"$POSTGRES_DB\"";
    c.readiness_probe = Some(shell_probe(ready, Timing::READY));
    c.liveness_probe = Some(shell_probe(ready, Timing(30, 20, 5, 6)));
    c.volume_mounts = Some(vec![
        mount("data", "/var/lib/postgresql/data"),
        mount("run", "/var/run/postgresql"),
    ]);
    let ports = [Port(
        "postgres",
        5432,
        "postgres",
        db_node_port(v, v.node_ports.postgres),
    )];
    vec![
        service(v, "postgres", "postgres", Tier::Db, &ports).into(),
        stateful_set(
            v,
            "postgres",
            &v.postgres,
            c,
            70,
            &v.storage.postgres,
            vec![scratch("run")],
        )
        .into(),
    ]
}

fn mongo(v: &Values) -> Vec<crate::object::Object> {
    let s = secrets::MONGO.name;
    let mut c = container("mongo", &v.mongo);
    c.ports = Some(vec![port("mongo", 27017)]);
    set_env(
        &mut c,
        vec![
            secret_env("MONGO_INITDB_ROOT_USERNAME", s, "username"),
            secret_env("MONGO_INITDB_ROOT_PASSWORD", s, "password"),
        ],
        &v.mongo,
    );
    let ping = "mongosh --quiet --eval \"db.adminCommand('ping').ok\" | grep -q 1";
    c.readiness_probe = Some(shell_probe(ping, Timing(10, 10, 10, 3)));
    c.liveness_probe = Some(tcp_probe("mongo", Timing::LIVE));
    c.volume_mounts = Some(vec![mount("data", "/data/db"), mount("tmp", "/tmp")]);
    let ports = [Port(
        "mongo",
        27017,
        "mongo",
        db_node_port(v, v.node_ports.mongo),
    )];
    vec![
        service(v, "mongo", "mongo", Tier::Db, &ports).into(),
        stateful_set(
            v,
            "mongo",
            &v.mongo,
            c,
            999,
            &v.storage.mongo,
            vec![scratch("tmp")],
        )
        .into(),
    ]
}

fn redis(v: &Values) -> Vec<crate::object::Object> {
    let mut c = container("redis", &v.redis);
    c.ports = Some(vec![port("redis", 6379)]);
    set_env(
        &mut c,
        vec![
            secret_env("REDIS_PASSWORD", secrets::REDIS.name, "password"),
            // redis-cli reads the password from REDISCLI_AUTH, keeping it off the command line.
            secret_env("REDISCLI_AUTH", secrets::REDIS.name, "password"),
        ],
        &v.redis,
    );
    // One shell line: a lone `yes` argument would be read as a boolean by YAML 1.1 parsers (kubectl).
    c.args = Some(vec![
        "sh".into(),
        "-c".into(),
        "exec redis-server --appendonly yes --requirepass \"$REDIS_PASSWORD\"".into(),
    ]);
    let ping = "redis-cli -h 127.0.0.1 ping | grep -q PONG";
    c.readiness_probe = Some(shell_probe(ping, Timing::READY));
    c.liveness_probe = Some(tcp_probe("redis", Timing::LIVE));
    c.volume_mounts = Some(vec![mount("data", "/data")]);
    let ports = [Port(
        "redis",
        6379,
        "redis",
        db_node_port(v, v.node_ports.redis),
    )];
    vec![
        service(v, "redis", "redis", Tier::Db, &ports).into(),
        stateful_set(v, "redis", &v.redis, c, 999, &v.storage.redis, vec![]).into(),
    ]
}

fn minio(v: &Values) -> Vec<crate::object::Object> {
    let s = secrets::MINIO.name;
    let mut c = container("minio", &v.minio);
    c.ports = Some(vec![port("api", 9000), port("console", 9001)]);
    c.args = Some(vec![
        "server".into(),
        "/data".into(),
        "--console-address".into(),
        ":9001".into(),
    ]);
    set_env(
        &mut c,
        vec![
            secret_env("MINIO_ROOT_USER", s, "root-user"),
            secret_env("MINIO_ROOT_PASSWORD", s, "root-password"),
            // The console lives under the proxy's /minio-console route: without this it serves
            // `<base href="/">` and its assets and API calls fall to other routes.
            env(
                "MINIO_BROWSER_REDIRECT_URL",
                &format!("{}{}", v.public_url.origin(), MINIO_CONSOLE_PREFIX),
            ),
        ],
        &v.minio,
    );
    c.readiness_probe = Some(http_probe(
        "/minio/health/ready",
        "api",
        None,
        Timing::READY,
    ));
    c.liveness_probe = Some(http_probe("/minio/health/live", "api", None, Timing::LIVE));
    c.volume_mounts = Some(vec![mount("data", "/data")]);
    let ports = [
        Port("api", 9000, "api", db_node_port(v, v.node_ports.minio)),
        Port(
            "console",
            9001,
            "console",
            db_node_port(v, v.node_ports.minio_console),
        ),
    ];
    vec![
        service(v, "minio", "minio", Tier::Db, &ports).into(),
        stateful_set(v, "minio", &v.minio, c, 1000, &v.storage.minio, vec![]).into(),
    ]
}
