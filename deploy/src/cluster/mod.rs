//! Talking to a cluster: server-side apply in stages, waiting for readiness, pruning, generated Secrets.
//! Everything takes a `kube::Client`, so tests drive it against tower-test's mock API.

pub mod apply;
pub mod applyset;
pub mod destroy;
pub mod diff;
pub mod port_forward;
pub mod prune;
pub mod secrets;
pub mod server_side;
pub mod status;
pub mod wait;

use crate::object::Manifest;
use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind};

/// Field manager of every server-side apply.
pub const FIELD_MANAGER: &str = "trinity-deploy";
/// Label put on every applied object (value: the namespace), for people selecting the stack with
/// kubectl; `prune` goes by the ApplySet ([`applyset`]) instead.
pub const STACK_LABEL: &str = "trinity.io/stack";

/// A cluster operation failed.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error(
        "{object}: the change touches an immutable field ({message}). trinity-deploy never deletes \
         objects to get past this: if losing {object} is acceptable, delete it yourself and apply again"
    )]
    Immutable { object: String, message: String },
    #[error("{object}: the API server rejected it: {message}")]
    Rejected { object: String, message: String },
    #[error("{object} failed: {why}{events}")]
    NotReady {
        object: String,
        why: String,
        events: String,
    },
    #[error("{object} not ready after {seconds}s: {last}")]
    Timeout {
        object: String,
        seconds: u64,
        last: String,
    },
    #[error("{object}: {source}")]
    Api { object: String, source: kube::Error },
    #[error("cannot serialize {object}: {source}")]
    Serialize {
        object: String,
        source: serde_json::Error,
    },
}

/// `Kind/name`, as in messages.
pub fn object_id(m: &Manifest) -> String {
    format!("{}/{}", m.object.kind(), m.object.name())
}

/// The API resource of `apiVersion` + `kind`.
pub fn api_resource(api_version: &str, kind: &str) -> ApiResource {
    let (group, version) = api_version.split_once('/').unwrap_or(("", api_version));
    ApiResource::from_gvk(&GroupVersionKind::gvk(group, version, kind))
}

/// The dynamic API for a manifest's kind (cluster-wide for Namespaces).
pub fn api_for(client: &kube::Client, m: &Manifest) -> Api<DynamicObject> {
    let ar = api_resource(m.object.api_version(), m.object.kind());
    match &m.object.metadata().namespace {
        Some(ns) => Api::namespaced_with(client.clone(), ns, &ar),
        None => Api::all_with(client.clone(), &ar),
    }
}

/// Maps an API error on `object` to the error a person can act on.
pub fn explain(object: String, e: kube::Error) -> ClusterError {
    match &e {
        kube::Error::Api(status)
            if status.code == 422
                && (status.message.contains("immutable")
                    || status.message.contains("updates to statefulset spec")) =>
        {
            ClusterError::Immutable {
                object,
                message: status.message.clone(),
            }
        }
        kube::Error::Api(status) if status.code == 422 || status.code == 400 => {
            ClusterError::Rejected {
                object,
                message: status.message.clone(),
            }
        }
        _ => ClusterError::Api { object, source: e },
    }
}

/// Whether an API error is a 404.
pub fn is_not_found(e: &kube::Error) -> bool {
    matches!(e, kube::Error::Api(s) if s.code == 404)
}
