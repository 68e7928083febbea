//! networking.k8s.io/v1 Ingress → routes (`translate`).
//!
//! - **Which Ingresses:** those whose `spec.ingressClassName` is our IngressClass (the class named
//!   `kubernetes.ingress_class`, with `spec.controller: trinity.io/ingress-controller`); those with
//!   the legacy `kubernetes.io/ingress.class` annotation of that name; and those with neither
//!   when our IngressClass carries `ingressclass.kubernetes.io/is-default-class: "true"`.
//! - **Paths:** `Exact` is the exact path; `Prefix` matches element-wise (`/aaa/bbb` matches
//!   `/aaa/bbb`, `/aaa/bbb/` and `/aaa/bbb/ccc`, never `/aaa/bbbxyz`; a trailing slash in the
//!   Ingress is ignored); `ImplementationSpecific` is the same as `Prefix`. The longest path wins
//!   and `Exact` beats `Prefix` on the same path (the route table's own rules). A path that is not
//!   in normal form (`//`, `.`/`..` segments, escapes of unreserved characters) is refused: the
//!   proxy routes on normalised request paths and would never match it.
//! - **Hosts:** exact, or a wildcard of one label (`*.example.com`); no host: every host.
//!   `spec.defaultBackend` takes what no rule of any host matches (a host-less `/` prefix).
//! - **Backends:** a Service with `port.number` or `port.name` (resolved through the
//!   EndpointSlices' port names). `resource` backends are not supported (a problem, as is a
//!   missing port).
//! - **Options:** the Ingress's annotations set every one of its routes' policy and timeouts
//!   (`annotations.rs`: `trinity.io/…` and the common ingress-nginx ones).
//! - **Conflicts:** the same host and path in two Ingresses: the one with the oldest
//!   `creationTimestamp` wins, ties by namespace/name; the other's path is a problem.

use super::annotations::{RouteOptions, route_options};
use super::{ObjectRef, Sourced, Translation};
use crate::config::{PathMatch, PortRef, RouteConfig, route_host};
use crate::path::normalize;
use k8s_openapi::api::networking::v1::{Ingress, IngressBackend, IngressClass};
use std::collections::HashMap;

/// The `spec.controller` of the IngressClass trinity-proxy serves.
pub const CONTROLLER: &str = "trinity.io/ingress-controller";
const CLASS_ANNOTATION: &str = "kubernetes.io/ingress.class";
const DEFAULT_CLASS_ANNOTATION: &str = "ingressclass.kubernetes.io/is-default-class";

/// Translates the Ingresses of class `class` among `ingresses` (with the cluster's `classes`).
pub fn translate(ingresses: &[Ingress], classes: &[IngressClass], class: &str) -> Translation {
    let mut out = Translation::default();
    let ours = OurClass::find(classes, class);
    let mut served: Vec<&Ingress> = Vec::new();
    for ing in ingresses {
        match ours.claims(ing) {
            Claim::Ours => served.push(ing),
            Claim::NotOurs => {}
            Claim::ClassNotOurs => out.problem(
                &object(ing),
                format!(
                    "IngressClass {class} does not exist or its spec.controller is not {CONTROLLER}"
                ),
            ),
        }
    }
    // Oldest first, then namespace/name: the first to claim a host and path keeps it.
    served.sort_by_key(|i| (created(i), object(i)));
    let mut claimed: HashMap<(Option<String>, PathMatch), ObjectRef> = HashMap::new();
    for ing in served {
        translate_one(ing, &mut out, &mut claimed);
    }
    out
}

/// Our IngressClass, as found among the cluster's.
struct OurClass<'a> {
    name: &'a str,
    /// It exists and names our controller.
    exists: bool,
    default: bool,
}

enum Claim {
    Ours,
    NotOurs,
    /// The Ingress names our class, but that class is missing or another controller's.
    ClassNotOurs,
}

impl<'a> OurClass<'a> {
    fn find(classes: &[IngressClass], name: &'a str) -> Self {
        let class = classes
            .iter()
            .find(|c| c.metadata.name.as_deref() == Some(name));
        let exists = class.is_some_and(|c| {
            c.spec.as_ref().and_then(|s| s.controller.as_deref()) == Some(CONTROLLER)
        });
        let default = exists
            && class
                .is_some_and(|c| annotation(&c.metadata, DEFAULT_CLASS_ANNOTATION) == Some("true"));
        Self {
            name,
            exists,
            default,
        }
    }

    fn claims(&self, ing: &Ingress) -> Claim {
        if let Some(legacy) = annotation(&ing.metadata, CLASS_ANNOTATION) {
            return if legacy == self.name {
                Claim::Ours
            } else {
                Claim::NotOurs
            };
        }
        match ing
            .spec
            .as_ref()
            .and_then(|s| s.ingress_class_name.as_deref())
        {
            Some(c) if c != self.name => Claim::NotOurs,
            Some(_) if self.exists => Claim::Ours,
            Some(_) => Claim::ClassNotOurs,
            None if self.default => Claim::Ours,
            None => Claim::NotOurs,
        }
    }
}

fn translate_one(
    ing: &Ingress,
    out: &mut Translation,
    claimed: &mut HashMap<(Option<String>, PathMatch), ObjectRef>,
) {
    let me = object(ing);
    let Some(spec) = &ing.spec else {
        return;
    };
    let (opts, problems) = route_options(ing.metadata.annotations.as_ref());
    for why in problems {
        out.problem(&me, why);
    }
    let mut n = 0;
    for rule in spec.rules.iter().flatten() {
        let host = match rule.host.as_deref().map(route_host) {
            None => None,
            Some(Ok(h)) => Some(h),
            Some(Err(why)) => {
                out.problem(&me, why);
                continue;
            }
        };
        for p in rule.http.iter().flat_map(|h| &h.paths) {
            n += 1;
            let matcher = match path_match(&p.path_type, p.path.as_deref()) {
                Ok(m) => m,
                Err(why) => {
                    out.problem(&me, why);
                    continue;
                }
            };
            let name = format!("ingress:{}/{}:{n}", me.namespace, me.name);
            let key = (host.clone(), matcher);
            add(out, claimed, (&me, &opts), name, key, &p.backend);
        }
    }
    if let Some(backend) = &spec.default_backend {
        let name = format!("ingress:{}/{}:default", me.namespace, me.name);
        let key = (None, PathMatch::Prefix("/".into()));
        add(out, claimed, (&me, &opts), name, key, backend);
    }
}

/// Adds one route unless an older Ingress holds its host and path, or its backend is unusable.
fn add(
    out: &mut Translation,
    claimed: &mut HashMap<(Option<String>, PathMatch), ObjectRef>,
    (me, opts): (&ObjectRef, &RouteOptions),
    name: String,
    key: (Option<String>, PathMatch),
    backend: &IngressBackend,
) {
    let where_ = || {
        let host = key
            .0
            .as_deref()
            .map_or(String::new(), |h| format!("host {h} "));
        format!("{host}path {}", key.1.as_str())
    };
    if let Some(holder) = claimed.get(&key) {
        let why = if holder == me {
            format!(
                "{} is given more than once; the first one is served",
                where_()
            )
        } else {
            format!("{} is already routed by {holder}, which is older", where_())
        };
        out.problem(me, why);
        return;
    }
    let (service, port) = match service_of(backend) {
        Ok(sp) => sp,
        Err(why) => {
            out.problem(me, format!("{}: {why}", where_()));
            return;
        }
    };
    let upstream = out.service_upstream(&me.namespace, service, port);
    let route = RouteConfig {
        name,
        host: key.0.clone(),
        matcher: key.1.clone(),
        upstream,
        strip_prefix: false,
        redirect_trailing_slash: false,
        timeouts: opts.timeouts,
        policy: opts.policy.clone(),
    };
    out.routes.push(Sourced {
        object: me.clone(),
        route,
    });
    claimed.insert(key, me.clone());
}

fn service_of(backend: &IngressBackend) -> Result<(&str, PortRef), String> {
    if backend.resource.is_some() {
        return Err("resource backends are not supported; use a Service".into());
    }
    let Some(svc) = &backend.service else {
        return Err("the backend names no Service".into());
    };
    let port = svc.port.as_ref();
    let port = match (
        port.and_then(|p| p.number),
        port.and_then(|p| p.name.as_deref()),
    ) {
        (Some(n), _) => u16::try_from(n)
            .ok()
            .filter(|n| *n > 0)
            .map(PortRef::Number)
            .ok_or_else(|| format!("Service {} port {n} is not a port number", svc.name))?,
        (None, Some(name)) if !name.is_empty() => PortRef::Name(name.to_owned()),
        _ => return Err(format!("Service {} has no port number or name", svc.name)),
    };
    Ok((&svc.name, port))
}

/// The route matcher of an Ingress path.
fn path_match(path_type: &str, path: Option<&str>) -> Result<PathMatch, String> {
    let path = path.unwrap_or("/");
    if !matches!(normalize(path), Ok(std::borrow::Cow::Borrowed(_))) {
        return Err(format!(
            "path {path:?} is not a normalised absolute path (no //, . or .. segments, no escapes of unreserved characters)"
        ));
    }
    match path_type {
        "Exact" => Ok(PathMatch::Exact(path.to_owned())),
        "Prefix" | "ImplementationSpecific" => {
            let trimmed = path.trim_end_matches('/');
            Ok(PathMatch::Prefix(
                if trimmed.is_empty() { "/" } else { trimmed }.into(),
            ))
        }
        other => Err(format!(
            "pathType {other:?} is not one of Exact, Prefix, ImplementationSpecific"
        )),
    }
}

fn object(ing: &Ingress) -> ObjectRef {
    ObjectRef {
        kind: "Ingress",
        namespace: ing.metadata.namespace.clone().unwrap_or_default(),
        name: ing.metadata.name.clone().unwrap_or_default(),
    }
}

/// Creation time; one without (never the case in a cluster) sorts last.
fn created(
    ing: &Ingress,
) -> (
    bool,
    Option<k8s_openapi::apimachinery::pkg::apis::meta::v1::Time>,
) {
    let t = ing.metadata.creation_timestamp.clone();
    (t.is_none(), t)
}

fn annotation<'m>(
    meta: &'m k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta,
    key: &str,
) -> Option<&'m str> {
    meta.annotations.as_ref()?.get(key).map(String::as_str)
}

#[cfg(test)]
#[path = "ingress_tests.rs"]
mod tests;
