//! One rendered Kubernetes object, the component it belongs to, and Helm's install order.

use k8s_openapi::Resource as _;
use k8s_openapi::api::apps::v1::{Deployment, StatefulSet};
use k8s_openapi::api::batch::v1::{CronJob, Job};
use k8s_openapi::api::core::v1::{
    ConfigMap, Namespace, PersistentVolumeClaim, Service, ServiceAccount,
};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use k8s_openapi::api::policy::v1::PodDisruptionBudget;
use k8s_openapi::api::rbac::v1::{Role, RoleBinding};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::Serialize;

/// An object of a kind without k8s-openapi types (prometheus-operator CRDs).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CustomObject {
    pub api_version: String,
    pub kind: String,
    pub metadata: ObjectMeta,
    pub spec: serde_json::Value,
}

macro_rules! objects {
    ($($variant:ident),* $(,)?) => {
        /// Every kind trinity-deploy renders.
        #[derive(Debug, Clone, PartialEq, Serialize)]
        #[serde(untagged)]
        #[allow(clippy::large_enum_variant, reason = "a few dozen objects per render; boxing buys nothing")]
        pub enum Object {
            $($variant($variant),)*
            Custom(CustomObject),
        }

        impl Object {
            /// `kind`, as in the manifest.
            pub fn kind(&self) -> &str {
                match self {
                    $(Object::$variant(_) => $variant::KIND,)*
                    Object::Custom(c) => &c.kind,
                }
            }

            /// `apiVersion`, as in the manifest.
            pub fn api_version(&self) -> &str {
                match self {
                    $(Object::$variant(_) => $variant::API_VERSION,)*
                    Object::Custom(c) => &c.api_version,
                }
            }

            pub fn metadata(&self) -> &ObjectMeta {
                match self {
                    $(Object::$variant(o) => &o.metadata,)*
                    Object::Custom(c) => &c.metadata,
                }
            }

            pub fn metadata_mut(&mut self) -> &mut ObjectMeta {
                match self {
                    $(Object::$variant(o) => &mut o.metadata,)*
                    Object::Custom(c) => &mut c.metadata,
                }
            }
        }

        $(impl From<$variant> for Object {
            fn from(o: $variant) -> Self {
                Object::$variant(o)
            }
        })*
    };
}

objects!(
    Namespace,
    NetworkPolicy,
    PodDisruptionBudget,
    ServiceAccount,
    ConfigMap,
    PersistentVolumeClaim,
    Role,
    RoleBinding,
    Service,
    Deployment,
    StatefulSet,
    Job,
    CronJob,
);

impl Object {
    /// `metadata.name` (every rendered object has one).
    pub fn name(&self) -> &str {
        self.metadata().name.as_deref().unwrap_or_default()
    }
}

/// The parts of the stack, in apply order. `--out DIR` writes one file per component.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Component {
    Namespace,
    NetworkPolicies,
    Config,
    Postgres,
    Mongo,
    Redis,
    Minio,
    Migrate,
    Web,
    Fastapi,
    TrinityAi,
    Frontend,
    Celery,
    Flight,
    Proxy,
    Cloudflared,
    Monitoring,
    Backups,
}

/// When a component is applied; `apply` waits for each stage before the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Stage {
    Namespace,
    Config,
    Databases,
    Migration,
    Apps,
    Proxy,
    Optional,
}

impl Component {
    pub const ALL: [Component; 18] = [
        Component::Namespace,
        Component::NetworkPolicies,
        Component::Config,
        Component::Postgres,
        Component::Mongo,
        Component::Redis,
        Component::Minio,
        Component::Migrate,
        Component::Web,
        Component::Fastapi,
        Component::TrinityAi,
        Component::Frontend,
        Component::Celery,
        Component::Flight,
        Component::Proxy,
        Component::Cloudflared,
        Component::Monitoring,
        Component::Backups,
    ];

    /// Short name, used in file names and the status table.
    pub fn name(self) -> &'static str {
        match self {
            Component::Namespace => "namespace",
            Component::NetworkPolicies => "network-policies",
            Component::Config => "config",
            Component::Postgres => "postgres",
            Component::Mongo => "mongo",
            Component::Redis => "redis",
            Component::Minio => "minio",
            Component::Migrate => "migrate",
            Component::Web => "web",
            Component::Fastapi => "fastapi",
            Component::TrinityAi => "trinity-ai",
            Component::Frontend => "frontend",
            Component::Celery => "celery",
            Component::Flight => "flight",
            Component::Proxy => "trinity-proxy",
            Component::Cloudflared => "cloudflared",
            Component::Monitoring => "monitoring",
            Component::Backups => "backups",
        }
    }

    pub fn stage(self) -> Stage {
        match self {
            Component::Namespace => Stage::Namespace,
            Component::NetworkPolicies | Component::Config => Stage::Config,
            Component::Postgres | Component::Mongo | Component::Redis | Component::Minio => {
                Stage::Databases
            }
            Component::Migrate => Stage::Migration,
            Component::Web
            | Component::Fastapi
            | Component::TrinityAi
            | Component::Frontend
            | Component::Celery
            | Component::Flight => Stage::Apps,
            Component::Proxy => Stage::Proxy,
            Component::Cloudflared | Component::Monitoring | Component::Backups => Stage::Optional,
        }
    }

    /// The file `render --out` writes this component to: `NN-name.yaml`, NN its apply position.
    pub fn file_name(self) -> String {
        let index = Component::ALL
            .iter()
            .position(|c| *c == self)
            .unwrap_or_default();
        format!("{index:02}-{}.yaml", self.name())
    }
}

/// A rendered object and the component it belongs to.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    pub component: Component,
    pub object: Object,
}

/// Helm's install order (`releaseutil.InstallOrder`); kinds not listed go last, by name.
const INSTALL_ORDER: [&str; 35] = [
    "Namespace",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
    "PodSecurityPolicy",
    "PodDisruptionBudget",
    "ServiceAccount",
    "Secret",
    "SecretList",
    "ConfigMap",
    "StorageClass",
    "PersistentVolume",
    "PersistentVolumeClaim",
    "CustomResourceDefinition",
    "ClusterRole",
    "ClusterRoleList",
    "ClusterRoleBinding",
    "ClusterRoleBindingList",
    "Role",
    "RoleList",
    "RoleBinding",
    "RoleBindingList",
    "Service",
    "DaemonSet",
    "Pod",
    "ReplicationController",
    "ReplicaSet",
    "Deployment",
    "HorizontalPodAutoscaler",
    "StatefulSet",
    "Job",
    "CronJob",
    "IngressClass",
    "Ingress",
    "APIService",
];

/// Position of `kind` in Helm's install order.
pub fn kind_rank(kind: &str) -> usize {
    INSTALL_ORDER
        .iter()
        .position(|k| *k == kind)
        .unwrap_or(INSTALL_ORDER.len())
}

/// Sorts like Helm: by kind rank, then kind, then name.
pub fn sort_helm(manifests: &mut [Manifest]) {
    manifests.sort_by(|a, b| {
        let key = |m: &Manifest| (kind_rank(m.object.kind()), m.object.kind().to_owned());
        key(a)
            .cmp(&key(b))
            .then_with(|| a.object.name().cmp(b.object.name()))
    });
}
