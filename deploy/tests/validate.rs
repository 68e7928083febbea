//! Every rendered object validates against the embedded Kubernetes 1.33 schema and passes the lints;
//! the lints catch a broken selector, a wrong probe port, an out-of-range NodePort, and more.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use serde_json::json;
use support::{full, shipped};
use trinity_deploy::object::{Manifest, Object};
use trinity_deploy::validate::{Finding, lints, schema::Schemas, validate};

fn findings(manifests: &[Manifest]) -> Vec<String> {
    let schemas = Schemas::load().unwrap();
    validate(&schemas, manifests)
        .iter()
        .map(Finding::to_string)
        .collect()
}

fn find<'a>(ms: &'a mut [Manifest], kind: &str, name: &str) -> &'a mut Object {
    &mut ms
        .iter_mut()
        .find(|m| m.object.kind() == kind && m.object.name() == name)
        .unwrap()
        .object
}

#[test]
fn shipped_and_full_renders_are_valid() {
    assert_eq!(findings(&shipped()), Vec::<String>::new());
    assert_eq!(findings(&full()), Vec::<String>::new());
}

#[test]
fn schema_covers_every_builtin_kind_rendered() {
    let schemas = Schemas::load().unwrap();
    for m in full() {
        let custom = matches!(m.object, Object::Custom(_));
        assert_eq!(schemas.covers(&m), !custom, "{}", m.object.kind());
    }
}

#[test]
fn schema_rejects_unknown_fields_and_wrong_types() {
    let schemas = Schemas::load().unwrap();
    let deployment = json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "x", "labelz": {}},
        "spec": {"replicas": "two", "selector": {}, "template": {}}
    });
    let problems = schemas
        .check_value("apps/v1/Deployment", &deployment)
        .unwrap();
    let fields: Vec<&str> = problems.iter().map(|(f, _)| f.as_str()).collect();
    assert!(fields.contains(&"metadata"), "{problems:?}");
    assert!(fields.contains(&"spec.replicas"), "{problems:?}");
    assert!(
        schemas
            .check_value("example.com/v1/Widget", &json!({}))
            .is_none()
    );
}

#[test]
fn lint_catches_broken_selector() {
    let mut ms = shipped();
    let Object::Deployment(d) = find(&mut ms, "Deployment", "web") else {
        unreachable!()
    };
    let sel = d
        .spec
        .as_mut()
        .unwrap()
        .selector
        .match_labels
        .as_mut()
        .unwrap();
    sel.insert("app.kubernetes.io/name".into(), "wbe".into());
    let f = findings(&ms);
    assert!(
        f.iter()
            .any(|f| f.starts_with("Deployment/web: spec.selector.matchLabels: ")),
        "{f:?}"
    );
}

#[test]
fn lint_catches_service_selecting_nothing() {
    let mut ms = shipped();
    let Object::Service(s) = find(&mut ms, "Service", "fastapi") else {
        unreachable!()
    };
    let sel = s.spec.as_mut().unwrap().selector.as_mut().unwrap();
    sel.insert("app.kubernetes.io/name".into(), "fast-api".into());
    let f = findings(&ms);
    assert!(
        f.contains(&"Service/fastapi: spec.selector: selects no rendered pods".to_owned()),
        "{f:?}"
    );
}

#[test]
fn lint_catches_wrong_probe_port() {
    let mut ms = shipped();
    let Object::Deployment(d) = find(&mut ms, "Deployment", "web") else {
        unreachable!()
    };
    let pod = d.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    let probe = pod.containers[0].readiness_probe.as_mut().unwrap();
    probe.http_get.as_mut().unwrap().port = IntOrString::Int(8080);
    let f = findings(&ms);
    assert!(
        f.contains(&"Deployment/web: spec.template.spec.containers.0.readinessProbe: probe port 8080 is not a port of container \"web\"".to_owned()),
        "{f:?}"
    );
}

#[test]
fn lint_catches_wrong_target_port() {
    let mut ms = shipped();
    let Object::Service(s) = find(&mut ms, "Service", "web") else {
        unreachable!()
    };
    s.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].target_port =
        Some(IntOrString::String("web".into()));
    let f = findings(&ms);
    assert!(
        f.iter()
            .any(|f| f.starts_with("Service/web: spec.ports.0.targetPort")),
        "{f:?}"
    );
}

#[test]
fn lint_catches_out_of_range_node_port() {
    let mut ms = full();
    let Object::Service(s) = find(&mut ms, "Service", "frontend") else {
        unreachable!()
    };
    s.spec.as_mut().unwrap().ports.as_mut().unwrap()[0].node_port = Some(8080);
    let f = findings(&ms);
    assert!(
        f.contains(
            &"Service/frontend: spec.ports.0.nodePort: NodePort 8080 is outside 30000-32767"
                .to_owned()
        ),
        "{f:?}"
    );
}

#[test]
fn out_of_range_node_port_in_values_is_caught_by_validate() {
    let v = trinity_deploy::values::parse(
        "v.yaml",
        "node_ports: {enabled: true, expose_databases: true, redis: 6379}\n",
    )
    .unwrap();
    let ms = trinity_deploy::render::render(&v).unwrap();
    let f = findings(&ms);
    assert!(
        f.iter().any(|f| f.contains("NodePort 6379 is outside")),
        "{f:?}"
    );
}

#[test]
fn lint_catches_latest_and_missing_tags_and_bad_names() {
    let v = trinity_deploy::values::parse(
        "v.yaml",
        "components:\n  web: {tag: latest}\n  redis: {image: \"registry.local:5000/redis\", tag: \"\"}\n",
    )
    .unwrap();
    let mut ms = trinity_deploy::render::render(&v).unwrap();
    find(&mut ms, "ConfigMap", "trinity-env")
        .metadata_mut()
        .name = Some("Trinity_Env".into());
    let f = findings(&ms);
    assert!(
        f.iter()
            .any(|f| f.starts_with("Deployment/web: ") && f.contains("uses the `latest` tag")),
        "{f:?}"
    );
    assert!(
        f.iter()
            .any(|f| f.starts_with("StatefulSet/redis: ") && f.contains("empty image tag")),
        "{f:?}"
    );
    assert!(
        f.iter()
            .any(|f| f.starts_with("ConfigMap/Trinity_Env: metadata.name")),
        "{f:?}"
    );
}

#[test]
fn name_rules() {
    assert!(lints::is_dns1123_subdomain("web-migrate-1-2-3"));
    assert!(lints::is_dns1123_subdomain("a.b-c"));
    assert!(!lints::is_dns1123_subdomain("Web"));
    assert!(!lints::is_dns1123_subdomain("-web"));
    assert!(lints::is_iana_svc_name("http-alt"));
    assert!(!lints::is_iana_svc_name("8080"));
    assert!(!lints::is_iana_svc_name("a-very-long-port-name"));
}

#[test]
fn lint_catches_yaml11_boolean_words() {
    let mut ms = shipped();
    let Object::StatefulSet(s) = find(&mut ms, "StatefulSet", "redis") else {
        unreachable!()
    };
    let pod = s.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    pod.containers[0].args = Some(vec!["--appendonly".into(), "yes".into()]);
    let f = findings(&ms);
    assert!(
        f.iter().any(|f| f.starts_with(
            "StatefulSet/redis: spec.template.spec.containers.0.args.1: string \"yes\""
        )),
        "{f:?}"
    );
}

#[test]
fn lint_catches_pod_security_violations() {
    let mut ms = shipped();
    let Object::Deployment(d) = find(&mut ms, "Deployment", "fastapi") else {
        unreachable!()
    };
    let pod = d.spec.as_mut().unwrap().template.spec.as_mut().unwrap();
    let sc = pod.containers[0].security_context.as_mut().unwrap();
    sc.allow_privilege_escalation = None;
    sc.capabilities.as_mut().unwrap().add = Some(vec!["NET_ADMIN".into()]);
    pod.host_network = Some(true);
    let f = findings(&ms);
    let restricted: Vec<&String> = f
        .iter()
        .filter(|f| f.starts_with("Deployment/fastapi: ") && f.contains("Pod Security restricted"))
        .collect();
    assert_eq!(restricted.len(), 3, "{f:?}");
}
