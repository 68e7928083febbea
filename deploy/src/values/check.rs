//! Checks that span several keys, run after the file parsed: each names the field at fault and the
//! paths (first present wins) where its error is located in the text.

use super::file::StackFile;

/// One cross-field problem.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// Field path printed in the error.
    pub field: String,
    /// Paths tried in order to locate the error in the text; the first present one wins.
    pub at: Vec<String>,
    pub problem: String,
}

impl Problem {
    fn new(field: &str, at: &[&str], problem: impl Into<String>) -> Self {
        Problem {
            field: field.to_owned(),
            at: at.iter().map(|s| (*s).to_owned()).collect(),
            problem: problem.into(),
        }
    }
}

/// The first cross-field problem of `f`, if any.
pub fn check(f: &StackFile) -> Option<Problem> {
    tunnel_trust(f)
}

/// Behind cloudflared every request arrives from a cloudflared pod: the proxy must trust the pod
/// network to believe `CF-Connecting-IP` and `X-Forwarded-Proto`.
fn tunnel_trust(f: &StackFile) -> Option<Problem> {
    (f.cloudflared.enabled && f.proxy.trusted_proxies.is_empty()).then(|| {
        Problem::new(
            "proxy.trusted_proxies",
            &["proxy.trusted_proxies", "cloudflared.enabled"],
            "required when cloudflared.enabled is true: give the cluster's pod CIDR (e.g. \
             10.244.0.0/16 on minikube), so the proxy believes CF-Connecting-IP and \
             X-Forwarded-Proto from the cloudflared pods",
        )
    })
}
