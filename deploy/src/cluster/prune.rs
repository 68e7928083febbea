//! `prune`: deletes members of this stack's ApplySet ([`super::applyset`]) that the current render no
//! longer contains. Only the group-kinds recorded on the ApplySet parent are listed, by the
//! `applyset.kubernetes.io/part-of` label. Never the generated Secrets or the Namespace (that is
//! `destroy --purge`); PersistentVolumeClaims only with `--include-data` (the claims of a StatefulSet
//! still in the values count as in the render).

use super::applyset::{self, PART_OF_LABEL};
use super::{ClusterError, api_resource, explain, is_not_found};
use crate::object::{Manifest, Object};
use crate::secrets;
use kube::api::{Api, DeleteParams, DynamicObject, ListParams};

/// A live member of the ApplySet.
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

/// Whether `pvc` is a claim of a rendered StatefulSet, so still in use (`<template>-<statefulset>-<ordinal>`).
fn claim_of_rendered_stateful_set(rendered: &[Manifest], pvc: &str) -> bool {
    rendered.iter().any(|m| {
        let Object::StatefulSet(s) = &m.object else {
            return false;
        };
        let templates = s
            .spec
            .iter()
            .flat_map(|spec| spec.volume_claim_templates.iter().flatten());
        templates
            .filter_map(|t| t.metadata.name.as_deref())
            .any(|t| {
                pvc.strip_prefix(&format!("{t}-{}-", m.object.name()))
                    .is_some_and(|ordinal| ordinal.parse::<u32>().is_ok())
            })
    })
}

/// Pure planning: which live objects left the render, and which of those are protected.
pub fn plan(rendered: &[Manifest], live: &[LiveRef], include_data: bool) -> Plan {
    let mut p = Plan::default();
    for l in live {
        let wanted = rendered.iter().any(|m| {
            m.object.kind() == l.kind
                && m.object.name() == l.name
                && m.object.api_version() == l.api_version
        }) || (l.kind == "PersistentVolumeClaim"
            && claim_of_rendered_stateful_set(rendered, &l.name));
        if wanted {
            continue;
        }
        if l.kind == "Namespace" {
            p.keep
                .push((l.clone(), "the namespace: use destroy --purge"));
        } else if l.kind == "Secret" && secrets::ALL.iter().any(|s| s.name == l.name) {
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

/// Lists the ApplySet's live members of every recorded group-kind (kinds whose CRD is absent are
/// skipped). Fails when there is no parent (nothing was applied, or it was applied before the
/// ApplySet existed: `apply` once records it).
pub async fn list_live(
    client: &kube::Client,
    namespace: &str,
) -> Result<Vec<LiveRef>, ClusterError> {
    let Some(recorded) = applyset::recorded(client, namespace).await? else {
        return Err(ClusterError::Rejected {
            object: applyset::parent_id(),
            message: format!(
                "no ApplySet parent in namespace {namespace}: prune deletes only what `apply` recorded; run apply first"
            ),
        });
    };
    let mut out = Vec::new();
    let lp = ListParams::default().labels(&format!("{PART_OF_LABEL}={}", applyset::id(namespace)));
    for gk in &recorded {
        let Some((api_version, kind)) = applyset::resolve(gk) else {
            return Err(ClusterError::Rejected {
                object: applyset::parent_id(),
                message: format!("records group-kind {gk}, which trinity-deploy does not know"),
            });
        };
        // The Namespace is never pruned: not listed (which would need cluster-wide list rights).
        if kind == "Namespace" {
            continue;
        }
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

/// Plans and (unless `dry_run`) deletes, then records on the parent only the group-kinds still in
/// use; returns the plan.
pub async fn prune(
    client: &kube::Client,
    namespace: &str,
    rendered: &[Manifest],
    dry_run: bool,
    include_data: bool,
) -> Result<Plan, ClusterError> {
    let live = list_live(client, namespace).await?;
    let p = plan(rendered, &live, include_data);
    if dry_run {
        return Ok(p);
    }
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
    let mut kinds = applyset::group_kinds(rendered);
    kinds.extend(
        p.keep
            .iter()
            .map(|(l, _)| applyset::group_kind(&l.api_version, &l.kind)),
    );
    applyset::write(client, namespace, &kinds).await?;
    Ok(p)
}
