//! trinity-proxy: its ConfigMap, ServiceAccount and EndpointSlice RBAC, Deployment spread across nodes,
//! PodDisruptionBudget, public Service (80, 8080) and metrics Service (admin port).

use super::builder::Builder;
use super::common::{Port, Tier, Timing, deployment, http_probe, labels, meta, pdb, service};
use super::proxy_config::{ADMIN_PORT, CONFIG_KEY, LISTEN_PORTS};
use crate::object::{Component, Manifest, Object};
use crate::values::Values;
use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{
    ConfigMap, Lifecycle, LifecycleHandler, PodSpec, ServiceAccount, SleepAction,
};
use k8s_openapi::api::rbac::v1::{PolicyRule, Role, RoleBinding, RoleRef, Subject};
use std::collections::BTreeMap;

pub const NAME: &str = "trinity-proxy";
/// The Service the ServiceMonitor scrapes.
pub const METRICS_SERVICE: &str = "trinity-proxy-metrics";
/// UID the proxy image runs as: distroless `nonroot` (docker/trinity-proxy.Dockerfile).
const PROXY_UID: i64 = 65532;

pub fn render(v: &Values, config_yaml: String) -> Vec<Manifest> {
    let objects: Vec<Object> = vec![
        config_map(v, config_yaml).into(),
        ServiceAccount {
            metadata: meta(v, NAME, labels(NAME, Tier::Edge)),
            automount_service_account_token: Some(true),
            ..ServiceAccount::default()
        }
        .into(),
        role(v).into(),
        role_binding(v).into(),
        proxy_deployment(v).into(),
        pdb(v, NAME, Tier::Edge).into(),
        public_service(v).into(),
        service(
            v,
            METRICS_SERVICE,
            NAME,
            Tier::Edge,
            &[Port {
                name: "admin",
                port: ADMIN_PORT,
                node_port: None,
            }],
        )
        .into(),
    ];
    objects
        .into_iter()
        .map(|object| Manifest {
            component: Component::Proxy,
            object,
        })
        .collect()
}

fn config_map(v: &Values, config_yaml: String) -> ConfigMap {
    ConfigMap {
        metadata: meta(v, NAME, labels(NAME, Tier::Edge)),
        data: Some(BTreeMap::from([(CONFIG_KEY.to_owned(), config_yaml)])),
        ..ConfigMap::default()
    }
}

fn role(v: &Values) -> Role {
    Role {
        metadata: meta(v, NAME, labels(NAME, Tier::Edge)),
        rules: Some(vec![PolicyRule {
            api_groups: Some(vec!["discovery.k8s.io".to_owned()]),
            resources: Some(vec!["endpointslices".to_owned()]),
            verbs: vec!["get".into(), "list".into(), "watch".into()],
            ..PolicyRule::default()
        }]),
    }
}

fn role_binding(v: &Values) -> RoleBinding {
    RoleBinding {
        metadata: meta(v, NAME, labels(NAME, Tier::Edge)),
        role_ref: RoleRef {
            api_group: "rbac.authorization.k8s.io".to_owned(),
            kind: "Role".to_owned(),
            name: NAME.to_owned(),
        },
        subjects: Some(vec![Subject {
            kind: "ServiceAccount".to_owned(),
            name: NAME.to_owned(),
            namespace: Some(v.namespace.clone()),
            ..Subject::default()
        }]),
    }
}

/// Seconds of the preStop sleep: endpoints controllers and kube-proxy drop the pod meanwhile.
fn pre_stop_seconds(v: &Values) -> i64 {
    v.proxy.drain_delay.0.as_secs().max(1) as i64
}

/// preStop sleep, then the proxy's own drain (drain_delay + shutdown timeout), plus 5s of margin.
pub fn termination_grace_seconds(v: &Values) -> i64 {
    let drain = v.proxy.drain_delay.0 + v.proxy.shutdown_timeout.0;
    pre_stop_seconds(v) + drain.as_secs_f64().ceil() as i64 + 5
}

fn proxy_deployment(v: &Values) -> Deployment {
    let p = &v.trinity_proxy;
    let pre_stop = Lifecycle {
        pre_stop: Some(LifecycleHandler {
            sleep: Some(SleepAction {
                seconds: pre_stop_seconds(v),
            }),
            ..LifecycleHandler::default()
        }),
        ..Lifecycle::default()
    };
    let pod = Builder::new(NAME, p, PROXY_UID)
        .args([
            "--config".to_owned(),
            format!("/etc/trinity-proxy/{CONFIG_KEY}"),
        ])
        .port("http", LISTEN_PORTS[0])
        .port("http-alt", LISTEN_PORTS[1])
        .port("admin", ADMIN_PORT)
        .readiness(http_probe(
            "/readyz",
            "admin",
            None,
            Timing {
                initial_delay: 2,
                period: 5,
                timeout: 2,
                failure_threshold: 2,
            },
        ))
        .liveness(http_probe("/healthz", "admin", None, Timing::LIVE))
        .lifecycle(pre_stop)
        .read_only_root()
        .config_map("config", "/etc/trinity-proxy", NAME)
        .low_ports()
        .spread(NAME, true)
        .pod();
    let pod = PodSpec {
        service_account_name: Some(NAME.to_owned()),
        automount_service_account_token: Some(true),
        termination_grace_period_seconds: Some(termination_grace_seconds(v)),
        ..pod
    };
    deployment(v, NAME, Tier::Edge, p.replicas, pod)
}

fn public_service(v: &Values) -> k8s_openapi::api::core::v1::Service {
    let np = v.node_ports.enabled.then_some(v.node_ports.proxy);
    service(
        v,
        NAME,
        NAME,
        Tier::Edge,
        &[
            Port {
                name: "http",
                port: LISTEN_PORTS[0],
                node_port: np,
            },
            Port {
                name: "http-alt",
                port: LISTEN_PORTS[1],
                node_port: None,
            },
        ],
    )
}
