//! `destroy [--purge]`: deletes the rendered objects in reverse apply order. Keeps the Namespace,
//! PersistentVolumeClaims and generated Secrets unless `--purge`, which deletes the Namespace with
//! everything in it, data included.

use super::{ClusterError, api_for, explain, is_not_found, object_id};
use crate::object::{Manifest, Object};
use kube::api::DeleteParams;

/// Deletes; returns `Kind/name` of each object deleted (absent ones are skipped silently).
pub async fn destroy(
    client: &kube::Client,
    manifests: &[Manifest],
    purge: bool,
) -> Result<Vec<String>, ClusterError> {
    let mut order: Vec<&Manifest> = manifests.iter().collect();
    order.sort_by_key(|m| std::cmp::Reverse(m.component.stage()));
    let mut deleted = Vec::new();
    for m in order {
        let data = matches!(
            m.object,
            Object::Namespace(_) | Object::PersistentVolumeClaim(_)
        );
        if data && !purge {
            continue;
        }
        match api_for(client, m)
            .delete(m.object.name(), &DeleteParams::background())
            .await
        {
            Ok(_) => deleted.push(object_id(m)),
            Err(e) if is_not_found(&e) => {}
            Err(e) => return Err(explain(object_id(m), e)),
        }
    }
    Ok(deleted)
}
