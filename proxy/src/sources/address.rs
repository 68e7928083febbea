//! The address the proxy tells users it serves on, for Ingress `status.loadBalancer.ingress`
//! (and Gateway `status.addresses`): from a Service (`kubernetes.status_address: { service }`:
//! its LoadBalancer ingress, else its ClusterIPs), or given as an IP or a host name. Pure: the
//! Service is read by the caller, and the status patch is only built when something changed.

use k8s_openapi::api::core::v1::{LoadBalancerIngress, Service};
use k8s_openapi::api::networking::v1::{IngressLoadBalancerIngress, IngressStatus};
use serde_json::{Value, json};
use std::net::IpAddr;

/// What `kubernetes.status_address` names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusAddress {
    Service { namespace: String, name: String },
    Ip(IpAddr),
    Hostname(String),
}

/// One address, as Ingress and Gateway status carry it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Address {
    Ip(String),
    Hostname(String),
}

/// The addresses to publish; `service` is the Service `StatusAddress::Service` names, if it
/// exists. None when that Service is missing or has no address yet (headless, pending).
pub fn resolve(address: &StatusAddress, service: Option<&Service>) -> Vec<Address> {
    match address {
        StatusAddress::Ip(ip) => vec![Address::Ip(ip.to_string())],
        StatusAddress::Hostname(h) => vec![Address::Hostname(h.clone())],
        StatusAddress::Service { .. } => service.map_or_else(Vec::new, service_addresses),
    }
}

/// A LoadBalancer Service's ingress points when it has them, else its cluster IPs.
fn service_addresses(svc: &Service) -> Vec<Address> {
    let status = svc.status.as_ref().and_then(|s| s.load_balancer.as_ref());
    let balancer = points(status.and_then(|lb| lb.ingress.as_deref()));
    if !balancer.is_empty() {
        return balancer;
    }
    let spec = svc.spec.as_ref();
    let ips = spec.and_then(|s| s.cluster_ips.clone()).unwrap_or_default();
    let ips = if ips.is_empty() {
        spec.and_then(|s| s.cluster_ip.clone())
            .into_iter()
            .collect()
    } else {
        ips
    };
    ips.into_iter()
        .filter(|ip| !ip.is_empty() && ip != "None")
        .map(Address::Ip)
        .collect()
}

/// The merge patch that makes an Ingress's `status.loadBalancer.ingress` list `addresses`, or
/// `None` when it already does (no write, no event for watchers).
pub fn ingress_status_patch(
    current: Option<&IngressStatus>,
    addresses: &[Address],
) -> Option<Value> {
    let status = current.and_then(|s| s.load_balancer.as_ref());
    let have = points(status.and_then(|lb| lb.ingress.as_deref()));
    if have == addresses {
        return None;
    }
    let ingress: Vec<Value> = addresses
        .iter()
        .map(|a| match a {
            Address::Ip(ip) => json!({ "ip": ip }),
            Address::Hostname(h) => json!({ "hostname": h }),
        })
        .collect();
    Some(json!({ "status": { "loadBalancer": { "ingress": ingress } } }))
}

/// A load-balancer ingress point, of a Service or of an Ingress.
trait Point {
    fn ip_or_hostname(&self) -> (Option<&String>, Option<&String>);
}

impl Point for LoadBalancerIngress {
    fn ip_or_hostname(&self) -> (Option<&String>, Option<&String>) {
        (self.ip.as_ref(), self.hostname.as_ref())
    }
}

impl Point for IngressLoadBalancerIngress {
    fn ip_or_hostname(&self) -> (Option<&String>, Option<&String>) {
        (self.ip.as_ref(), self.hostname.as_ref())
    }
}

/// Each point's IP, else its host name.
fn points<P: Point>(points: Option<&[P]>) -> Vec<Address> {
    let address = |p: &P| match p.ip_or_hostname() {
        (Some(ip), _) => Some(Address::Ip(ip.clone())),
        (None, Some(h)) => Some(Address::Hostname(h.clone())),
        (None, None) => None,
    };
    points.into_iter().flatten().filter_map(address).collect()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn service(v: Value) -> Service {
        serde_json::from_value(v).unwrap()
    }

    fn svc_ref() -> StatusAddress {
        StatusAddress::Service {
            namespace: "trinity".into(),
            name: "trinity-proxy".into(),
        }
    }

    #[test]
    fn a_service_gives_its_balancer_else_its_cluster_ips() {
        let lb = service(json!({
            "spec": { "type": "LoadBalancer", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"] },
            "status": { "loadBalancer": { "ingress": [{ "ip": "203.0.113.5" }, { "hostname": "lb.example.com" }] } },
        }));
        assert_eq!(
            resolve(&svc_ref(), Some(&lb)),
            [
                Address::Ip("203.0.113.5".into()),
                Address::Hostname("lb.example.com".into())
            ]
        );
        let pending = service(json!({
            "spec": { "type": "LoadBalancer", "clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10", "fd00::a"] },
            "status": { "loadBalancer": {} },
        }));
        assert_eq!(
            resolve(&svc_ref(), Some(&pending)),
            [
                Address::Ip("10.96.0.10".into()),
                Address::Ip("fd00::a".into())
            ]
        );
        let old = service(json!({ "spec": { "clusterIP": "10.96.0.11" } }));
        assert_eq!(
            resolve(&svc_ref(), Some(&old)),
            [Address::Ip("10.96.0.11".into())]
        );
        let headless = service(json!({ "spec": { "clusterIP": "None", "clusterIPs": ["None"] } }));
        assert_eq!(resolve(&svc_ref(), Some(&headless)), []);
        assert_eq!(
            resolve(&svc_ref(), None),
            [],
            "no Service yet: nothing to publish"
        );
    }

    #[test]
    fn an_explicit_address_is_published_as_given() {
        let ip = StatusAddress::Ip("10.0.0.5".parse().unwrap());
        assert_eq!(resolve(&ip, None), [Address::Ip("10.0.0.5".into())]);
        let host = StatusAddress::Hostname("edge.example.com".into());
        assert_eq!(
            resolve(&host, None),
            [Address::Hostname("edge.example.com".into())]
        );
    }

    #[test]
    fn the_status_patch_is_built_only_when_the_addresses_changed() {
        let want = [Address::Ip("10.0.0.5".into())];
        let patch = ingress_status_patch(None, &want).unwrap();
        assert_eq!(
            patch,
            json!({ "status": { "loadBalancer": { "ingress": [{ "ip": "10.0.0.5" }] } } })
        );
        let current: IngressStatus = serde_json::from_value(patch["status"].clone()).unwrap();
        assert_eq!(
            ingress_status_patch(Some(&current), &want),
            None,
            "already so"
        );
        let moved = [Address::Hostname("edge.example.com".into())];
        let patch = ingress_status_patch(Some(&current), &moved).unwrap();
        assert_eq!(
            patch["status"]["loadBalancer"]["ingress"][0]["hostname"],
            "edge.example.com"
        );
        let cleared = ingress_status_patch(Some(&current), &[]).unwrap();
        assert_eq!(cleared["status"]["loadBalancer"]["ingress"], json!([]));
    }
}
