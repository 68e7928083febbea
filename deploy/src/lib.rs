//! trinity-deploy: renders the Trinity stack from one values file into typed Kubernetes objects,
//! validates them (embedded Kubernetes 1.33 schema + lints), and applies them.

pub mod cluster;
pub mod object;
pub mod readiness;
pub mod render;
pub mod secrets;
pub mod validate;
pub mod values;
