//! `kubernetes` discovery: the endpoints of a Service, from a watch on its EndpointSlices
//! (label `kubernetes.io/service-name`), through kube-rs' watcher (list, then watch; a `410 Gone`
//! makes it list again).
//!
//! - `ready` endpoints take traffic;
//! - `serving` but `terminating` ones stay members flagged terminating: no new requests unless
//!   nothing else is eligible, so a rolling update causes no 502s;
//! - the rest (not ready, not serving) are left out.
//!
//! `port` is a port number, or the name of a port of the slices. Credentials: in-cluster service
//! account, or `KUBECONFIG` outside. RBAC: `get`, `list`, `watch` on `endpointslices`
//! (`discovery.k8s.io`) in the namespace.

use crate::config::{KubernetesDiscovery, PortRef};
use crate::upstream::Pool;
use futures_util::StreamExt;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::WatchStreamExt;
use kube::runtime::watcher::{self, Event};
use kube::{Api, Client};
use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, SocketAddr};
use std::sync::Weak;
use tokio::sync::watch;

/// Watches the Service's slices for `pool` until the pool is gone or retired.
pub async fn run(
    pool: Weak<Pool>,
    cfg: KubernetesDiscovery,
    client: Client,
    first_round: watch::Sender<bool>,
) {
    let namespace = cfg
        .namespace
        .clone()
        .unwrap_or_else(|| client.default_namespace().to_owned());
    let api: Api<EndpointSlice> = Api::namespaced(client, &namespace);
    let selector = format!("kubernetes.io/service-name={}", cfg.service);
    let stream =
        watcher::watcher(api, watcher::Config::default().labels(&selector)).default_backoff();
    let mut stream = std::pin::pin!(stream);
    let mut slices: BTreeMap<String, EndpointSlice> = BTreeMap::new();
    let mut relisting: Option<BTreeMap<String, EndpointSlice>> = None;
    while let Some(event) = stream.next().await {
        let Some(p) = pool.upgrade().filter(|p| !p.is_retired()) else {
            return;
        };
        let changed = match event {
            Ok(Event::Init) => {
                relisting = Some(BTreeMap::new());
                false
            }
            Ok(Event::InitApply(s)) => {
                if let Some(r) = relisting.as_mut() {
                    r.insert(key(&s), s);
                }
                false
            }
            Ok(Event::InitDone) => {
                slices = relisting.take().unwrap_or_default();
                true
            }
            Ok(Event::Apply(s)) => {
                slices.insert(key(&s), s);
                true
            }
            Ok(Event::Delete(s)) => {
                slices.remove(&key(&s));
                true
            }
            Err(e) => {
                p.metrics.discovery_errors.inc();
                tracing::warn!(upstream = &*p.name, service = %cfg.service, %namespace, error = %e, "EndpointSlice watch failed; keeping the last endpoints");
                first_round.send_replace(true);
                false
            }
        };
        if changed {
            let (members, terminating) = members(&slices, &cfg.port);
            p.set_members(&members, &terminating);
            first_round.send_replace(true);
        }
    }
}

fn key(s: &EndpointSlice) -> String {
    s.metadata.name.clone().unwrap_or_default()
}

/// Members (ready, plus serving-but-terminating) and the terminating subset, sorted.
pub fn members(
    slices: &BTreeMap<String, EndpointSlice>,
    port: &PortRef,
) -> (Vec<SocketAddr>, Vec<SocketAddr>) {
    let mut all = BTreeSet::new();
    let mut terminating = BTreeSet::new();
    for slice in slices.values() {
        let Some(port) = slice_port(slice, port) else {
            continue;
        };
        for ep in &slice.endpoints {
            let c = ep.conditions.as_ref();
            let ready = c.and_then(|c| c.ready).unwrap_or(true);
            let serving = c.and_then(|c| c.serving).unwrap_or(ready);
            let is_terminating = c.and_then(|c| c.terminating).unwrap_or(false);
            let take = if is_terminating { serving } else { ready };
            if !take {
                continue;
            }
            for a in &ep.addresses {
                let Ok(ip) = a.parse::<IpAddr>() else {
                    continue;
                };
                let addr = SocketAddr::new(ip, port);
                all.insert(addr);
                if is_terminating {
                    terminating.insert(addr);
                }
            }
        }
    }
    (all.into_iter().collect(), terminating.into_iter().collect())
}

fn slice_port(slice: &EndpointSlice, want: &PortRef) -> Option<u16> {
    match want {
        PortRef::Number(n) => Some(*n),
        PortRef::Name(name) => slice
            .ports
            .as_ref()?
            .iter()
            .find(|p| p.name.as_deref() == Some(name.as_str()))
            .and_then(|p| p.port)
            .and_then(|p| u16::try_from(p).ok()),
    }
}
