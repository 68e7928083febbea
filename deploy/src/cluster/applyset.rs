//! ApplySet-style inventory, as `kubectl apply --applyset` keeps it (KEP-3659): a parent Secret
//! [`PARENT_NAME`] in the namespace carries the set's id (label `applyset.kubernetes.io/id`), the tool
//! that owns it (`applyset.kubernetes.io/tooling: trinity-deploy/<version>`) and every group-kind its
//! members may have (`applyset.kubernetes.io/contains-group-kinds`); every applied object carries
//! `applyset.kubernetes.io/part-of=<id>`. `apply` widens the recorded group-kinds before it applies
//! members; `prune` lists exactly the recorded group-kinds by the part-of label and afterwards narrows
//! the record to what is left.

use super::{ClusterError, FIELD_MANAGER, explain, is_not_found};
use crate::object::Manifest;
use base64::Engine as _;
use k8s_openapi::api::core::v1::Secret;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;
use std::collections::BTreeSet;

/// Name of the parent Secret.
pub const PARENT_NAME: &str = "applyset-trinity";
/// Label on the parent: the set's id.
pub const ID_LABEL: &str = "applyset.kubernetes.io/id";
/// Label on every member: the id of its set.
pub const PART_OF_LABEL: &str = "applyset.kubernetes.io/part-of";
/// Annotation on the parent: the tool (and version) that manages the set.
pub const TOOLING_ANNOTATION: &str = "applyset.kubernetes.io/tooling";
/// Annotation on the parent: `Kind.group` of every kind members may have, sorted, comma-separated.
pub const GROUP_KINDS_ANNOTATION: &str = "applyset.kubernetes.io/contains-group-kinds";

/// Every kind trinity-deploy applies or creates, as (apiVersion, kind): how a recorded group-kind is
/// listed.
pub const KINDS: [(&str, &str); 16] = [
    ("v1", "Namespace"),
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

/// `trinity-deploy/<version>`.
pub fn tooling() -> String {
    format!("trinity-deploy/{}", env!("CARGO_PKG_VERSION"))
}

/// kubectl's v1 ApplySet id of the parent in `namespace`:
/// `applyset-<base64url(sha256("<name>.<namespace>.<Kind>.<group>"))>-v1`.
pub fn id(namespace: &str) -> String {
    let input = format!("{PARENT_NAME}.{namespace}.Secret.");
    let hash = ring::digest::digest(&ring::digest::SHA256, input.as_bytes());
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(hash.as_ref());
    format!("applyset-{b64}-v1")
}

/// `Kind.group`, or `Kind` for the core group.
pub fn group_kind(api_version: &str, kind: &str) -> String {
    match api_version.split_once('/') {
        Some((group, _)) => format!("{kind}.{group}"),
        None => kind.to_owned(),
    }
}

/// The (apiVersion, kind) to list a recorded group-kind with.
pub fn resolve(gk: &str) -> Option<(&'static str, &'static str)> {
    KINDS
        .into_iter()
        .find(|(api_version, kind)| group_kind(api_version, kind) == gk)
}

/// The group-kinds of a render, plus Secret (the generated Secrets are members too).
pub fn group_kinds(manifests: &[Manifest]) -> BTreeSet<String> {
    let mut out: BTreeSet<String> = manifests
        .iter()
        .map(|m| group_kind(m.object.api_version(), m.object.kind()))
        .collect();
    out.insert("Secret".to_owned());
    out
}

/// `Secret/<PARENT_NAME>`, as in messages.
pub fn parent_id() -> String {
    format!("Secret/{PARENT_NAME}")
}

/// The group-kinds recorded on the live parent; None when there is no parent. A parent with another
/// id or managed by another tool is refused.
pub async fn recorded(
    client: &kube::Client,
    namespace: &str,
) -> Result<Option<BTreeSet<String>>, ClusterError> {
    let parent = match Api::<Secret>::namespaced(client.clone(), namespace)
        .get_opt(PARENT_NAME)
        .await
    {
        Ok(Some(p)) => p,
        Ok(None) => return Ok(None),
        Err(e) if is_not_found(&e) => return Ok(None),
        Err(e) => return Err(explain(parent_id(), e)),
    };
    let want = id(namespace);
    let got = parent
        .metadata
        .labels
        .as_ref()
        .and_then(|l| l.get(ID_LABEL));
    if got != Some(&want) {
        return Err(ClusterError::Rejected {
            object: parent_id(),
            message: format!(
                "not this stack's ApplySet parent ({ID_LABEL} is {got:?}, expected {want:?})"
            ),
        });
    }
    let annotations = parent.metadata.annotations.unwrap_or_default();
    let tooling = annotations.get(TOOLING_ANNOTATION).map(String::as_str);
    if !tooling.is_some_and(|t| t.starts_with("trinity-deploy/")) {
        return Err(ClusterError::Rejected {
            object: parent_id(),
            message: format!("the ApplySet is managed by {tooling:?}, not trinity-deploy"),
        });
    }
    Ok(Some(
        annotations
            .get(GROUP_KINDS_ANNOTATION)
            .map(String::as_str)
            .unwrap_or_default()
            .split(',')
            .filter(|gk| !gk.is_empty())
            .map(str::to_owned)
            .collect(),
    ))
}

/// Server-side applies the parent recording `group_kinds`.
pub async fn write(
    client: &kube::Client,
    namespace: &str,
    group_kinds: &BTreeSet<String>,
) -> Result<(), ClusterError> {
    let body = json!({
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {
            "name": PARENT_NAME,
            "namespace": namespace,
            "labels": {ID_LABEL: id(namespace)},
            "annotations": {
                TOOLING_ANNOTATION: tooling(),
                GROUP_KINDS_ANNOTATION: group_kinds.iter().cloned().collect::<Vec<_>>().join(","),
            },
        },
        "type": "Opaque",
    });
    Api::<Secret>::namespaced(client.clone(), namespace)
        .patch(
            PARENT_NAME,
            &PatchParams::apply(FIELD_MANAGER).force(),
            &Patch::Apply(&body),
        )
        .await
        .map_err(|e| explain(parent_id(), e))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn id_is_kubectls_v1_format() {
        let id = id("trinity");
        assert!(id.starts_with("applyset-") && id.ends_with("-v1"), "{id}");
        // 32 bytes of SHA-256 → 43 base64url characters; a label value is at most 63.
        assert_eq!(id.len(), "applyset-".len() + 43 + "-v1".len());
        assert_ne!(id, super::id("other"));
    }

    #[test]
    fn group_kinds_resolve_back() {
        assert_eq!(group_kind("apps/v1", "Deployment"), "Deployment.apps");
        assert_eq!(group_kind("v1", "ConfigMap"), "ConfigMap");
        for (api_version, kind) in KINDS {
            assert_eq!(
                resolve(&group_kind(api_version, kind)),
                Some((api_version, kind))
            );
        }
        assert_eq!(resolve("Widget.example.com"), None);
    }
}
