//! The Namespace (Pod Security `restricted`) and the NetworkPolicies: default deny ingress; the proxy
//! from anywhere; apps from the proxy and each other; databases only from app pods; the MinIO console
//! from the proxy; workloads with a NodePort from anywhere on their ports; cloudflared may reach only
//! the proxy (and DNS and its tunnel edge).

use super::common::{APP, PART_OF, TIER, Tier, stack_labels};
use super::proxy::NAME as PROXY;
use super::proxy_config::{ADMIN_PORT, LISTEN_PORTS};
use crate::object::{Component, Manifest, Object};
use crate::values::Values;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::{
    IPBlock, NetworkPolicy, NetworkPolicyEgressRule, NetworkPolicyIngressRule, NetworkPolicyPeer,
    NetworkPolicyPort, NetworkPolicySpec,
};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::{LabelSelector, ObjectMeta};
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

pub fn render(v: &Values) -> Vec<Manifest> {
    let mut out = vec![Manifest {
        component: Component::Namespace,
        object: namespace(v).into(),
    }];
    let mut policies = vec![
        policy(
            v,
            "default-deny-ingress",
            BTreeMap::new(),
            Some(vec![]),
            None,
        ),
        proxy_ingress(v),
        policy(
            v,
            "apps-from-proxy-and-apps",
            tier(Tier::App),
            Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![peer(tier(Tier::Edge)), peer(tier(Tier::App))]),
                ports: None,
            }]),
            None,
        ),
        policy(
            v,
            "databases-from-apps",
            tier(Tier::Db),
            Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![peer(tier(Tier::App))]),
                ports: None,
            }]),
            None,
        ),
        policy(
            v,
            "minio-console-from-proxy",
            app("minio"),
            Some(vec![NetworkPolicyIngressRule {
                from: Some(vec![peer(app(PROXY))]),
                ports: Some(vec![tcp(9001)]),
            }]),
            None,
        ),
    ];
    policies.extend(node_port_policies(v));
    if v.cloudflared.enabled {
        policies.push(cloudflared_egress(v));
    }
    out.extend(policies.into_iter().map(|p| Manifest {
        component: Component::NetworkPolicies,
        object: Object::from(p),
    }));
    out
}

fn namespace(v: &Values) -> Namespace {
    let mut l = BTreeMap::from([(PART_OF.to_owned(), "trinity".to_owned())]);
    for mode in ["enforce", "audit", "warn"] {
        l.insert(
            format!("pod-security.kubernetes.io/{mode}"),
            "restricted".to_owned(),
        );
        l.insert(
            format!("pod-security.kubernetes.io/{mode}-version"),
            "v1.33".to_owned(),
        );
    }
    Namespace {
        metadata: ObjectMeta {
            name: Some(v.namespace.clone()),
            labels: Some(l),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    }
}

fn tier(t: Tier) -> BTreeMap<String, String> {
    BTreeMap::from([(TIER.to_owned(), t.as_str().to_owned())])
}

fn app(name: &str) -> BTreeMap<String, String> {
    BTreeMap::from([(APP.to_owned(), name.to_owned())])
}

fn peer(labels: BTreeMap<String, String>) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        pod_selector: Some(LabelSelector {
            match_labels: Some(labels),
            ..LabelSelector::default()
        }),
        ..NetworkPolicyPeer::default()
    }
}

fn tcp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        port: Some(IntOrString::Int(port)),
        protocol: Some("TCP".to_owned()),
        ..NetworkPolicyPort::default()
    }
}

fn policy(
    v: &Values,
    name: &str,
    pods: BTreeMap<String, String>,
    ingress: Option<Vec<NetworkPolicyIngressRule>>,
    egress: Option<Vec<NetworkPolicyEgressRule>>,
) -> NetworkPolicy {
    let mut types = Vec::new();
    if ingress.is_some() {
        types.push("Ingress".to_owned());
    }
    if egress.is_some() {
        types.push("Egress".to_owned());
    }
    NetworkPolicy {
        metadata: ObjectMeta {
            name: Some(name.to_owned()),
            namespace: Some(v.namespace.clone()),
            labels: Some(stack_labels()),
            ..ObjectMeta::default()
        },
        spec: Some(NetworkPolicySpec {
            pod_selector: Some(LabelSelector {
                match_labels: (!pods.is_empty()).then_some(pods),
                ..LabelSelector::default()
            }),
            policy_types: Some(types),
            ingress,
            egress,
        }),
    }
}

/// NodePort traffic reaches a pod from a node's address (or the client's own, with
/// `externalTrafficPolicy: Local`), which no pod selector matches: each workload with a NodePort
/// admits its container ports from anywhere. The databases only with `expose_databases`.
fn node_port_policies(v: &Values) -> Vec<NetworkPolicy> {
    if !v.node_ports.enabled {
        return Vec::new();
    }
    let mut exposed = vec![
        ("web", vec![8000]),
        ("fastapi", vec![8001]),
        ("trinity-ai", vec![8002]),
        ("frontend", vec![80]),
        ("flight", vec![8815]),
    ];
    if v.node_ports.expose_databases {
        exposed.extend([
            ("postgres", vec![5432]),
            ("mongo", vec![27017]),
            ("redis", vec![6379]),
            ("minio", vec![9000, 9001]),
        ]);
    }
    exposed
        .into_iter()
        .map(|(name, ports)| {
            policy(
                v,
                &format!("node-port-{name}"),
                app(name),
                Some(vec![NetworkPolicyIngressRule {
                    from: None,
                    ports: Some(ports.into_iter().map(tcp).collect()),
                }]),
                None,
            )
        })
        .collect()
}

/// The edge: public ports from anywhere; the admin port (metrics) from any pod in the cluster.
fn proxy_ingress(v: &Values) -> NetworkPolicy {
    let any_pod = NetworkPolicyPeer {
        namespace_selector: Some(LabelSelector::default()),
        ..NetworkPolicyPeer::default()
    };
    policy(
        v,
        "proxy-from-anywhere",
        app(PROXY),
        Some(vec![
            NetworkPolicyIngressRule {
                from: None,
                ports: Some(LISTEN_PORTS.iter().map(|p| tcp(*p)).collect()),
            },
            NetworkPolicyIngressRule {
                from: Some(vec![any_pod]),
                ports: Some(vec![tcp(ADMIN_PORT)]),
            },
        ]),
        None,
    )
}

/// cloudflared talks only to the proxy inside the cluster, plus DNS and the public tunnel edge.
fn cloudflared_egress(v: &Values) -> NetworkPolicy {
    let dns = NetworkPolicyEgressRule {
        // No `to`: port 53 at any address. Clusters serve DNS from CoreDNS pods, from a node-local
        // cache on a link-local address of the host network (169.254.20.10, which no pod selector
        // matches), or from a resolver on the node itself.
        to: None,
        ports: Some(vec![tcp(53), udp(53)]),
    };
    let internet = NetworkPolicyEgressRule {
        to: Some(vec![
            public(IPV4_ANY, &IPV4_PRIVATE),
            public(IPV6_ANY, &IPV6_PRIVATE),
        ]),
        ports: Some(vec![tcp(443), tcp(7844), udp(7844)]),
    };
    let proxy = NetworkPolicyEgressRule {
        to: Some(vec![peer(app(PROXY))]),
        ports: Some(LISTEN_PORTS.iter().map(|p| tcp(*p)).collect()),
    };
    policy(
        v,
        "cloudflared-to-proxy-only",
        app("cloudflared"),
        None,
        Some(vec![proxy, dns, internet]),
    )
}

const IPV4_ANY: &str = "0.0.0.0/0";
const IPV4_PRIVATE: [&str; 3] = ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16"];
const IPV6_ANY: &str = "::/0";
/// Unique local (fc00::/7) and link-local (fe80::/10) addresses.
const IPV6_PRIVATE: [&str; 2] = ["fc00::/7", "fe80::/10"];

fn udp(port: i32) -> NetworkPolicyPort {
    NetworkPolicyPort {
        protocol: Some("UDP".to_owned()),
        ..tcp(port)
    }
}

/// Every address of `cidr` except the private ranges: Cloudflare's edge.
fn public(cidr: &str, except: &[&str]) -> NetworkPolicyPeer {
    NetworkPolicyPeer {
        ip_block: Some(IPBlock {
            cidr: cidr.to_owned(),
            except: Some(except.iter().map(|c| (*c).to_owned()).collect()),
        }),
        ..NetworkPolicyPeer::default()
    }
}
