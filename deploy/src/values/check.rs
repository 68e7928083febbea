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
        .or_else(|| secret_env(f))
        .or_else(|| single_instance(f))
        .or_else(|| proxy_cpu(f))
}

/// A CPU limit below the proxy's worker threads throttles them all under load (CFS quota).
fn proxy_cpu(f: &StackFile) -> Option<Problem> {
    let limit = &f.components.trinity_proxy.resources.as_ref()?.limits.cpu.0;
    let millis = cpu_millis(limit)?;
    let threads = f.proxy.threads;
    (millis < u64::from(threads) * 1000).then(|| {
        let field = "components.trinity_proxy.resources.limits.cpu";
        Problem::new(
            field,
            &[field],
            format!(
                "{limit} is below proxy.threads ({threads}): give at least {threads} CPUs, or lower \
                 proxy.threads"
            ),
        )
    })
}

/// Millicores of a CPU quantity (`500m`, `2`, `1.5`); `None` for other suffixes.
fn cpu_millis(q: &str) -> Option<u64> {
    if let Some(m) = q.strip_suffix('m') {
        return m.parse().ok();
    }
    let cores: f64 = q.parse().ok()?;
    Some((cores * 1000.0).round() as u64)
}

/// The databases are single-instance StatefulSets: a second replica is a second, independent
/// database behind the same Service.
fn single_instance(f: &StackFile) -> Option<Problem> {
    let c = &f.components;
    [
        ("postgres", &c.postgres),
        ("mongo", &c.mongo),
        ("redis", &c.redis),
        ("minio", &c.minio),
    ]
    .into_iter()
    .find_map(|(name, values)| {
        let n = values.replicas?.0;
        (n > 1).then(|| {
            let field = format!("components.{name}.replicas");
            Problem {
                at: vec![field.clone()],
                field,
                problem: format!(
                    "{name} runs as one instance (0 or 1 replicas), got {n}: a second replica \
                     would be a second, independent database behind the same Service"
                ),
            }
        })
    })
}

/// A credential never comes from the values file: it would be written into the manifests.
fn secret_env(f: &StackFile) -> Option<Problem> {
    f.components.all().into_iter().find_map(|(component, c)| {
        c.env.keys().find_map(|name| {
            let secret = crate::secrets::secret_of_env(&name.0)?;
            let field = format!("components.{component}.env.{}", name.0);
            Some(Problem {
                at: vec![field.clone(), format!("components.{component}.env")],
                field,
                problem: format!(
                    "read from the generated Secret {secret}; a credential is never set in the values"
                ),
            })
        })
    })
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
