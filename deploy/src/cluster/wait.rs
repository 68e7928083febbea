//! Waiting for a workload to become ready (see [`crate::readiness`]); a stuck pod or a terminal
//! condition ends the wait at once with the pod's recent Events.

use super::{ClusterError, explain, object_id};
use crate::object::{Manifest, Object};
use crate::readiness::{self, Readiness};
use k8s_openapi::api::apps::v1::{Deployment, ReplicaSet, StatefulSet};
use k8s_openapi::api::batch::v1::Job;
use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// Whether `apply --wait` waits for this object.
pub fn is_workload(m: &Manifest) -> bool {
    matches!(
        m.object,
        Object::Deployment(_) | Object::StatefulSet(_) | Object::Job(_)
    )
}

/// The live object's readiness (Ready for kinds without a rollout).
pub async fn check(client: &kube::Client, m: &Manifest) -> Result<Readiness, ClusterError> {
    Ok(live(client, m).await?.0)
}

/// The live object's readiness and, for a StatefulSet, its `status.updateRevision` (read once for
/// both).
async fn live(
    client: &kube::Client,
    m: &Manifest,
) -> Result<(Readiness, Option<String>), ClusterError> {
    let ns = m.object.metadata().namespace.clone().unwrap_or_default();
    let name = m.object.name();
    let err = |e| explain(object_id(m), e);
    Ok(match &m.object {
        Object::Deployment(_) => {
            let d = Api::<Deployment>::namespaced(client.clone(), &ns)
                .get(name)
                .await
                .map_err(err)?;
            (readiness::deployment(&d), None)
        }
        Object::StatefulSet(_) => {
            let s = Api::<StatefulSet>::namespaced(client.clone(), &ns)
                .get(name)
                .await
                .map_err(err)?;
            let update_revision = s.status.as_ref().and_then(|st| st.update_revision.clone());
            (readiness::stateful_set(&s), update_revision)
        }
        Object::Job(_) => {
            let j = Api::<Job>::namespaced(client.clone(), &ns)
                .get(name)
                .await
                .map_err(err)?;
            (readiness::job(&j), None)
        }
        _ => (Readiness::Ready, None),
    })
}

/// Label selector of the workload's pods.
fn pod_selector(m: &Manifest) -> Option<String> {
    let labels: BTreeMap<String, String> = match &m.object {
        Object::Deployment(d) => d.spec.as_ref()?.selector.match_labels.clone()?,
        Object::StatefulSet(s) => s.spec.as_ref()?.selector.match_labels.clone()?,
        Object::Job(_) => BTreeMap::from([("job-name".to_owned(), m.object.name().to_owned())]),
        _ => return None,
    };
    Some(
        labels
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(","),
    )
}

/// The pod label that marks the workload's current revision and its value: a Deployment's newest
/// ReplicaSet's `pod-template-hash`, a StatefulSet's `controller-revision-hash` = `update_revision`
/// (its `status.updateRevision`, as [`live`] read it). None (every pod counts) for Jobs and while the
/// revision is not known yet.
async fn current_revision(
    client: &kube::Client,
    m: &Manifest,
    ns: &str,
    selector: &str,
    update_revision: Option<&str>,
) -> Result<Option<(&'static str, String)>, ClusterError> {
    Ok(match &m.object {
        Object::Deployment(_) => {
            let sets = Api::<ReplicaSet>::namespaced(client.clone(), ns)
                .list(&ListParams::default().labels(selector))
                .await
                .map_err(|e| explain(object_id(m), e))?;
            let revision = |rs: &ReplicaSet| {
                rs.metadata
                    .annotations
                    .as_ref()
                    .and_then(|a| a.get("deployment.kubernetes.io/revision"))
                    .and_then(|r| r.parse::<u64>().ok())
            };
            let name = m.object.name();
            sets.items
                .iter()
                .filter(|rs| {
                    rs.metadata.owner_references.iter().flatten().any(|o| {
                        o.kind == "Deployment" && o.name == name && o.controller == Some(true)
                    })
                })
                .filter(|rs| revision(rs).is_some())
                .max_by_key(|rs| revision(rs))
                .and_then(|rs| {
                    rs.metadata
                        .labels
                        .as_ref()?
                        .get("pod-template-hash")
                        .cloned()
                })
                .map(|hash| ("pod-template-hash", hash))
        }
        Object::StatefulSet(_) => {
            update_revision.map(|rev| ("controller-revision-hash", rev.to_owned()))
        }
        _ => None,
    })
}

/// The workload's current-revision pods stuck in CrashLoopBackOff and the like, with their recent
/// Events. Pods of an older revision are left out: a rollout replacing crash-looping pods is not stuck.
async fn stuck(
    client: &kube::Client,
    m: &Manifest,
    update_revision: Option<&str>,
) -> Result<Option<(String, String)>, ClusterError> {
    let Some(selector) = pod_selector(m) else {
        return Ok(None);
    };
    let ns = m.object.metadata().namespace.clone().unwrap_or_default();
    let revision = current_revision(client, m, &ns, &selector, update_revision).await?;
    let mut pods = Api::<Pod>::namespaced(client.clone(), &ns)
        .list(&ListParams::default().labels(&selector))
        .await
        .map_err(|e| explain(object_id(m), e))?
        .items;
    if let Some((label, value)) = &revision {
        pods.retain(|p| p.metadata.labels.as_ref().and_then(|l| l.get(*label)) == Some(value));
    }
    let stuck = readiness::stuck_containers(&pods);
    if stuck.is_empty() {
        return Ok(None);
    }
    let mut events = String::new();
    for pod in pods.iter().filter_map(|p| p.metadata.name.as_deref()) {
        if !stuck.iter().any(|s| s.starts_with(&format!("{pod}/"))) {
            continue;
        }
        events.push_str(&pod_events(client, &ns, pod).await?);
    }
    Ok(Some((stuck.join("; "), events)))
}

/// The last few Events of one pod, one per line.
async fn pod_events(client: &kube::Client, ns: &str, pod: &str) -> Result<String, ClusterError> {
    let list = Api::<Event>::namespaced(client.clone(), ns)
        .list(&ListParams::default().fields(&format!("involvedObject.name={pod}")))
        .await
        .map_err(|e| explain(format!("Pod/{pod} events"), e))?;
    let mut out = String::new();
    let skip = list.items.len().saturating_sub(5);
    for e in list.items.iter().skip(skip) {
        let reason = e.reason.as_deref().unwrap_or_default();
        let message = e.message.as_deref().unwrap_or_default();
        out.push_str(&format!("\n  Pod/{pod}: {reason}: {message}"));
    }
    Ok(out)
}

/// Polls until `m` is ready; fails at once when it cannot get there.
pub async fn ready(
    client: &kube::Client,
    m: &Manifest,
    timeout: Duration,
    poll: Duration,
) -> Result<(), ClusterError> {
    let start = Instant::now();
    loop {
        let (readiness, update_revision) = live(client, m).await?;
        let update_revision = update_revision.as_deref();
        let last = match readiness {
            Readiness::Ready => return Ok(()),
            Readiness::Failed(why) => {
                let events = stuck(client, m, update_revision)
                    .await?
                    .map(|(_, e)| e)
                    .unwrap_or_default();
                return Err(ClusterError::NotReady {
                    object: object_id(m),
                    why,
                    events,
                });
            }
            Readiness::InProgress(last) => last,
        };
        if let Some((why, events)) = stuck(client, m, update_revision).await? {
            return Err(ClusterError::NotReady {
                object: object_id(m),
                why,
                events,
            });
        }
        if start.elapsed() >= timeout {
            return Err(ClusterError::Timeout {
                object: object_id(m),
                seconds: timeout.as_secs(),
                last,
            });
        }
        tokio::time::sleep(poll).await;
    }
}
