//! Where images come from: the registry of the Trinity images, the pull policy, pull Secrets and
//! digests pinned beside tags.

use serde::Deserialize;

/// Registry (and optional path) prefixed to the Trinity application images, e.g. `ghcr.io/acme` or
/// `registry.local:5000`: host[:port][/path], no scheme, no trailing `/`. Empty: images as written.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Registry(pub String);

/// Whether `s` is a registry reference `host[:port][/path]`.
pub fn is_registry(s: &str) -> bool {
    let mut parts = s.split('/');
    let host = parts.next().unwrap_or_default();
    let (name, port) = match host.split_once(':') {
        Some((n, p)) => (n, Some(p)),
        None => (host, None),
    };
    let name_ok = !name.is_empty()
        && name.split('.').all(|l| {
            !l.is_empty()
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
    let path_ok = parts.all(|seg| {
        !seg.is_empty()
            && seg
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c))
    });
    name_ok && port_ok && path_ok
}

impl TryFrom<String> for Registry {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() || is_registry(&s) {
            Ok(Registry(s))
        } else {
            Err(format!(
                "expected a registry like \"ghcr.io/acme\" or \"registry.local:5000\" (no scheme, no trailing '/'), got {s:?}"
            ))
        }
    }
}

/// Whether an image repository already names its registry (`ghcr.io/x/web`, `localhost:5000/web`):
/// its first segment holds a '.' or ':' or is `localhost`, as Docker reads it.
pub fn names_registry(image: &str) -> bool {
    match image.split_once('/') {
        Some((first, _)) => first.contains(['.', ':']) || first == "localhost",
        None => false,
    }
}

/// `imagePullPolicy` of the Trinity application images.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
pub enum PullPolicy {
    /// Pull when the node lacks the image (the default).
    #[default]
    IfNotPresent,
    /// Pull on every start.
    Always,
    /// Never pull: the image must be on the node already (minikube: `minikube image load`).
    Never,
}

impl PullPolicy {
    pub fn as_str(self) -> &'static str {
        match self {
            PullPolicy::IfNotPresent => "IfNotPresent",
            PullPolicy::Always => "Always",
            PullPolicy::Never => "Never",
        }
    }
}

/// An image digest, `sha256:` and 64 lower-case hex digits.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Digest(pub String);

impl TryFrom<String> for Digest {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        let hex = s.strip_prefix("sha256:").unwrap_or_default();
        if hex.len() == 64
            && hex
                .chars()
                .all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c))
        {
            Ok(Digest(s))
        } else {
            Err(format!(
                "expected a digest like \"sha256:<64 lower-case hex digits>\", got {s:?}"
            ))
        }
    }
}

/// A Secret's name: a DNS-1123 subdomain (lower-case labels joined by '.', at most 253).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct SecretName(pub String);

impl TryFrom<String> for SecretName {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if super::is_dns1123_subdomain(&s) {
            Ok(SecretName(s))
        } else {
            Err(format!(
                "{s:?} is not a Secret name (DNS-1123 subdomain: lower-case letters, digits, '-' and '.')"
            ))
        }
    }
}
