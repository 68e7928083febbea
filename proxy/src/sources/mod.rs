//! Route sources besides the config file: Kubernetes objects translated into the same routes and
//! upstreams the file gives (`ingress.rs`: networking.k8s.io/v1 Ingress), as pure functions of the
//! objects, so that one `RouteTable` serves both. What an object asks for that cannot be served
//! is a [`Problem`] naming the object, never a crash.
//!
//! Upstreams made from objects are named `NAMESPACE/SERVICE:PORT` and discover their endpoints
//! from the Service's EndpointSlices (`kubernetes` discovery), so two objects sending traffic to
//! one Service port share one pool with one health state, and a rebuild keeps it.

pub mod address;
pub mod annotations;
pub mod ingress;

use crate::config::{
    Config, Discovery, KubernetesDiscovery, PathMatch, PortRef, RouteConfig, UpstreamConfig,
};
use std::collections::HashMap;
use std::fmt;

/// A Kubernetes object, as users name it: `Ingress default/web`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectRef {
    pub kind: &'static str,
    pub namespace: String,
    pub name: String,
}

impl fmt::Display for ObjectRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}/{}", self.kind, self.namespace, self.name)
    }
}

/// Something an object asks for that is not served, and why (for its status and the log).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub object: ObjectRef,
    pub message: String,
}

/// A route and the object it comes from.
#[derive(Debug, Clone)]
pub struct Sourced {
    pub object: ObjectRef,
    pub route: RouteConfig,
}

/// Routes and upstreams translated from objects; `RouteConfig::upstream` indexes `upstreams`.
#[derive(Debug, Default)]
pub struct Translation {
    pub routes: Vec<Sourced>,
    pub upstreams: Vec<UpstreamConfig>,
    pub problems: Vec<Problem>,
    by_name: HashMap<String, usize>,
}

impl Translation {
    /// The index of the upstream for a Service port, made on first use.
    fn service_upstream(&mut self, namespace: &str, service: &str, port: PortRef) -> usize {
        let port_text = match &port {
            PortRef::Number(n) => n.to_string(),
            PortRef::Name(n) => n.clone(),
        };
        let name = format!("{namespace}/{service}:{port_text}");
        if let Some(&i) = self.by_name.get(&name) {
            return i;
        }
        let mut upstream = UpstreamConfig::with_endpoints(&name, Vec::new());
        upstream.discovery = Discovery::Kubernetes(KubernetesDiscovery {
            service: service.to_owned(),
            namespace: Some(namespace.to_owned()),
            port,
        });
        self.upstreams.push(upstream);
        self.by_name.insert(name, self.upstreams.len() - 1);
        self.upstreams.len() - 1
    }

    fn problem(&mut self, object: &ObjectRef, message: impl Into<String>) {
        self.problems.push(Problem {
            object: object.clone(),
            message: message.into(),
        });
    }
}

/// The route table's config: the file's routes and upstreams, then those of `objects`.
///
/// On a conflict — a route of an object with the same host and path as a file route — **the
/// file wins**: the operator's own file is the one place that can always override what a
/// namespace's objects ask for. The object's route is left out and reported as a problem.
pub fn merge(file: &Config, objects: Translation) -> (Config, Vec<Problem>) {
    let mut config = file.clone();
    let mut problems = objects.problems;
    let offset = config.upstreams.len();
    config.upstreams.extend(objects.upstreams);
    let by_key: HashMap<(Option<&str>, &PathMatch), &str> = file
        .routes
        .iter()
        .map(|r| ((r.host.as_deref(), &r.matcher), r.name.as_str()))
        .collect();
    for Sourced { object, mut route } in objects.routes {
        if let Some(file_route) = by_key.get(&(route.host.as_deref(), &route.matcher)) {
            let host = route
                .host
                .as_deref()
                .map_or(String::new(), |h| format!("host {h} "));
            let message = format!(
                "{host}path {} is routed by the config file's route {file_route:?}, which wins",
                route.matcher.as_str()
            );
            problems.push(Problem { object, message });
            continue;
        }
        route.upstream += offset;
        config.routes.push(route);
    }
    (config, problems)
}
