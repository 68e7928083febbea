//! The values file format: serde structs, `deny_unknown_fields`, every default named in its doc comment.

use super::image::{Digest, PullPolicy, Registry, SecretName};
use super::scalar::{
    Cidr, DnsLabel, Duration, EnvName, Hour, LabelKey, LabelValue, Network, Quantity, Replicas,
    TimeZone,
};
use super::url::{Prefix, PublicUrl};
use schemars::JsonSchema;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::num::NonZeroU32;

/// The whole values file.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct StackFile {
    /// Namespace of every object. Default `trinity`.
    pub namespace: DnsLabel,
    /// The address browsers use, `http(s)://host[:port]`. Default `http://localhost:8080`
    /// (`trinity-deploy port-forward`). Feeds Django's allowed hosts and CSRF-trusted origins and
    /// MinIO's console redirect URL.
    pub public_url: PublicUrl,
    /// Registry prefixed to the Trinity application images (web, fastapi, trinity-ai, frontend,
    /// celery, flight, trinity-proxy; not postgres, mongo, …), e.g. `ghcr.io/acme`. Default empty:
    /// images as written, which a container runtime reads as Docker Hub (`docker.io/trinity/web`).
    pub registry: Registry,
    /// `imagePullPolicy` of the Trinity application images: `IfNotPresent` (default), `Always`, or
    /// `Never` (minikube after `minikube image load`). Third-party images: always `IfNotPresent`.
    pub image_pull_policy: PullPolicy,
    /// Secrets (type `kubernetes.io/dockerconfigjson`, created by the operator) every pod pulls its
    /// images with. Default none.
    pub image_pull_secrets: Vec<SecretName>,
    /// Requests and limits of every container unless its component sets its own.
    /// Default requests 512Mi memory / 250m CPU, limits 1Gi / 500m.
    pub resources: Resources,
    /// Volume sizes of the stateful components.
    pub storage: Storage,
    /// NodePorts; off by default since the proxy is the entry.
    pub node_ports: NodePorts,
    /// trinity-proxy settings rendered into its ConfigMap and Deployment.
    pub proxy: ProxySettings,
    /// Settings shared by the Trinity application components.
    pub apps: Apps,
    /// Image, tag, replicas and resources per component.
    pub components: Components,
    /// Cloudflare tunnel in front of the proxy. Default off.
    pub cloudflared: Cloudflared,
    /// ServiceMonitor, PrometheusRule and Grafana dashboard. Default off.
    pub monitoring: Monitoring,
    /// Backup CronJobs (pg_dump, mongodump, MinIO mirror). Default off.
    pub backups: Backups,
}

/// Requests and limits of one container.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct Resources {
    pub requests: ResourceValues,
    pub limits: ResourceValues,
}

impl Default for Resources {
    fn default() -> Self {
        Resources {
            requests: ResourceValues {
                memory: Quantity("512Mi".into()),
                cpu: Quantity("250m".into()),
            },
            limits: ResourceValues {
                memory: Quantity("1Gi".into()),
                cpu: Quantity("500m".into()),
            },
        }
    }
}

impl Resources {
    fn of(request: (&str, &str), limit: (&str, &str)) -> Self {
        let q = |s: &str| Quantity(s.to_owned());
        Resources {
            requests: ResourceValues {
                memory: q(request.0),
                cpu: q(request.1),
            },
            limits: ResourceValues {
                memory: q(limit.0),
                cpu: q(limit.1),
            },
        }
    }

    /// trinity-ai's default (not the shared one): requests 1Gi / 500m, limits 2Gi / 1 CPU, room to
    /// load a model.
    pub fn trinity_ai() -> Self {
        Resources::of(("1Gi", "500m"), ("2Gi", "1"))
    }

    /// trinity-proxy's default (not the shared one): requests 128Mi / 250m, limits 512Mi and one
    /// CPU per worker thread, so the CFS quota never throttles the threads it runs.
    pub fn proxy(threads: u32) -> Self {
        Resources::of(("128Mi", "250m"), ("512Mi", &threads.max(1).to_string()))
    }
}

/// Memory and CPU quantities, Kubernetes syntax (`512Mi`, `250m`).
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields)]
pub struct ResourceValues {
    pub memory: Quantity,
    pub cpu: Quantity,
}

/// Persistent volume sizes.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Storage {
    /// StorageClass of every claim. Default: the cluster's default class.
    pub storage_class: Option<String>,
    /// Default 5Gi.
    pub postgres: Quantity,
    /// Default 5Gi.
    pub mongo: Quantity,
    /// Default 2Gi.
    pub redis: Quantity,
    /// Default 10Gi.
    pub minio: Quantity,
    /// Backup volume. Default: room for `backups.retention_days` days of every copy,
    /// (postgres + mongo + minio) × retention_days (140Gi with the defaults); dumps are compressed,
    /// so this is the worst case.
    pub backups: Option<Quantity>,
}

impl Default for Storage {
    fn default() -> Self {
        Storage {
            storage_class: None,
            postgres: Quantity("5Gi".into()),
            mongo: Quantity("5Gi".into()),
            redis: Quantity("2Gi".into()),
            minio: Quantity("10Gi".into()),
            backups: None,
        }
    }
}

/// NodePort numbers, used only when `enabled` (default false). Kubernetes accepts 30000-32767.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct NodePorts {
    /// Default false: every Service is ClusterIP and the proxy is the entry.
    pub enabled: bool,
    /// Also give PostgreSQL, MongoDB, Redis and MinIO NodePorts (with `enabled`), reachable by anyone
    /// who reaches a node; `validate`, `render` and `apply` warn. Default false.
    pub expose_databases: bool,
    /// The proxy's port 80 (default 30081); its port 8080 gets no NodePort.
    pub proxy: i32,
    /// Default 30080.
    pub frontend: i32,
    /// Default 30000.
    pub web: i32,
    /// Default 30001.
    pub fastapi: i32,
    /// Default 30002.
    pub trinity_ai: i32,
    /// Default 30815.
    pub flight: i32,
    /// Default 30432.
    pub postgres: i32,
    /// Default 30017.
    pub mongo: i32,
    /// Default 30379.
    pub redis: i32,
    /// MinIO API. Default 30900.
    pub minio: i32,
    /// MinIO console. Default 30901.
    pub minio_console: i32,
}

impl Default for NodePorts {
    fn default() -> Self {
        NodePorts {
            enabled: false,
            expose_databases: false,
            proxy: 30081,
            frontend: 30080,
            web: 30000,
            fastapi: 30001,
            trinity_ai: 30002,
            flight: 30815,
            postgres: 30432,
            mongo: 30017,
            redis: 30379,
            minio: 30900,
            minio_console: 30901,
        }
    }
}

/// trinity-proxy settings.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProxySettings {
    /// Worker threads per proxy pod. Default 2. The proxy's CPU limit may not be below it.
    pub threads: u32,
    /// CIDRs whose forwarding headers the proxy believes. Default none. Required with cloudflared:
    /// the cluster's pod CIDR, so the cloudflared pods are trusted (`client_ip.header` is then
    /// `cf-connecting-ip`).
    pub trusted_proxies: Vec<Cidr>,
    /// Read timeout (idle gap) of the /trinityai route. Default 300s. Behind cloudflared,
    /// Cloudflare itself cuts a proxied response idle for 100 s (its 524 error) whatever this says.
    pub trinity_ai_read_timeout: Duration,
    /// Time between readiness turning 503 and the listeners closing. Default 5s.
    pub drain_delay: Duration,
    /// Longest wait for in-flight requests after the listeners close. Default 25s.
    pub shutdown_timeout: Duration,
}

impl Default for ProxySettings {
    fn default() -> Self {
        ProxySettings {
            threads: 2,
            trusted_proxies: Vec::new(),
            trinity_ai_read_timeout: Duration::from_secs(300),
            drain_delay: Duration::from_secs(5),
            shutdown_timeout: Duration::from_secs(25),
        }
    }
}

/// Settings shared by the application components.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Apps {
    /// Image tag of every Trinity application image unless a component sets its own. Default `0.1.0`.
    pub tag: String,
    /// Host header of web's probes and the proxy's health check; must be in Django's ALLOWED_HOSTS.
    /// Default `localhost`.
    pub probe_host: String,
    /// Celery application module (`celery -A <app>`). Default `trinity`.
    pub celery_app: String,
    /// Worker processes per celery pod (`--concurrency`). Default 2.
    pub celery_concurrency: NonZeroU32,
    /// Tasks a worker process runs before it is replaced (`--max-tasks-per-child`), bounding
    /// leaks. Default 100.
    pub celery_max_tasks_per_child: NonZeroU32,
    /// PostgreSQL database name. Default `trinity`.
    pub postgres_db: String,
    /// Path prefix of Django's admin static files, routed to web beside the frontend's `/static`.
    /// Default `/static/admin`.
    pub django_static_prefix: Prefix,
    /// Networks whose `X-Forwarded-For` / `-Proto` web, fastapi and trinity-ai believe: their
    /// `FORWARDED_ALLOW_IPS` (read by uvicorn and gunicorn), which must hold the proxy pods'
    /// addresses, i.e. the cluster's pod CIDR. Default `["10.244.0.0/16"]` (minikube's, kind's,
    /// kubeadm with flannel). Empty: the variable is not rendered (the servers trust 127.0.0.1 only).
    pub forwarded_allow_ips: Vec<Network>,
}

impl Default for Apps {
    fn default() -> Self {
        Apps {
            tag: "0.1.0".into(),
            probe_host: "localhost".into(),
            celery_app: "trinity".into(),
            celery_concurrency: NonZeroU32::new(2).unwrap_or(NonZeroU32::MIN),
            celery_max_tasks_per_child: NonZeroU32::new(100).unwrap_or(NonZeroU32::MIN),
            postgres_db: "trinity".into(),
            django_static_prefix: Prefix("/static/admin".into()),
            forwarded_allow_ips: vec![Network(MINIKUBE_POD_CIDR.into())],
        }
    }
}

/// The pod CIDR of minikube, kind and kubeadm with flannel: `apps.forwarded_allow_ips`' default.
pub const MINIKUBE_POD_CIDR: &str = "10.244.0.0/16";

/// Per-component overrides.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Components {
    pub postgres: ComponentValues,
    pub mongo: ComponentValues,
    pub redis: ComponentValues,
    pub minio: ComponentValues,
    pub web: ComponentValues,
    pub fastapi: ComponentValues,
    pub trinity_ai: ComponentValues,
    pub frontend: ComponentValues,
    pub celery: ComponentValues,
    pub flight: ComponentValues,
    pub trinity_proxy: ComponentValues,
    pub cloudflared: ComponentValues,
    /// The MinIO client image of the MinIO mirror backup.
    pub backup_tools: ComponentValues,
}

impl Components {
    /// (values key, values) of every component.
    pub fn all(&self) -> [(&'static str, &ComponentValues); 13] {
        [
            ("postgres", &self.postgres),
            ("mongo", &self.mongo),
            ("redis", &self.redis),
            ("minio", &self.minio),
            ("web", &self.web),
            ("fastapi", &self.fastapi),
            ("trinity_ai", &self.trinity_ai),
            ("frontend", &self.frontend),
            ("celery", &self.celery),
            ("flight", &self.flight),
            ("trinity_proxy", &self.trinity_proxy),
            ("cloudflared", &self.cloudflared),
            ("backup_tools", &self.backup_tools),
        ]
    }
}

/// One component's overrides; each missing key keeps the component's default.
#[derive(Debug, Clone, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ComponentValues {
    pub image: Option<String>,
    pub tag: Option<String>,
    /// `sha256:…` digest pinned beside the tag (`image:tag@digest`). Default none.
    pub digest: Option<Digest>,
    pub replicas: Option<Replicas>,
    pub resources: Option<Resources>,
    /// Extra environment variables of the component's container, `{NAME: value}`; a name the
    /// renderer sets too is replaced by this value. Names read from a generated Secret are refused.
    /// Default none.
    pub env: BTreeMap<EnvName, String>,
}

/// Cloudflare tunnel.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Cloudflared {
    /// Default false.
    pub enabled: bool,
    /// Secret holding the tunnel token under key `token`; created by the operator, never generated.
    /// Default `cloudflared-token`.
    pub token_secret: String,
}

impl Default for Cloudflared {
    fn default() -> Self {
        Cloudflared {
            enabled: false,
            token_secret: "cloudflared-token".into(),
        }
    }
}

/// Prometheus-operator objects.
#[derive(Debug, Clone, PartialEq, Default, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Monitoring {
    /// Default false. Applied only when the prometheus-operator CRDs exist.
    pub enabled: bool,
    /// Labels added to the ServiceMonitor and PrometheusRule, which the operator selects by
    /// (`serviceMonitorSelector`, `ruleSelector`), e.g. `release: kube-prometheus-stack`.
    /// Default none: fine for an operator that selects everything, ignored silently otherwise.
    pub labels: BTreeMap<LabelKey, LabelValue>,
}

/// Backup CronJobs.
#[derive(Debug, Clone, PartialEq, Deserialize, JsonSchema)]
#[serde(deny_unknown_fields, default)]
pub struct Backups {
    /// Default false.
    pub enabled: bool,
    /// Hour (0-23, in `time_zone`) of the PostgreSQL dump; MongoDB runs at minute 20 and MinIO at
    /// minute 40 of the same hour. Default 2.
    pub hour: Hour,
    /// Days a dump or MinIO snapshot is kept. Default 7.
    pub retention_days: NonZeroU32,
    /// IANA time zone of the CronJobs' schedule (`timeZone`), e.g. `Europe/Berlin`. Default none:
    /// the kube-controller-manager's zone (usually UTC).
    pub time_zone: Option<TimeZone>,
}

impl Default for Backups {
    fn default() -> Self {
        Backups {
            enabled: false,
            hour: Hour(2),
            retention_days: NonZeroU32::new(7).unwrap_or(NonZeroU32::MIN),
            time_zone: None,
        }
    }
}
