//! `secrets init|rotate`: the generated Secrets ([`crate::secrets`]). `init` creates each one only when
//! absent (a create that answers 409 keeps the existing Secret); `rotate` replaces one explicitly.
//! Values are random, never printed or logged.

use super::{ClusterError, FIELD_MANAGER, STACK_LABEL, applyset, explain};
use crate::secrets::{ALL, GeneratedSecret};
use k8s_openapi::ByteString;
use k8s_openapi::api::core::v1::Secret;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kube::api::{Api, Patch, PatchParams, PostParams};
use std::collections::BTreeMap;

/// User name stored under the `username` / `root-user` keys.
pub const USER: &str = "trinity";

/// Random secret text: 32 bytes from the OS, hex-encoded.
fn random_text() -> Result<String, ClusterError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| ClusterError::Rejected {
        object: "random generator".to_owned(),
        message: e.to_string(),
    })?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// A fresh Secret for `s` in `namespace`.
pub fn generate(s: GeneratedSecret, namespace: &str) -> Result<Secret, ClusterError> {
    let mut data = BTreeMap::new();
    for key in s.keys {
        let value = if matches!(*key, "username" | "root-user") {
            USER.to_owned()
        } else {
            random_text()?
        };
        data.insert((*key).to_owned(), ByteString(value.into_bytes()));
    }
    Ok(Secret {
        metadata: ObjectMeta {
            name: Some(s.name.to_owned()),
            namespace: Some(namespace.to_owned()),
            labels: Some(BTreeMap::from([
                (STACK_LABEL.to_owned(), namespace.to_owned()),
                (applyset::PART_OF_LABEL.to_owned(), applyset::id(namespace)),
            ])),
            ..ObjectMeta::default()
        },
        type_: Some("Opaque".to_owned()),
        data: Some(data),
        ..Secret::default()
    })
}

/// What `init` did with one Secret.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Created,
    KeptExisting,
    Rotated,
}

/// Creates every generated Secret that does not exist yet.
pub async fn init(
    client: &kube::Client,
    namespace: &str,
) -> Result<Vec<(&'static str, Outcome)>, ClusterError> {
    let api = Api::<Secret>::namespaced(client.clone(), namespace);
    let mut out = Vec::new();
    for s in ALL {
        let outcome = match api
            .create(&PostParams::default(), &generate(s, namespace)?)
            .await
        {
            Ok(_) => Outcome::Created,
            Err(kube::Error::Api(status)) if status.code == 409 => Outcome::KeptExisting,
            Err(e) => return Err(explain(format!("Secret/{}", s.name), e)),
        };
        out.push((s.name, outcome));
    }
    Ok(out)
}

/// Replaces one generated Secret's values. Databases keep the password they were initialised with:
/// change it inside the database as well.
pub async fn rotate(
    client: &kube::Client,
    namespace: &str,
    name: &str,
) -> Result<Outcome, ClusterError> {
    let Some(s) = ALL.iter().find(|s| s.name == name) else {
        return Err(ClusterError::Rejected {
            object: format!("Secret/{name}"),
            message: format!(
                "not a generated Secret (one of: {})",
                ALL.map(|s| s.name).join(", ")
            ),
        });
    };
    let secret = generate(*s, namespace)?;
    let params = PatchParams::apply(FIELD_MANAGER).force();
    Api::<Secret>::namespaced(client.clone(), namespace)
        .patch(name, &params, &Patch::Apply(&secret))
        .await
        .map_err(|e| explain(format!("Secret/{name}"), e))?;
    Ok(Outcome::Rotated)
}
