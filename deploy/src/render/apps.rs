//! The Trinity applications: web (Django), fastapi, trinity-ai, frontend, celery, flight, the shared
//! `trinity-env` ConfigMap and the migration Job that runs before web rolls.

use super::builder::Builder;
use super::common::{
    Port, Tier, Timing, deployment, env, http_probe, labels, meta, node_port, pdb, pull_secrets,
    secret_env, service, shell_probe, stack_labels, tcp_probe,
};
use crate::object::{Component, Manifest, Object};
use crate::secrets;
use crate::values::Values;
use k8s_openapi::api::batch::v1::{Job, JobSpec};
use k8s_openapi::api::core::v1::{ConfigMap, EnvVar, PodTemplateSpec};
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

/// A backend (UID [`APP_UID`]): the app env ConfigMap, the generated credentials, a writable `HOME`.
fn backend<'a>(name: &str, c: &'a crate::values::Component) -> Builder<'a> {
    Builder::new(name, c, APP_UID)
        .env_from_config(APP_ENV)
        .env(secret_env_vars())
        .env([env("HOME", HOME)])
        .scratch(SCRATCH, HOME)
}

/// A Django backend (web, celery, the migration): what Trinity's settings must read to work behind
/// the proxy at `public_url`.
fn django<'a>(name: &str, v: &Values, c: &'a crate::values::Component) -> Builder<'a> {
    let url = &v.public_url;
    let mut hosts = vec![url.host.as_str()];
    if v.apps.probe_host != url.host {
        hosts.push(v.apps.probe_host.as_str());
    }
    backend(name, c).env([
        env(DJANGO_ALLOWED_HOSTS, &hosts.join(",")),
        env("DJANGO_CSRF_TRUSTED_ORIGINS", &url.origin()),
        // The proxy always sets X-Forwarded-Proto (a client's own is dropped unless it comes
        // through a trusted proxy), so Django may believe it: `https` behind TLS termination.
        env(
            "DJANGO_SECURE_PROXY_SSL_HEADER",
            "HTTP_X_FORWARDED_PROTO,https",
        ),
    ])
}

/// The HTTP servers behind the proxy (gunicorn or uvicorn in web, uvicorn in fastapi and
/// trinity-ai) believe `X-Forwarded-For` / `-Proto` only from these peers; their default, 127.0.0.1,
/// never matches the proxy's pod, so FastAPI's own redirects (a missing trailing slash) would point
/// browsers at `http://` behind an https tunnel. The pod CIDR is as tight as the NetworkPolicies
/// allow: these apps admit only the proxy and app pods (`apps-from-proxy-and-apps`), whose
/// addresses are not known before they start.
fn forwarded_allow_ips(v: &Values) -> Vec<EnvVar> {
    let nets = &v.apps.forwarded_allow_ips;
    if nets.is_empty() {
        return Vec::new();
    }
    let list: Vec<&str> = nets.iter().map(|n| n.0.as_str()).collect();
    vec![env(FORWARDED_ALLOW_IPS, &list.join(","))]
}

/// Comma-separated peers whose forwarding headers uvicorn and gunicorn believe.
pub const FORWARDED_ALLOW_IPS: &str = "FORWARDED_ALLOW_IPS";

/// Comma-separated host names Django serves: the public host and the probes' Host header.
pub const DJANGO_ALLOWED_HOSTS: &str = "DJANGO_ALLOWED_HOSTS";

/// celery's liveness timing (why so slow: see `celery`).
pub const CELERY_LIVENESS: Timing = Timing {
    initial_delay: 120,
    period: 300,
    timeout: 60,
    failure_threshold: 3,
};

/// The app images run as [`APP_UID`], which has no passwd entry: `HOME` would be `/`, which is not
/// writable. `HOME=/tmp` on an emptyDir gives Python's caches and tools a place to write.
const HOME: &str = "/tmp";

/// Name of the app containers' writable scratch volume (mounted at [`HOME`]).
const SCRATCH: &str = "tmp";

fn web(v: &Values) -> Vec<Object> {
    let host = Some(v.apps.probe_host.as_str());
    let pod = django("web", v, &v.web)
        .env(forwarded_allow_ips(v))
        .port("http", 8000)
        .startup(http_probe(
            "/admin/",
            "http",
            host,
            Timing {
                initial_delay: 10,
                period: 10,
                timeout: 5,
                failure_threshold: 30,
            },
        ))
        .readiness(http_probe("/admin/", "http", host, Timing::READY))
        .liveness(http_probe("/admin/", "http", host, Timing::LIVE))
        .spread("web", false)
        .pod();
    let ports = [Port {
        name: "http",
        port: 8000,
        node_port: node_port(v, v.node_ports.web),
    }];
    vec![
        service(v, "web", "web", Tier::App, &ports).into(),
        deployment(v, "web", Tier::App, v.web.replicas, pod).into(),
        pdb(v, "web", Tier::App).into(),
    ]
}

fn fastapi(v: &Values) -> Vec<Object> {
    let pod = backend("fastapi", &v.fastapi)
        .env(forwarded_allow_ips(v))
        .port("http", 8001)
        .readiness(tcp_probe("http", Timing::READY))
        .liveness(tcp_probe("http", Timing::LIVE))
        .spread("fastapi", false)
        .pod();
    let np = node_port(v, v.node_ports.fastapi);
    vec![
        service(
            v,
            "fastapi",
            "fastapi",
            Tier::App,
            &[Port {
                name: "http",
                port: 8001,
                node_port: np,
            }],
        )
        .into(),
        deployment(v, "fastapi", Tier::App, v.fastapi.replicas, pod).into(),
        pdb(v, "fastapi", Tier::App).into(),
    ]
}

fn trinity_ai(v: &Values) -> Vec<Object> {
    // Model loading is slow: up to 10 minutes to start, long probe timeouts once running.
    let pod = backend("trinity-ai", &v.trinity_ai)
        .env(forwarded_allow_ips(v))
        .port("http", 8002)
        .startup(tcp_probe(
            "http",
            Timing {
                initial_delay: 10,
                period: 10,
                timeout: 5,
                failure_threshold: 60,
            },
        ))
        .readiness(tcp_probe(
            "http",
            Timing {
                initial_delay: 0,
                period: 15,
                timeout: 10,
                failure_threshold: 4,
            },
        ))
        .liveness(tcp_probe(
            "http",
            Timing {
                initial_delay: 0,
                period: 30,
                timeout: 20,
                failure_threshold: 5,
            },
        ))
        .pod();
    let np = node_port(v, v.node_ports.trinity_ai);
    vec![
        service(
            v,
            "trinity-ai",
            "trinity-ai",
            Tier::App,
            &[Port {
                name: "http",
                port: 8002,
                node_port: np,
            }],
        )
        .into(),
        deployment(v, "trinity-ai", Tier::App, v.trinity_ai.replicas, pod).into(),
    ]
}

fn frontend(v: &Values) -> Vec<Object> {
    // nginx writes its cache and pid file: give it writable scratch space.
    let pod = Builder::new("frontend", &v.frontend, NGINX_UID)
        .port("http", 80)
        .readiness(http_probe("/", "http", None, Timing::READY))
        .liveness(http_probe("/", "http", None, Timing::LIVE))
        .scratch("cache", "/var/cache/nginx")
        .scratch("run", "/var/run")
        .low_ports()
        .spread("frontend", false)
        .pod();
    let np = node_port(v, v.node_ports.frontend);
    vec![
        service(
            v,
            "frontend",
            "frontend",
            Tier::App,
            &[Port {
                name: "http",
                port: 80,
                node_port: np,
            }],
        )
        .into(),
        deployment(v, "frontend", Tier::App, v.frontend.replicas, pod).into(),
        pdb(v, "frontend", Tier::App).into(),
    ]
}

fn celery(v: &Values) -> k8s_openapi::api::apps::v1::Deployment {
    let app = &v.apps.celery_app;
    // `inspect ping` starts a second Python process loading the whole app (a few hundred MiB) and
    // round-trips through Redis: only every 5 minutes, with a minute to answer, so a hung worker
    // is restarted within about 15 minutes without the probe crowding the memory limit.
    let ping = format!("celery -A {app} inspect ping -d \"celery@$HOSTNAME\" --timeout 30");
    let pod = django("celery", v, &v.celery)
        .args([
            "celery".to_owned(),
            "-A".to_owned(),
            app.clone(),
            "worker".to_owned(),
            "--loglevel=INFO".to_owned(),
            format!("--concurrency={}", v.apps.celery_concurrency),
            format!(
                "--max-tasks-per-child={}",
                v.apps.celery_max_tasks_per_child
            ),
        ])
        .liveness(shell_probe(&ping, CELERY_LIVENESS))
        .pod();
    deployment(v, "celery", Tier::App, v.celery.replicas, pod)
}

fn flight(v: &Values) -> Vec<Object> {
    let pod = backend("flight", &v.flight)
        .port("flight", 8815)
        .readiness(tcp_probe("flight", Timing::READY))
        .liveness(tcp_probe("flight", Timing::LIVE))
        .pod();
    let np = node_port(v, v.node_ports.flight);
    vec![
        service(
            v,
            "flight",
            "flight",
            Tier::App,
            &[Port {
                name: "flight",
                port: 8815,
                node_port: np,
            }],
        )
        .into(),
        deployment(v, "flight", Tier::App, v.flight.replicas, pod).into(),
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
    let mut spec = django("migrate", v, &v.web)
        .args(["python", "manage.py", "migrate", "--noinput"])
        .pod();
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
