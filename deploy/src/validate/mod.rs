//! `validate`: every rendered object against the embedded Kubernetes 1.33 JSON schema, then the lints
//! the schema cannot see (see [`lints`]).

pub mod lints;
pub mod pod_security;
pub mod schema;

use crate::object::Manifest;
use std::fmt;

/// One problem in one object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// `Kind/name`.
    pub object: String,
    /// Dotted field path inside the object (`spec.template.spec.containers.0.image`).
    pub field: String,
    pub problem: String,
}

impl Finding {
    pub fn new(m: &Manifest, field: impl Into<String>, problem: impl Into<String>) -> Self {
        Finding {
            object: format!("{}/{}", m.object.kind(), m.object.name()),
            field: field.into(),
            problem: problem.into(),
        }
    }
}

impl fmt::Display for Finding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.object, self.field, self.problem)
    }
}

/// Schema findings, then lint findings; empty when the stack is valid.
pub fn validate(schemas: &schema::Schemas, manifests: &[Manifest]) -> Vec<Finding> {
    let mut out = Vec::new();
    for m in manifests {
        out.extend(schemas.check(m));
    }
    out.extend(lints::lint(manifests));
    out
}
