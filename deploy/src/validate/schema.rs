//! The official Kubernetes 1.33 JSON schema (strict: unknown fields are errors), trimmed to the kinds
//! trinity-deploy renders and embedded at build time. `deploy/schemas/trim.py` says where it comes from
//! and regenerates it. Kinds outside it (prometheus-operator CRDs) are checked by the lints only.

use super::Finding;
use crate::object::Manifest;
use serde_json::{Value, json};
use std::collections::BTreeMap;

const SCHEMA: &str = include_str!("../../schemas/k8s-1.33.json");

/// The embedded schema could not be compiled (a broken regeneration of the schema file).
#[derive(Debug, thiserror::Error)]
pub enum SchemaError {
    #[error("embedded schema is not JSON: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("embedded schema has no {0}")]
    Missing(&'static str),
    #[error("embedded schema for {kind} does not compile: {message}")]
    Compile { kind: String, message: String },
}

/// One compiled validator per `apiVersion/kind`.
pub struct Schemas {
    validators: BTreeMap<String, jsonschema::Validator>,
}

impl Schemas {
    /// Compiles the embedded schema.
    pub fn load() -> Result<Self, SchemaError> {
        let doc: Value = serde_json::from_str(SCHEMA)?;
        let defs = doc.get("$defs").ok_or(SchemaError::Missing("$defs"))?;
        let kinds = doc
            .get("kinds")
            .and_then(Value::as_object)
            .ok_or(SchemaError::Missing("kinds"))?;
        let mut validators = BTreeMap::new();
        for (kind, def) in kinds {
            let def = def
                .as_str()
                .ok_or(SchemaError::Missing("kind definition"))?;
            let schema = json!({
                "$schema": "https://json-schema.org/draft/2020-12/schema",
                "$defs": defs,
                "$ref": format!("#/$defs/{def}"),
            });
            let validator =
                jsonschema::draft202012::new(&schema).map_err(|e| SchemaError::Compile {
                    kind: kind.clone(),
                    message: e.to_string(),
                })?;
            validators.insert(kind.clone(), validator);
        }
        Ok(Schemas { validators })
    }

    /// `apiVersion/kind` keys the schema covers.
    pub fn kinds(&self) -> impl Iterator<Item = &str> {
        self.validators.keys().map(String::as_str)
    }

    /// Whether the schema covers this object's kind.
    pub fn covers(&self, m: &Manifest) -> bool {
        self.validators.contains_key(&key(m))
    }

    /// Schema findings for one object; none for kinds the schema does not cover.
    pub fn check(&self, m: &Manifest) -> Vec<Finding> {
        let instance = match serde_json::to_value(&m.object) {
            Ok(v) => v,
            Err(e) => {
                return vec![Finding::new(
                    m,
                    "(object)",
                    format!("cannot serialize: {e}"),
                )];
            }
        };
        self.check_value(&key(m), &instance)
            .unwrap_or_default()
            .into_iter()
            .map(|(field, problem)| Finding::new(m, field, format!("schema: {problem}")))
            .collect()
    }

    /// (dotted field path, problem) for each schema violation of a JSON object of kind
    /// `apiVersion/kind`; `None` when the schema does not cover that kind.
    pub fn check_value(&self, kind: &str, instance: &Value) -> Option<Vec<(String, String)>> {
        let validator = self.validators.get(kind)?;
        let problems = validator
            .iter_errors(instance)
            .map(|e| {
                let field = e
                    .instance_path()
                    .to_string()
                    .trim_start_matches('/')
                    .replace('/', ".");
                let field = if field.is_empty() {
                    "(object)".to_owned()
                } else {
                    field
                };
                let mut problem: String = e.to_string().chars().take(300).collect();
                if problem.chars().count() == 300 {
                    problem.push('…');
                }
                (field, problem)
            })
            .collect();
        Some(problems)
    }
}

fn key(m: &Manifest) -> String {
    format!("{}/{}", m.object.api_version(), m.object.kind())
}
