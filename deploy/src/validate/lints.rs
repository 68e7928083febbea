//! Checks the schema cannot express:
//! - workload selectors match their pod template labels; Service, PDB and NetworkPolicy selectors
//!   select some rendered pods;
//! - probe ports and Service target ports name or number a declared container port;
//! - NodePorts lie in 30000-32767 and only on NodePort Services;
//! - names are DNS-1123 (Services and Namespaces: labels), port names are IANA service names;
//! - every image has an explicit tag that is not `latest`;
//! - volume mounts name a volume, envFrom names a rendered ConfigMap;
//! - every pod template meets Pod Security `restricted` (see [`super::pod_security`]);
//! - no string value is a YAML 1.1 boolean word (`yes`, `off`, …): our YAML 1.2 writer leaves those
//!   unquoted, and kubectl's YAML 1.1 reader would turn them into booleans.

use super::Finding;
use crate::object::{Manifest, Object};
use crate::values::is_dns1123_label;
pub use crate::values::is_dns1123_subdomain;
use k8s_openapi::api::core::v1::{Container, PodTemplateSpec, Probe};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::LabelSelector;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use std::collections::BTreeMap;

/// Kubernetes' default NodePort range.
pub const NODE_PORT_RANGE: std::ops::RangeInclusive<i32> = 30000..=32767;

/// Every lint finding over the whole stack.
pub fn lint(manifests: &[Manifest]) -> Vec<Finding> {
    let pods: Vec<Pod<'_>> = manifests.iter().filter_map(pod_of).collect();
    let config_maps: Vec<&str> = manifests
        .iter()
        .filter(|m| matches!(m.object, Object::ConfigMap(_)))
        .map(|m| m.object.name())
        .collect();
    let mut out = Vec::new();
    for m in manifests {
        names(m, &mut out);
        if let Ok(v) = serde_json::to_value(&m.object) {
            yaml11_booleans(m, "", &v, &mut out);
        }
        match &m.object {
            Object::Service(s) => service(m, s, &pods, &mut out),
            Object::PodDisruptionBudget(p) => {
                let sel = p.spec.as_ref().and_then(|s| s.selector.as_ref());
                selects_some(m, "spec.selector", sel, &pods, &mut out);
            }
            Object::NetworkPolicy(n) => {
                let sel = n.spec.as_ref().and_then(|s| s.pod_selector.as_ref());
                selects_some(m, "spec.podSelector", sel, &pods, &mut out);
            }
            _ => {}
        }
    }
    for p in &pods {
        workload_selector(p.manifest, p.template, &mut out);
        super::pod_security::check(p.manifest, p.path, p.template, &mut out);
        pod(p.manifest, p.path, p.template, &config_maps, &mut out);
    }
    out
}

/// A workload's pod template.
struct Pod<'a> {
    /// The workload.
    manifest: &'a Manifest,
    /// The template's field path in the workload.
    path: &'static str,
    template: &'a PodTemplateSpec,
}

/// The pod template of a workload; `None` for other kinds.
fn pod_of(m: &Manifest) -> Option<Pod<'_>> {
    let (path, template) = match &m.object {
        Object::Deployment(d) => ("spec.template", &d.spec.as_ref()?.template),
        Object::StatefulSet(s) => ("spec.template", &s.spec.as_ref()?.template),
        Object::Job(j) => ("spec.template", &j.spec.as_ref()?.template),
        Object::CronJob(c) => (
            "spec.jobTemplate.spec.template",
            &c.spec.as_ref()?.job_template.spec.as_ref()?.template,
        ),
        _ => return None,
    };
    Some(Pod {
        manifest: m,
        path,
        template,
    })
}

fn template_labels(t: &PodTemplateSpec) -> BTreeMap<String, String> {
    t.metadata
        .as_ref()
        .and_then(|m| m.labels.clone())
        .unwrap_or_default()
}

/// Whether `sel`'s matchLabels are all among `labels` (matchExpressions are not rendered).
fn matches(sel: &BTreeMap<String, String>, labels: &BTreeMap<String, String>) -> bool {
    sel.iter().all(|(k, v)| labels.get(k) == Some(v))
}

fn workload_selector(m: &Manifest, t: &PodTemplateSpec, out: &mut Vec<Finding>) {
    let sel = match &m.object {
        Object::Deployment(d) => d.spec.as_ref().map(|s| &s.selector),
        Object::StatefulSet(s) => s.spec.as_ref().map(|s| &s.selector),
        _ => return,
    };
    let labels = template_labels(t);
    match sel.and_then(|s| s.match_labels.as_ref()) {
        None => out.push(Finding::new(
            m,
            "spec.selector",
            "selector has no matchLabels",
        )),
        Some(sel) if sel.is_empty() => {
            out.push(Finding::new(m, "spec.selector", "selector is empty"));
        }
        Some(sel) if !matches(sel, &labels) => out.push(Finding::new(
            m,
            "spec.selector.matchLabels",
            format!("selector {sel:?} does not match the pod template labels {labels:?}"),
        )),
        Some(_) => {}
    }
}

fn selects_some(
    m: &Manifest,
    field: &str,
    sel: Option<&LabelSelector>,
    pods: &[Pod<'_>],
    out: &mut Vec<Finding>,
) {
    let Some(sel) = sel.and_then(|s| s.match_labels.as_ref()) else {
        return; // an empty selector selects every pod
    };
    if !pods
        .iter()
        .any(|p| matches(sel, &template_labels(p.template)))
    {
        out.push(Finding::new(
            m,
            format!("{field}.matchLabels"),
            format!("selector {sel:?} selects no rendered pods"),
        ));
    }
}

/// Whether `port` names or numbers one of `containers`' ports.
fn port_declared(port: &IntOrString, containers: &[&Container]) -> bool {
    containers
        .iter()
        .flat_map(|c| c.ports.iter().flatten())
        .any(|p| match port {
            IntOrString::Int(n) => p.container_port == *n,
            IntOrString::String(name) => p.name.as_deref() == Some(name.as_str()),
        })
}

fn service(
    m: &Manifest,
    s: &k8s_openapi::api::core::v1::Service,
    pods: &[Pod<'_>],
    out: &mut Vec<Finding>,
) {
    let Some(spec) = &s.spec else { return };
    let node_type = matches!(spec.type_.as_deref(), Some("NodePort" | "LoadBalancer"));
    let selected: Vec<&Container> = match &spec.selector {
        Some(sel) => pods
            .iter()
            .filter(|p| matches(sel, &template_labels(p.template)))
            .flat_map(|p| p.template.spec.iter().flat_map(|s| s.containers.iter()))
            .collect(),
        None => Vec::new(),
    };
    if spec.selector.is_some() && selected.is_empty() {
        out.push(Finding::new(m, "spec.selector", "selects no rendered pods"));
    }
    for (i, p) in spec.ports.iter().flatten().enumerate() {
        if let Some(np) = p.node_port {
            if !NODE_PORT_RANGE.contains(&np) {
                out.push(Finding::new(
                    m,
                    format!("spec.ports.{i}.nodePort"),
                    format!("NodePort {np} is outside 30000-32767"),
                ));
            }
            if !node_type {
                out.push(Finding::new(
                    m,
                    format!("spec.ports.{i}.nodePort"),
                    "nodePort set on a Service that is not of type NodePort",
                ));
            }
        }
        let target = p.target_port.clone().unwrap_or(IntOrString::Int(p.port));
        if !selected.is_empty() && !port_declared(&target, &selected) {
            out.push(Finding::new(
                m,
                format!("spec.ports.{i}.targetPort"),
                format!(
                    "target port {} is not a port of the selected pods",
                    show(&target)
                ),
            ));
        }
    }
}

fn show(p: &IntOrString) -> String {
    match p {
        IntOrString::Int(n) => n.to_string(),
        IntOrString::String(s) => format!("{s:?}"),
    }
}

fn probe_port(p: &Probe) -> Option<&IntOrString> {
    if let Some(h) = &p.http_get {
        return Some(&h.port);
    }
    p.tcp_socket.as_ref().map(|t| &t.port)
}

fn pod(
    m: &Manifest,
    path: &str,
    t: &PodTemplateSpec,
    config_maps: &[&str],
    out: &mut Vec<Finding>,
) {
    let Some(spec) = &t.spec else {
        out.push(Finding::new(m, path, "pod template has no spec"));
        return;
    };
    let mut volumes: Vec<&str> = spec
        .volumes
        .iter()
        .flatten()
        .map(|v| v.name.as_str())
        .collect();
    if let Object::StatefulSet(s) = &m.object {
        let claims = s
            .spec
            .iter()
            .flat_map(|s| s.volume_claim_templates.iter().flatten());
        volumes.extend(claims.filter_map(|c| c.metadata.name.as_deref()));
    }
    for (i, c) in spec.containers.iter().enumerate() {
        let at = format!("{path}.spec.containers.{i}");
        image(m, &at, c, out);
        probe_ports(m, &at, c, out);
        for p in c.ports.iter().flatten() {
            if let Some(name) = &p.name
                && !is_iana_svc_name(name)
            {
                out.push(Finding::new(
                    m,
                    format!("{at}.ports"),
                    format!(
                        "port name {name:?} is not an IANA service name (≤15 lower-case, a letter)"
                    ),
                ));
            }
        }
        for vm in c.volume_mounts.iter().flatten() {
            if !volumes.contains(&vm.name.as_str()) {
                out.push(Finding::new(
                    m,
                    format!("{at}.volumeMounts"),
                    format!("mounts volume {:?}, which the pod does not define", vm.name),
                ));
            }
        }
        for source in c.env_from.iter().flatten() {
            if let Some(cm) = &source.config_map_ref
                && !config_maps.contains(&cm.name.as_str())
            {
                out.push(Finding::new(
                    m,
                    format!("{at}.envFrom"),
                    format!("ConfigMap {:?} is not rendered", cm.name),
                ));
            }
        }
    }
}

/// Every probe's port is one of its container's ports.
fn probe_ports(m: &Manifest, at: &str, c: &Container, out: &mut Vec<Finding>) {
    let probes = [
        ("readinessProbe", &c.readiness_probe),
        ("livenessProbe", &c.liveness_probe),
        ("startupProbe", &c.startup_probe),
    ];
    for (name, probe) in probes {
        let Some(port) = probe.as_ref().and_then(probe_port) else {
            continue;
        };
        if !port_declared(port, &[c]) {
            out.push(Finding::new(
                m,
                format!("{at}.{name}"),
                format!(
                    "probe port {} is not a port of container {:?}",
                    show(port),
                    c.name
                ),
            ));
        }
    }
}

fn image(m: &Manifest, at: &str, c: &Container, out: &mut Vec<Finding>) {
    let image = c.image.as_deref().unwrap_or_default();
    if image.contains('@') {
        return; // pinned by digest
    }
    // The tag follows the last ':' after the last '/' (a registry host may carry a port).
    let last = image.rsplit('/').next().unwrap_or(image);
    match last.split_once(':') {
        None => out.push(Finding::new(
            m,
            format!("{at}.image"),
            format!("image {image:?} has no tag"),
        )),
        Some((_, "latest")) => out.push(Finding::new(
            m,
            format!("{at}.image"),
            format!("image {image:?} uses the `latest` tag"),
        )),
        Some((_, "")) => out.push(Finding::new(m, format!("{at}.image"), "empty image tag")),
        Some(_) => {}
    }
}

/// An IANA service name: at most 15 lower-case alphanumerics or '-', with a letter, no "--", not at the ends.
pub fn is_iana_svc_name(s: &str) -> bool {
    is_dns1123_label(s)
        && s.len() <= 15
        && s.chars().any(|c| c.is_ascii_lowercase())
        && !s.contains("--")
}

fn names(m: &Manifest, out: &mut Vec<Finding>) {
    let name = m.object.name();
    let label_only = matches!(m.object, Object::Service(_) | Object::Namespace(_));
    let ok = if label_only {
        is_dns1123_label(name) && name.starts_with(|c: char| c.is_ascii_lowercase())
    } else {
        is_dns1123_subdomain(name)
    };
    if !ok {
        let what = if label_only {
            "a DNS-1035 label"
        } else {
            "a DNS-1123 subdomain"
        };
        out.push(Finding::new(
            m,
            "metadata.name",
            format!("{name:?} is not {what}"),
        ));
    }
}

/// Words YAML 1.1 reads as booleans.
const YAML11_BOOLEANS: [&str; 18] = [
    "y", "Y", "yes", "Yes", "YES", "n", "N", "no", "No", "NO", "on", "On", "ON", "off", "Off",
    "OFF", "true", "false",
];

fn yaml11_booleans(m: &Manifest, path: &str, v: &serde_json::Value, out: &mut Vec<Finding>) {
    let join = |k: &str| {
        if path.is_empty() {
            k.to_owned()
        } else {
            format!("{path}.{k}")
        }
    };
    match v {
        serde_json::Value::String(s) if YAML11_BOOLEANS.contains(&s.as_str()) => {
            out.push(Finding::new(
                m,
                path,
                format!(
                    "string {s:?} would be read as a boolean by YAML 1.1 parsers such as kubectl's"
                ),
            ));
        }
        serde_json::Value::Array(items) => {
            for (i, item) in items.iter().enumerate() {
                yaml11_booleans(m, &join(&i.to_string()), item, out);
            }
        }
        serde_json::Value::Object(map) => {
            for (k, item) in map {
                yaml11_booleans(m, &join(k), item, out);
            }
        }
        _ => {}
    }
}
