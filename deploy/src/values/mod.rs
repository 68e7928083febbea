//! The stack values file (`config/stack.yaml`): its file format, the loader with located errors, and the
//! resolved model the renderer reads.
//!
//! Every key is optional; a missing key takes the default its doc comment names. Unknown keys are errors.
//! Errors say where: `config/stack.yaml:14:7: components.web.tag: invalid type: integer, expected a string`.

mod check;
mod file;
mod image;
mod locate;
mod scalar;
pub mod schema;
mod url;

pub use file::{
    Apps, Backups, Cloudflared, ComponentValues, Components, Monitoring, NodePorts, ProxySettings,
    ResourceValues, Resources, StackFile, Storage,
};
pub use image::{Digest, PullPolicy, Registry, SecretName, is_registry, names_registry};
pub use scalar::{
    Cidr, DnsLabel, Duration, EnvName, Hour, Network, Quantity, Replicas, TimeZone,
    is_dns1123_label, is_dns1123_subdomain, is_env_name, is_network,
};
use std::collections::BTreeMap;
pub use url::{Prefix, PublicUrl, is_prefix};

use std::path::{Path, PathBuf};

/// A values file that could not be read or does not describe a valid stack.
#[derive(Debug, thiserror::Error)]
pub enum ValuesError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{file}:{line}:{column}: {field}: {problem}")]
    Invalid {
        file: String,
        line: usize,
        column: usize,
        field: String,
        problem: String,
    },
}

/// Reads and parses a values file.
pub fn load(path: &Path) -> Result<Values, ValuesError> {
    let text = std::fs::read_to_string(path).map_err(|source| ValuesError::Read {
        path: path.to_owned(),
        source,
    })?;
    parse(&path.display().to_string(), &text)
}

/// Parses values text; `file` names it in errors.
pub fn parse(file: &str, text: &str) -> Result<Values, ValuesError> {
    // An empty document means "all defaults".
    if text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    }) {
        return Ok(Values::from(StackFile::default()));
    }
    let de = serde_yaml::Deserializer::from_str(text);
    let parsed: StackFile = serde_path_to_error::deserialize(de).map_err(|err| {
        let field = match err.path().to_string() {
            p if p == "." => "(top level)".to_owned(),
            p => p,
        };
        let inner = err.into_inner();
        // serde_yaml locates errors raised by our scalar checks at the enclosing mapping, so point at
        // the field's value in the text when it is there.
        let (line, column) = locate::locate(text, &field)
            .or_else(|| inner.location().map(|l| (l.line(), l.column())))
            .unwrap_or((1, 1));
        let problem = strip_path(&field, &strip_location(&inner.to_string()));
        ValuesError::Invalid {
            file: file.to_owned(),
            line,
            column,
            field,
            problem,
        }
    })?;
    if let Some(p) = check::check(&parsed) {
        let (line, column) =
            p.at.iter()
                .find_map(|at| locate::locate(text, at))
                .unwrap_or((1, 1));
        return Err(ValuesError::Invalid {
            file: file.to_owned(),
            line,
            column,
            field: p.field,
            problem: p.problem,
        });
    }
    Ok(Values::from(parsed))
}

/// serde_yaml starts nested messages with its own path (a prefix of `field`); the field is printed
/// before the problem already.
fn strip_path(field: &str, message: &str) -> String {
    let mut prefixes: Vec<&str> = field
        .match_indices(['.', '['])
        .map(|(i, _)| &field[..i])
        .collect();
    prefixes.push(field);
    prefixes
        .iter()
        .rev()
        .find_map(|p| message.strip_prefix(p).and_then(|m| m.strip_prefix(": ")))
        .unwrap_or(message)
        .to_owned()
}

/// serde_yaml appends " at line L column C" to its messages; the location is printed up front instead.
fn strip_location(message: &str) -> String {
    match message.rfind(" at line ") {
        Some(at) => message[..at].to_owned(),
        None => message.to_owned(),
    }
}

/// Room for `days` copies of each stateful volume, in whole Gi rounded up:
/// (postgres + mongo + minio) × days. Sizes that are not byte quantities count as 0.
fn backups_size(s: &Storage, days: u32) -> Quantity {
    const GI: u128 = 1 << 30;
    let total: u128 = [&s.postgres, &s.mongo, &s.minio]
        .iter()
        .filter_map(|q| q.bytes())
        .sum::<u128>()
        * u128::from(days);
    Quantity(format!("{}Gi", total.div_ceil(GI).max(1)))
}

/// What the values allow but an operator should hear about: printed on stderr by every command.
pub fn warnings(v: &Values) -> Vec<String> {
    let mut out = Vec::new();
    let need = backups_size(&v.storage, v.backups.retention_days.get());
    let short = |q: &Quantity| {
        q.bytes()
            .zip(need.bytes())
            .is_some_and(|(has, need)| has < need)
    };
    if v.backups.enabled && short(&v.backups_size) {
        out.push(format!(
            "storage.backups: {} may not hold {} days of postgres + mongo + minio copies \
             (up to {})",
            v.backups_size.0, v.backups.retention_days, need.0
        ));
    }
    if v.node_ports.enabled && v.node_ports.expose_databases {
        out.push(
            "node_ports.expose_databases: PostgreSQL, MongoDB, Redis and MinIO get NodePorts; \
             anyone who reaches a node port can try their passwords"
                .to_owned(),
        );
    }
    out
}

/// One component's resolved image, replicas and resources.
#[derive(Debug, Clone, PartialEq)]
pub struct Component {
    /// Image repository, without the tag.
    pub image: String,
    pub tag: String,
    /// `sha256:…` pinned beside the tag.
    pub digest: Option<String>,
    /// `imagePullPolicy`: the values' for Trinity images, `IfNotPresent` for the others.
    pub pull_policy: PullPolicy,
    pub replicas: i32,
    pub resources: Resources,
    /// The values' extra env vars, by name.
    pub env: BTreeMap<String, String>,
}

impl Component {
    /// `image:tag`, or `image:tag@digest` when a digest is pinned.
    pub fn image_ref(&self) -> String {
        match &self.digest {
            Some(d) => format!("{}:{}@{d}", self.image, self.tag),
            None => format!("{}:{}", self.image, self.tag),
        }
    }
}

/// The resolved stack: every default applied.
#[derive(Debug, Clone, PartialEq)]
pub struct Values {
    pub namespace: String,
    pub public_url: PublicUrl,
    /// Secrets every pod pulls its images with.
    pub image_pull_secrets: Vec<String>,
    /// Size of the backups volume: `storage.backups`, or room for every copy kept.
    pub backups_size: Quantity,
    pub storage: Storage,
    pub node_ports: NodePorts,
    pub proxy: ProxySettings,
    pub apps: Apps,
    pub cloudflared: Cloudflared,
    pub monitoring: Monitoring,
    pub backups: Backups,
    pub postgres: Component,
    pub mongo: Component,
    pub redis: Component,
    pub minio: Component,
    pub web: Component,
    pub fastapi: Component,
    pub trinity_ai: Component,
    pub frontend: Component,
    pub celery: Component,
    pub flight: Component,
    pub trinity_proxy: Component,
    pub cloudflared_image: Component,
    pub backup_tools: Component,
}

impl From<StackFile> for Values {
    fn from(f: StackFile) -> Self {
        let res = &f.resources;
        let c = &f.components;
        let resolve = |v: &ComponentValues, image: &str, tag: &str, replicas: i32| Component {
            image: v.image.clone().unwrap_or_else(|| image.to_owned()),
            tag: v.tag.clone().unwrap_or_else(|| tag.to_owned()),
            digest: v.digest.as_ref().map(|d| d.0.clone()),
            pull_policy: PullPolicy::IfNotPresent,
            replicas: v.replicas.map_or(replicas, |r| r.0),
            resources: v.resources.clone().unwrap_or_else(|| res.clone()),
            env: v
                .env
                .iter()
                .map(|(k, x)| (k.0.clone(), x.clone()))
                .collect(),
        };
        // A component whose default resources are its own, not the values' shared ones.
        let resolve_own =
            |v: &ComponentValues, image: &str, tag: &str, n: i32, own: Resources| Component {
                resources: v.resources.clone().unwrap_or(own),
                ..resolve(v, image, tag, n)
            };
        // A Trinity image: the values' registry in front (unless its repository names one already)
        // and the values' pull policy.
        let trinity = |c: Component| Component {
            image: match f.registry.0.as_str() {
                "" => c.image,
                _ if names_registry(&c.image) => c.image,
                registry => format!("{registry}/{}", c.image),
            },
            pull_policy: f.image_pull_policy,
            ..c
        };
        let app_tag = f.apps.tag.as_str();
        Values {
            postgres: resolve(&c.postgres, "postgres", "16.9-alpine", 1),
            mongo: resolve(&c.mongo, "mongo", "7.0.21", 1),
            redis: resolve(&c.redis, "redis", "7.4.5-alpine", 1),
            minio: resolve(&c.minio, "minio/minio", "RELEASE.2025-04-22T22-12-26Z", 1),
            web: trinity(resolve(&c.web, "trinity/web", app_tag, 2)),
            fastapi: trinity(resolve(&c.fastapi, "trinity/fastapi", app_tag, 2)),
            trinity_ai: trinity(resolve_own(
                &c.trinity_ai,
                "trinity/trinity-ai",
                app_tag,
                1,
                Resources::trinity_ai(),
            )),
            frontend: trinity(resolve(&c.frontend, "trinity/frontend", app_tag, 2)),
            celery: trinity(resolve(&c.celery, "trinity/web", app_tag, 2)),
            flight: trinity(resolve(&c.flight, "trinity/flight", app_tag, 1)),
            trinity_proxy: trinity(resolve_own(
                &c.trinity_proxy,
                "trinity/trinity-proxy",
                "0.1.0",
                2,
                Resources::proxy(f.proxy.threads),
            )),
            cloudflared_image: resolve(&c.cloudflared, "cloudflare/cloudflared", "2025.7.0", 2),
            backup_tools: resolve(
                &c.backup_tools,
                "minio/mc",
                "RELEASE.2025-04-16T18-13-26Z",
                1,
            ),
            image_pull_secrets: f.image_pull_secrets.into_iter().map(|s| s.0).collect(),
            backups_size: f
                .storage
                .backups
                .clone()
                .unwrap_or_else(|| backups_size(&f.storage, f.backups.retention_days.get())),
            namespace: f.namespace.0,
            public_url: f.public_url,
            storage: f.storage,
            node_ports: f.node_ports,
            proxy: f.proxy,
            apps: f.apps,
            cloudflared: f.cloudflared,
            monitoring: f.monitoring,
            backups: f.backups,
        }
    }
}

#[cfg(test)]
mod tests;
