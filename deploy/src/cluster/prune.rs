//! `prune`: deletes objects carrying this stack's inventory label ([`super::STACK_LABEL`]) that the
//! current render no longer contains. Never PersistentVolumeClaims without `--include-data`, never the
//! generated Secrets, never the Namespace (that is `destroy --purge`).

use super::{ClusterError, STACK_LABEL, api_resource, explain, is_not_found};
use crate::object::Manifest;
use crate::secrets;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};

/// Every namespaced kind trinity-deploy renders or creates: what prune lists.
pub const KINDS: [(&str, &str); 15] = [
    ("v1", "ConfigMap"),
    ("v1", "Secret"),
    ("v1", "Service"),
    ("v1", "ServiceAccount"),
    ("v1", "PersistentVolumeClaim"),
    ("apps/v1", "Deployment"),
    ("apps/v1", "StatefulSet"),
    ("batch/v1", "Job"),
    ("batch/v1", "CronJob"),
    ("policy/v1", "PodDisruptionBudget"),
    ("networking.k8s.io/v1", "NetworkPolicy"),
    ("rbac.authorization.k8s.io/v1", "Role"),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"),
    ("monitoring.coreos.com/v1", "ServiceMonitor"),
    ("monitoring.coreos.com/v1", "PrometheusRule"),
];

/// A live object found by its inventory label.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct LiveRef {
    pub api_version: String,
    pub kind: String,
    pub name: String,
}

impl std::fmt::Display for LiveRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.kind, self.name)
    }
}

/// What prune does with the live objects.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Plan {
    pub delete: Vec<LiveRef>,
    /// Left the render but protected: (object, why).
    pub keep: Vec<(LiveRef, &'static str)>,
}

/// Pure planning: which live objects left the render, and which of those are protected.
pub fn plan(rendered: &[Manifest], live: &[LiveRef], include_data: bool) -> Plan {
    let mut p = Plan::default();
    for l in live {
        let wanted = rendered.iter().any(|m| {
            m.object.kind() == l.kind
                && m.object.name() == l.name
                && m.object.api_version() == l.api_version
        });
        if wanted {
            continue;
        }
        if l.kind == "Secret" && secrets::ALL.iter().any(|s| s.name == l.name) {
            p.keep.push((l.clone(), "generated Secret"));
        } else if l.kind == "PersistentVolumeClaim" && !include_data {
            p.keep
                .push((l.clone(), "data: pass --include-data to delete"));
        } else {
            p.delete.push(l.clone());
        }
    }
    p.delete.sort();
    p
}

/// Lists this stack's live objects of every [`KINDS`] kind (kinds whose CRD is absent are skipped).
pub async fn list_live(
    client: &kube::Client,
    namespace: &str,
    stack: &str,
) -> Result<Vec<LiveRef>, ClusterError> {
    let mut out = Vec::new();
    let lp = ListParams::default().labels(&format!("{STACK_LABEL}={stack}"));
    for (api_version, kind) in KINDS {
        let api: Api<DynamicObject> =
            Api::namespaced_with(client.clone(), namespace, &api_resource(api_version, kind));
        let list = match api.list(&lp).await {
            Ok(l) => l,
            Err(e) if is_not_found(&e) => continue,
            Err(e) => return Err(explain(format!("list {kind}"), e)),
        };
        out.extend(list.items.into_iter().filter_map(|o| {
            Some(LiveRef {
                api_version: api_version.to_owned(),
                kind: kind.to_owned(),
                name: o.metadata.name?,
            })
        }));
    }
    Ok(out)
}

/// Plans and (unless `dry_run`) deletes; returns the plan.
pub async fn prune(
    client: &kube::Client,
    namespace: &str,
    rendered: &[Manifest],
    dry_run: bool,
    include_data: bool,
) -> Result<Plan, ClusterError> {
    let live = list_live(client, namespace, namespace).await?;
    let p = plan(rendered, &live, include_data);
    if !dry_run {
        for l in &p.delete {
            let api: Api<DynamicObject> = Api::namespaced_with(
                client.clone(),
                namespace,
                &api_resource(&l.api_version, &l.kind),
            );
            match api.delete(&l.name, &DeleteParams::background()).await {
                Ok(_) => {}
                Err(e) if is_not_found(&e) => {}
                Err(e) => return Err(explain(l.to_string(), e)),
            }
        }
    }
    Ok(p)
}
