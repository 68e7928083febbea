//! The Trinity applications: web (Django), fastapi, trinity-ai, frontend, celery, flight, the shared
//! `trinity-env` ConfigMap and the migration Job that runs before web rolls.

use super::common::{
    Port, Tier, Timing, container, container_port, deployment, env, env_from_config, http_probe,
    labels, meta, node_port, pdb, pod_security, pod_security_low_ports, pull_secrets, secret_env,
    service, set_env, shell_probe, spread, stack_labels, tcp_probe,
};
use crate::object::{Component, Manifest, Object};
use crate::secrets;
use crate::values::Values;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{
    ConfigMap, Container, EmptyDirVolumeSource, EnvVar, PodSpec, PodTemplateSpec, Volume,
    VolumeMount,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use std::collections::BTreeMap;

/// Name of the ConfigMap with the apps' non-secret connection settings.
pub const APP_ENV: &str = "trinity-env";
/// UID of the application images.
const APP_UID: i64 = 1000;
/// UID of the frontend's nginx.
const NGINX_UID: i64 = 101;

pub fn render(v: &Values) -> Vec<Manifest> {
    let m = |component, object: Object| Manifest { component, object };
    let mut out = vec![
        m(Component::Config, app_env(v).into()),
        m(Component::Migrate, migration(v).into()),
    ];
    out.extend(web(v).into_iter().map(|o| m(Component::Web, o)));
    out.extend(fastapi(v).into_iter().map(|o| m(Component::Fastapi, o)));
    out.extend(
        trinity_ai(v)
            .into_iter()
            .map(|o| m(Component::TrinityAi, o)),
    );
    out.extend(frontend(v).into_iter().map(|o| m(Component::Frontend, o)));
    out.push(m(Component::Celery, celery(v).into()));
    out.extend(flight(v).into_iter().map(|o| m(Component::Flight, o)));
    out
}

fn app_env(v: &Values) -> ConfigMap {
    let data = [
        ("POSTGRES_HOST", "postgres"),
        ("POSTGRES_PORT", "5432"),
        ("POSTGRES_DB", v.apps.postgres_db.as_str()),
        ("MONGO_HOST", "mongo"),
        ("MONGO_PORT", "27017"),
        ("REDIS_HOST", "redis"),
        ("REDIS_PORT", "6379"),
        ("MINIO_ENDPOINT", "minio:9000"),
        ("FLIGHT_HOST", "flight"),
        ("FLIGHT_PORT", "8815"),
        ("FASTAPI_URL", "http://fastapi:8001"),
        ("TRINITY_AI_URL", "http://trinity-ai:8002"),
    ];
    ConfigMap {
        metadata: meta(v, APP_ENV, stack_labels()),
        data: Some(
            data.iter()
                .map(|(k, val)| ((*k).to_owned(), (*val).to_owned()))
                .collect::<BTreeMap<_, _>>(),
        ),
        ..ConfigMap::default()
    }
}

/// Credentials every backend container reads from the generated Secrets.
fn secret_env_vars() -> Vec<EnvVar> {
    vec![
        secret_env("POSTGRES_USER", secrets::POSTGRES.name, "username"),
        secret_env("POSTGRES_PASSWORD", secrets::POSTGRES.name, "password"),
        secret_env("MONGO_USER", secrets::MONGO.name, "username"),
        secret_env("MONGO_PASSWORD", secrets::MONGO.name, "password"),
        secret_env("MINIO_ACCESS_KEY", secrets::MINIO.name, "root-user"),
        secret_env("MINIO_SECRET_KEY", secrets::MINIO.name, "root-password"),
        secret_env("REDIS_PASSWORD", secrets::REDIS.name, "password"),
        secret_env("DJANGO_SECRET_KEY", secrets::DJANGO.name, "secret-key"),
    ]
}

/// A backend container: the app env ConfigMap, the generated credentials, no low ports.
fn backend(name: &str, c: &crate::values::Component) -> Container {
    backend_with(name, c, Vec::new())
}

/// A backend container with `extra` env vars after the credentials.
fn backend_with(name: &str, c: &crate::values::Component, extra: Vec<EnvVar>) -> Container {
    let mut k = container(name, c);
    k.env_from = Some(vec![env_from_config(APP_ENV)]);
    let mut vars = secret_env_vars();
    vars.push(env("HOME", HOME));
    vars.extend(extra);
    set_env(&mut k, vars, c);
    k.volume_mounts = Some(vec![VolumeMount {
        name: SCRATCH.to_owned(),
        mount_path: HOME.to_owned(),
        ..VolumeMount::default()
    }]);
    k
}

/// A Django container (web, celery, the migration): what Trinity's settings must read to work behind
/// the proxy at `public_url`.
fn django(name: &str, v: &Values, c: &crate::values::Component) -> Container {
    let url = &v.public_url;
    let mut hosts = vec![url.host.as_str()];
    if v.apps.probe_host != url.host {
        hosts.push(v.apps.probe_host.as_str());
    }
    let vars = vec![
        env(DJANGO_ALLOWED_HOSTS, &hosts.join(",")),
        env("DJANGO_CSRF_TRUSTED_ORIGINS", &url.origin()),
        // The proxy always sets X-Forwarded-Proto (a client's own is dropped unless it comes
        // through a trusted proxy), so Django may believe it: `https` behind TLS termination.
        env(
            "DJANGO_SECURE_PROXY_SSL_HEADER",
            "HTTP_X_FORWARDED_PROTO,https",
        ),
    ];
    backend_with(name, c, vars)
}

/// Comma-separated host names Django serves: the public host and the probes' Host header.
pub const DJANGO_ALLOWED_HOSTS: &str = "DJANGO_ALLOWED_HOSTS";

/// celery's liveness timing: (initial delay, period, timeout, failures) = (120s, 300s, 60s, 3).
pub const CELERY_LIVENESS: Timing = Timing(120, 300, 60, 3);

/// The app images run as [`APP_UID`], which has no passwd entry: `HOME` would be `/`, which is not
/// writable. `HOME=/tmp` on an emptyDir gives Python's caches and tools a place to write.
const HOME: &str = "/tmp";

fn pod(uid: i64, c: Container) -> PodSpec {
    // A container that mounts the scratch volume gets it.
    let scratch = c
        .volume_mounts
        .iter()
        .flatten()
        .any(|m| m.name == SCRATCH)
        .then(|| {
            vec![Volume {
                name: SCRATCH.to_owned(),
                empty_dir: Some(EmptyDirVolumeSource::default()),
                ..Volume::default()
            }]
        });
    PodSpec {
        security_context: Some(pod_security(uid)),
        containers: vec![c],
        volumes: scratch,
        ..PodSpec::default()
    }
}

/// Name of the app containers' writable scratch volume (mounted at [`HOME`]).
const SCRATCH: &str = "tmp";

/// [`pod`] with its replicas spread over nodes (soft: a small cluster still runs them all).
fn spread_pod(uid: i64, c: Container, app: &str) -> PodSpec {
    PodSpec {
        topology_spread_constraints: Some(spread(app, false)),
        ..pod(uid, c)
    }
}

fn web(v: &Values) -> Vec<Object> {
    let mut c = django("web", v, &v.web);
    c.ports = Some(vec![container_port("http", 8000)]);
    let host = Some(v.apps.probe_host.as_str());
    c.startup_probe = Some(http_probe("/admin/", "http", host, Timing(10, 10, 5, 30)));
    c.readiness_probe = Some(http_probe("/admin/", "http", host, Timing::READY));
    c.liveness_probe = Some(http_probe("/admin/", "http", host, Timing::LIVE));
    let ports = [Port("http", 8000, "http", node_port(v, v.node_ports.web))];
    vec![
        service(v, "web", "web", Tier::App, &ports).into(),
        deployment(
            v,
            "web",
            Tier::App,
            v.web.replicas,
            spread_pod(APP_UID, c, "web"),
        )
        .into(),
        pdb(v, "web", Tier::App).into(),
    ]
}

fn fastapi(v: &Values) -> Vec<Object> {
    let mut c = backend("fastapi", &v.fastapi);
    c.ports = Some(vec![container_port("http", 8001)]);
    c.readiness_probe = Some(tcp_probe("http", Timing::READY));
    c.liveness_probe = Some(tcp_probe("http", Timing::LIVE));
    let ports = [Port(
        "http",
        8001,
        "http",
        node_port(v, v.node_ports.fastapi),
    )];
    vec![
        service(v, "fastapi", "fastapi", Tier::App, &ports).into(),
        deployment(
            v,
            "fastapi",
            Tier::App,
            v.fastapi.replicas,
            spread_pod(APP_UID, c, "fastapi"),
        )
        .into(),
        pdb(v, "fastapi", Tier::App).into(),
    ]
}

fn trinity_ai(v: &Values) -> Vec<Object> {
    let mut c = backend("trinity-ai", &v.trinity_ai);
    c.ports = Some(vec![container_port("http", 8002)]);
    // Model loading is slow: up to 10 minutes to start, long probe timeouts once running.
    c.startup_probe = Some(tcp_probe("http", Timing(10, 10, 5, 60)));
    c.readiness_probe = Some(tcp_probe("http", Timing(0, 15, 10, 4)));
    c.liveness_probe = Some(tcp_probe("http", Timing(0, 30, 20, 5)));
    let ports = [Port(
        "http",
        8002,
        "http",
        node_port(v, v.node_ports.trinity_ai),
    )];
    vec![
        service(v, "trinity-ai", "trinity-ai", Tier::App, &ports).into(),
        deployment(
            v,
            "trinity-ai",
            Tier::App,
            v.trinity_ai.replicas,
            pod(APP_UID, c),
        )
        .into(),
    ]
}

fn frontend(v: &Values) -> Vec<Object> {
    let f = &v.frontend;
    let mut c = container("frontend", f);
    c.ports = Some(vec![container_port("http", 80)]);
    c.readiness_probe = Some(http_probe("/", "http", None, Timing::READY));
    c.liveness_probe = Some(http_probe("/", "http", None, Timing::LIVE));
    let ports = [Port(
        "http",
        80,
        "http",
        node_port(v, v.node_ports.frontend),
    )];
    // nginx writes its cache and pid file: give it writable scratch space.
    let scratch = [("cache", "/var/cache/nginx"), ("run", "/var/run")];
    c.volume_mounts = Some(
        scratch
            .iter()
            .map(|(name, path)| VolumeMount {
                name: (*name).to_owned(),
                mount_path: (*path).to_owned(),
                ..VolumeMount::default()
            })
            .collect(),
    );
    let spec = PodSpec {
        security_context: Some(pod_security_low_ports(NGINX_UID)),
        volumes: Some(
            scratch
                .iter()
                .map(|(name, _)| Volume {
                    name: (*name).to_owned(),
                    empty_dir: Some(EmptyDirVolumeSource::default()),
                    ..Volume::default()
                })
                .collect(),
        ),
        ..spread_pod(NGINX_UID, c, "frontend")
    };
    vec![
        service(v, "frontend", "frontend", Tier::App, &ports).into(),
        deployment(v, "frontend", Tier::App, f.replicas, spec).into(),
        pdb(v, "frontend", Tier::App).into(),
    ]
}

fn celery(v: &Values) -> k8s_openapi::api::apps::v1::Deployment {
    let mut c = django("celery", v, &v.celery);
    let app = &v.apps.celery_app;
    c.args = Some(vec![
        "celery".into(),
        "-A".into(),
        app.clone(),
        "worker".into(),
        "--loglevel=INFO".into(),
        format!("--concurrency={}", v.apps.celery_concurrency),
        format!(
            "--max-tasks-per-child={}",
            v.apps.celery_max_tasks_per_child
        ),
    ]);
    // `inspect ping` starts a second Python process loading the whole app (a few hundred MiB) and
    // round-trips through Redis: only every 5 minutes, with a minute to answer, so a hung worker
    // is restarted within about 15 minutes without the probe crowding the memory limit.
    let ping = format!("celery -A {app} inspect ping -d \"celery@$HOSTNAME\" --timeout 30");
    c.liveness_probe = Some(shell_probe(&ping, CELERY_LIVENESS));
    deployment(v, "celery", Tier::App, v.celery.replicas, pod(APP_UID, c))
}

fn flight(v: &Values) -> Vec<Object> {
    let mut c = backend("flight", &v.flight);
    c.ports = Some(vec![container_port("flight", 8815)]);
    c.readiness_probe = Some(tcp_probe("flight", Timing::READY));
    c.liveness_probe = Some(tcp_probe("flight", Timing::LIVE));
    let ports = [Port(
        "flight",
        8815,
        "flight",
        node_port(v, v.node_ports.flight),
    )];
    vec![
        service(v, "flight", "flight", Tier::App, &ports).into(),
        deployment(v, "flight", Tier::App, v.flight.replicas, pod(APP_UID, c)).into(),
    ]
}

/// Name of the migration Job: one per web tag, since a Job's pod template is immutable.
pub fn migration_name(tag: &str) -> String {
    let mut slug: String = tag
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    slug.truncate(63 - "web-migrate-".len());
    format!("web-migrate-{}", slug.trim_matches('-'))
}

fn migration(v: &Values) -> Job {
    let mut c = django("migrate", v, &v.web);
    c.args = Some(vec![
        "python".into(),
        "manage.py".into(),
        "migrate".into(),
        "--noinput".into(),
    ]);
    let mut spec = pod(APP_UID, c);
    spec.restart_policy = Some("Never".to_owned());
    spec.image_pull_secrets = pull_secrets(v);
    spec.automount_service_account_token = Some(false);
    Job {
        metadata: meta(
            v,
            &migration_name(&v.web.tag),
            labels("web-migrate", Tier::App),
        ),
        spec: Some(JobSpec {
            backoff_limit: Some(3),
            active_deadline_seconds: Some(900),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels("web-migrate", Tier::App)),
                    ..ObjectMeta::default()
                }),
                spec: Some(spec),
            },
            ..JobSpec::default()
        }),
        ..Job::default()
    }
}
