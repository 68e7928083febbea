//! One manifest's server-side apply, shared by `apply` and `diff`: the live object it meets (absent
//! also when a custom kind's CRD is), the body it sends (stack and ApplySet labels added), the patch.

use super::{ClusterError, STACK_LABEL, api_for, applyset, explain, is_not_found, object_id};
use crate::object::{Manifest, Object};
use kube::api::{Api, DynamicObject, Patch, PatchParams};
use serde_json::Value;

/// A manifest about to be server-side applied: its live object read, its body built.
pub struct Pending<'m> {
    manifest: &'m Manifest,
    api: Api<DynamicObject>,
    /// A custom kind, whose CRD may be absent: the API then answers 404 on the resource itself.
    custom: bool,
    body: Value,
    /// The object as the cluster holds it; `None` when absent (or its kind's CRD is).
    pub live: Option<DynamicObject>,
}

/// Reads `m`'s live object, then builds its apply body; `stack` is the inventory label value.
pub async fn prepare<'m>(
    client: &kube::Client,
    m: &'m Manifest,
    stack: &str,
) -> Result<Pending<'m>, ClusterError> {
    let api = api_for(client, m);
    let custom = matches!(m.object, Object::Custom(_));
    let live = match api.get_opt(m.object.name()).await {
        Ok(l) => l,
        Err(e) if custom && is_not_found(&e) => None,
        Err(e) => return Err(explain(object_id(m), e)),
    };
    let body = apply_body(m, stack)?;
    Ok(Pending {
        manifest: m,
        api,
        custom,
        body,
        live,
    })
}

impl Pending<'_> {
    /// Server-side applies the body with `params`: the object the server answers, or `None` when
    /// the kind's CRD is not installed.
    pub async fn patch(&self, params: &PatchParams) -> Result<Option<DynamicObject>, ClusterError> {
        let name = self.manifest.object.name();
        match self
            .api
            .patch(name, params, &Patch::Apply(&self.body))
            .await
        {
            Ok(after) => Ok(Some(after)),
            Err(e) if self.custom && is_not_found(&e) => Ok(None),
            Err(e) => Err(explain(object_id(self.manifest), e)),
        }
    }
}

/// The manifest as the JSON body of a server-side apply, with the stack label and the ApplySet
/// `part-of` label added (also to StatefulSet volumeClaimTemplates, so their PVCs are members).
fn apply_body(m: &Manifest, stack: &str) -> Result<Value, ClusterError> {
    let mut v = serde_json::to_value(&m.object).map_err(|source| ClusterError::Serialize {
        object: object_id(m),
        source,
    })?;
    let id = applyset::id(stack);
    if let Some(labels) = labels_mut(&mut v) {
        labels.insert(STACK_LABEL.to_owned(), Value::String(stack.to_owned()));
        labels.insert(
            applyset::PART_OF_LABEL.to_owned(),
            Value::String(id.clone()),
        );
    }
    let templates = v
        .pointer_mut("/spec/volumeClaimTemplates")
        .and_then(Value::as_array_mut);
    for labels in templates.into_iter().flatten().filter_map(labels_mut) {
        labels.insert(
            applyset::PART_OF_LABEL.to_owned(),
            Value::String(id.clone()),
        );
    }
    Ok(v)
}

/// `object.metadata.labels`, created when absent; None when `object` is not a JSON object.
fn labels_mut(object: &mut Value) -> Option<&mut serde_json::Map<String, Value>> {
    object
        .as_object_mut()?
        .entry("metadata")
        .or_insert_with(|| Value::Object(Default::default()))
        .as_object_mut()?
        .entry("labels")
        .or_insert_with(|| Value::Object(Default::default()))
        .as_object_mut()
}
