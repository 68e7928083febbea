//! Pieces shared by the component renderers: labels, security contexts, probes, env vars, Services,
//! Deployments, spread and disruption budgets (containers and pods: [`super::builder`]).

use crate::values::{Resources, Values};
use k8s_openapi::api::apps::v1::{Deployment, DeploymentSpec};
use k8s_openapi::api::core::v1::{
    Capabilities, EnvVar, EnvVarSource, ExecAction, HTTPGetAction, HTTPHeader,
    LocalObjectReference, PodSecurityContext, PodSpec, PodTemplateSpec, Probe,
    ResourceRequirements, SeccompProfile, SecretKeySelector, SecurityContext, Service, ServicePort,
    ServiceSpec, Sysctl, TCPSocketAction, TopologySpreadConstraint,
};
use k8s_openapi::api::policy::v1::{PodDisruptionBudget, PodDisruptionBudgetSpec};
use k8s_openapi::apimachinery::pkg::api::resource::Quantity;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// `trinity.io/tier`: what NetworkPolicies select on.
pub const TIER: &str = "trinity.io/tier";
pub const APP: &str = "app.kubernetes.io/name";
pub const PART_OF: &str = "app.kubernetes.io/part-of";

/// The NetworkPolicy tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tier {
    /// The proxy: reachable from anywhere.
    Edge,
    /// Trinity application pods (web, fastapi, …, celery, migration, backups).
    App,
    /// PostgreSQL, MongoDB, Redis, MinIO: reachable only from app pods.
    Db,
    /// cloudflared: may only reach the proxy.
    Tunnel,
}

impl Tier {
    pub fn as_str(self) -> &'static str {
        match self {
            Tier::Edge => "edge",
            Tier::App => "app",
            Tier::Db => "db",
            Tier::Tunnel => "tunnel",
        }
    }
}

/// Labels that select `app`'s pods.
/// The label selector matching `app`'s pods (workloads, PDBs, spread constraints).
pub fn app_selector(app: &str) -> LabelSelector {
    LabelSelector {
        match_labels: Some(selector(app)),
        ..LabelSelector::default()
    }
}

pub fn selector(app: &str) -> BTreeMap<String, String> {
    BTreeMap::from([
        (APP.to_owned(), app.to_owned()),
        (PART_OF.to_owned(), "trinity".to_owned()),
    ])
}

/// Labels of objects that belong to the stack as a whole rather than one app.
pub fn stack_labels() -> BTreeMap<String, String> {
    BTreeMap::from([
        (PART_OF.to_owned(), "trinity".to_owned()),
        (
            "app.kubernetes.io/managed-by".to_owned(),
            "trinity-deploy".to_owned(),
        ),
    ])
}

/// Every label of `app`'s objects and pods.
pub fn labels(app: &str, tier: Tier) -> BTreeMap<String, String> {
    let mut l = selector(app);
    l.insert(
        "app.kubernetes.io/managed-by".to_owned(),
        "trinity-deploy".to_owned(),
    );
    l.insert(TIER.to_owned(), tier.as_str().to_owned());
    l
}

/// Metadata in the stack's namespace.
pub fn meta(v: &Values, name: &str, labels: BTreeMap<String, String>) -> ObjectMeta {
    ObjectMeta {
        name: Some(name.to_owned()),
        namespace: Some(v.namespace.clone()),
        labels: Some(labels),
        ..ObjectMeta::default()
    }
}

/// Pod-level security: non-root `uid`, RuntimeDefault seccomp, volumes group-owned by `uid`.
pub fn pod_security(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        run_as_non_root: Some(true),
        run_as_user: Some(uid),
        run_as_group: Some(uid),
        fs_group: Some(uid),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..SeccompProfile::default()
        }),
        ..PodSecurityContext::default()
    }
}

/// Pod-level security for a non-root `uid` that listens on ports below 1024: the namespaced, "safe"
/// sysctl `net.ipv4.ip_unprivileged_port_start=0` (allowed by `restricted`). Capabilities would not
/// do: a non-root process gets no effective capabilities and `allowPrivilegeEscalation: false`
/// ignores file capabilities.
pub fn pod_security_low_ports(uid: i64) -> PodSecurityContext {
    PodSecurityContext {
        sysctls: Some(vec![Sysctl {
            name: "net.ipv4.ip_unprivileged_port_start".to_owned(),
            value: "0".to_owned(),
        }]),
        ..pod_security(uid)
    }
}

/// Container security allowed by Pod Security `restricted`.
pub fn container_security() -> SecurityContext {
    SecurityContext {
        allow_privilege_escalation: Some(false),
        run_as_non_root: Some(true),
        capabilities: Some(Capabilities {
            drop: Some(vec!["ALL".to_owned()]),
            add: None,
        }),
        seccomp_profile: Some(SeccompProfile {
            type_: "RuntimeDefault".to_owned(),
            ..SeccompProfile::default()
        }),
        ..SecurityContext::default()
    }
}

pub fn resources(r: &Resources) -> ResourceRequirements {
    let pair = |memory: &str, cpu: &str| {
        BTreeMap::from([
            ("cpu".to_owned(), Quantity(cpu.to_owned())),
            ("memory".to_owned(), Quantity(memory.to_owned())),
        ])
    };
    ResourceRequirements {
        requests: Some(pair(&r.requests.memory.0, &r.requests.cpu.0)),
        limits: Some(pair(&r.limits.memory.0, &r.limits.cpu.0)),
        ..ResourceRequirements::default()
    }
}

/// When and how patiently a probe runs.
#[derive(Debug, Clone, Copy)]
pub struct Timing {
    /// Seconds after the container starts before the first probe.
    pub initial_delay: i32,
    /// Seconds between probes.
    pub period: i32,
    /// Seconds one probe may take.
    pub timeout: i32,
    /// Failures in a row that count as failed.
    pub failure_threshold: i32,
}

impl Timing {
    pub const READY: Timing = Timing {
        initial_delay: 5,
        period: 10,
        timeout: 3,
        failure_threshold: 3,
    };
    pub const LIVE: Timing = Timing {
        initial_delay: 15,
        period: 20,
        timeout: 5,
        failure_threshold: 3,
    };

    fn apply(self, p: Probe) -> Probe {
        Probe {
            initial_delay_seconds: Some(self.initial_delay),
            period_seconds: Some(self.period),
            timeout_seconds: Some(self.timeout),
            failure_threshold: Some(self.failure_threshold),
            ..p
        }
    }
}

/// HTTP GET probe on a named container port, with an optional Host header.
pub fn http_probe(path: &str, port: &str, host: Option<&str>, t: Timing) -> Probe {
    t.apply(Probe {
        http_get: Some(HTTPGetAction {
            path: Some(path.to_owned()),
            port: IntOrString::String(port.to_owned()),
            http_headers: host.map(|h| {
                vec![HTTPHeader {
                    name: "Host".to_owned(),
                    value: h.to_owned(),
                }]
            }),
            ..HTTPGetAction::default()
        }),
        ..Probe::default()
    })
}

/// TCP probe on a named container port.
pub fn tcp_probe(port: &str, t: Timing) -> Probe {
    t.apply(Probe {
        tcp_socket: Some(TCPSocketAction {
            port: IntOrString::String(port.to_owned()),
            ..TCPSocketAction::default()
        }),
        ..Probe::default()
    })
}

/// Probe running `sh -c script` in the container.
pub fn shell_probe(script: &str, t: Timing) -> Probe {
    t.apply(Probe {
        exec: Some(ExecAction {
            command: Some(vec!["sh".into(), "-c".into(), script.to_owned()]),
        }),
        ..Probe::default()
    })
}

pub fn env(name: &str, value: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value: Some(value.to_owned()),
        ..EnvVar::default()
    }
}

/// An env var read from a generated Secret (the value never appears in the manifests).
pub fn secret_env(name: &str, secret: &str, key: &str) -> EnvVar {
    EnvVar {
        name: name.to_owned(),
        value_from: Some(EnvVarSource {
            secret_key_ref: Some(SecretKeySelector {
                name: secret.to_owned(),
                key: key.to_owned(),
                optional: Some(false),
            }),
            ..EnvVarSource::default()
        }),
        ..EnvVar::default()
    }
}

/// One Service port.
pub struct Port<'a> {
    /// Also the name of the container port it targets.
    pub name: &'a str,
    pub port: i32,
    /// The NodePort, when enabled.
    pub node_port: Option<i32>,
}

/// A Service selecting `app`'s pods; NodePort type when any port carries one.
pub fn service(v: &Values, name: &str, app: &str, tier: Tier, ports: &[Port<'_>]) -> Service {
    let node = ports.iter().any(|p| p.node_port.is_some());
    Service {
        metadata: meta(v, name, labels(app, tier)),
        spec: Some(ServiceSpec {
            type_: Some(if node { "NodePort" } else { "ClusterIP" }.to_owned()),
            selector: Some(selector(app)),
            ports: Some(
                ports
                    .iter()
                    .map(|p| ServicePort {
                        name: Some(p.name.to_owned()),
                        port: p.port,
                        target_port: Some(IntOrString::String(p.name.to_owned())),
                        node_port: p.node_port,
                        protocol: Some("TCP".to_owned()),
                        ..ServicePort::default()
                    })
                    .collect(),
            ),
            ..ServiceSpec::default()
        }),
        ..Service::default()
    }
}

/// The values' `image_pull_secrets`, for every pod.
pub fn pull_secrets(v: &Values) -> Option<Vec<LocalObjectReference>> {
    (!v.image_pull_secrets.is_empty()).then(|| {
        v.image_pull_secrets
            .iter()
            .map(|name| LocalObjectReference { name: name.clone() })
            .collect()
    })
}

/// Spread `app`'s pods over nodes (max skew 1), counting only pods of the same revision so a
/// rollout's surge pod is placed by the new revision's spread. `hard`: `DoNotSchedule` (a one-node
/// cluster still schedules every pod: its only node is also the least loaded); else `ScheduleAnyway`.
pub fn spread(app: &str, hard: bool) -> Vec<TopologySpreadConstraint> {
    vec![TopologySpreadConstraint {
        max_skew: 1,
        topology_key: "kubernetes.io/hostname".to_owned(),
        when_unsatisfiable: if hard {
            "DoNotSchedule"
        } else {
            "ScheduleAnyway"
        }
        .to_owned(),
        label_selector: Some(app_selector(app)),
        match_label_keys: Some(vec!["pod-template-hash".to_owned()]),
        ..TopologySpreadConstraint::default()
    }]
}

/// A PodDisruptionBudget letting a drain evict one of `app`'s pods at a time.
pub fn pdb(v: &Values, app: &str, tier: Tier) -> PodDisruptionBudget {
    PodDisruptionBudget {
        metadata: meta(v, app, labels(app, tier)),
        spec: Some(PodDisruptionBudgetSpec {
            max_unavailable: Some(IntOrString::Int(1)),
            selector: Some(app_selector(app)),
            ..PodDisruptionBudgetSpec::default()
        }),
        ..PodDisruptionBudget::default()
    }
}

/// `Some(port)` when NodePorts are enabled.
pub fn node_port(v: &Values, port: i32) -> Option<i32> {
    v.node_ports.enabled.then_some(port)
}

/// `Some(port)` when NodePorts are enabled and `expose_databases` is set.
pub fn db_node_port(v: &Values, port: i32) -> Option<i32> {
    (v.node_ports.enabled && v.node_ports.expose_databases).then_some(port)
}

/// A Deployment of `replicas` pods of `app` running `pod` (service-account token not mounted unless set).
pub fn deployment(v: &Values, app: &str, tier: Tier, replicas: i32, pod: PodSpec) -> Deployment {
    Deployment {
        metadata: meta(v, app, labels(app, tier)),
        spec: Some(DeploymentSpec {
            replicas: Some(replicas),
            revision_history_limit: Some(5),
            selector: app_selector(app),
            template: PodTemplateSpec {
                metadata: Some(ObjectMeta {
                    labels: Some(labels(app, tier)),
                    ..ObjectMeta::default()
                }),
                spec: Some(PodSpec {
                    automount_service_account_token: pod
                        .automount_service_account_token
                        .or(Some(false)),
                    image_pull_secrets: pull_secrets(v),
                    ..pod
                }),
            },
            ..DeploymentSpec::default()
        }),
        ..Deployment::default()
    }
}

/// A ReadWriteOnce claim of `size` in the configured storage class.
pub fn claim_spec(v: &Values, size: &str) -> k8s_openapi::api::core::v1::PersistentVolumeClaimSpec {
    use k8s_openapi::api::core::v1::{PersistentVolumeClaimSpec, VolumeResourceRequirements};
    PersistentVolumeClaimSpec {
        access_modes: Some(vec!["ReadWriteOnce".to_owned()]),
        storage_class_name: v.storage.storage_class.clone(),
        resources: Some(VolumeResourceRequirements {
            requests: Some(BTreeMap::from([(
                "storage".to_owned(),
                Quantity(size.to_owned()),
            )])),
            ..VolumeResourceRequirements::default()
        }),
        ..PersistentVolumeClaimSpec::default()
    }
}
