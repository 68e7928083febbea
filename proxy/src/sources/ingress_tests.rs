//! Ingress objects → routes, and requests → the Service they reach, through a real `RouteTable`.

#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use crate::config::{Config, Discovery};
use crate::metrics::Metrics;
use crate::routing::RouteTable;
use serde_json::{Value, json};

fn ingress(namespace: &str, name: &str, created: &str, spec: Value) -> Ingress {
    serde_json::from_value(json!({
        "metadata": { "namespace": namespace, "name": name, "creationTimestamp": created },
        "spec": spec,
    }))
    .unwrap()
}

fn class(name: &str, controller: &str, default: bool) -> IngressClass {
    let annotations = json!({ DEFAULT_CLASS_ANNOTATION: default.to_string() });
    serde_json::from_value(json!({
        "metadata": { "name": name, "annotations": annotations },
        "spec": { "controller": controller },
    }))
    .unwrap()
}

fn ours() -> Vec<IngressClass> {
    vec![class("trinity", CONTROLLER, false)]
}

fn backend(service: &str) -> Value {
    json!({ "service": { "name": service, "port": { "number": 80 } } })
}

/// One Ingress with `paths` (`(pathType, path)`, to services `svc0`, `svc1`, …) and a
/// defaultBackend `default`.
fn paths_ingress(paths: &[(&str, &str)]) -> Ingress {
    let paths: Vec<Value> = paths
        .iter()
        .enumerate()
        .map(|(i, (t, p))| json!({ "pathType": t, "path": p, "backend": backend(&format!("svc{i}")) }))
        .collect();
    ingress(
        "default",
        "web",
        "2026-01-01T00:00:00Z",
        json!({
            "ingressClassName": "trinity",
            "defaultBackend": backend("default"),
            "rules": [{ "http": { "paths": paths } }],
        }),
    )
}

/// The table the translation builds, behind a config file with no routes of its own.
fn table(t: &Translation) -> RouteTable {
    let text = "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nroutes:\n  - { name: unused, path: /unused, host: unused.invalid, upstream: u }\nupstreams:\n  u: { endpoints: [\"127.0.0.1:1\"] }\n";
    let mut config = Config::parse(text, "t.yaml").unwrap();
    config.routes = t.routes.iter().map(|s| s.route.clone()).collect();
    config.upstreams = t.upstreams.clone();
    RouteTable::build(&config, &Metrics::new().unwrap())
}

/// The Service (without namespace and port) `host` and `path` reach, or `-`.
fn reaches(table: &RouteTable, host: Option<&str>, path: &str) -> String {
    table.find(host, path).map_or("-".into(), |i| {
        let pool = &table.route(i).pool.name;
        pool.split(['/', ':']).nth(1).unwrap().to_owned()
    })
}

/// An Ingress's paths: `(pathType, path)`.
type Paths<'a> = &'a [(&'a str, &'a str)];

/// The path matching examples of the Kubernetes Ingress documentation, row by row.
#[test]
fn the_kubernetes_docs_path_matching_examples() {
    let (p, e) = ("Prefix", "Exact");
    let root_aaa_bbb: &[(&str, &str)] = &[(p, "/"), (p, "/aaa"), (p, "/aaa/bbb")];
    let rows: &[(Paths, &[&str], &str)] = &[
        (&[(p, "/")], &["/", "/x", "/x/y/"], "svc0"),
        (&[(e, "/foo")], &["/foo"], "svc0"),
        (&[(e, "/foo")], &["/bar"], "default"),
        (&[(e, "/foo")], &["/foo/"], "default"),
        (&[(e, "/foo/")], &["/foo"], "default"),
        (&[(p, "/foo")], &["/foo", "/foo/"], "svc0"),
        (&[(p, "/foo/")], &["/foo", "/foo/"], "svc0"),
        (&[(p, "/aaa/bb")], &["/aaa/bbb"], "default"),
        (&[(p, "/aaa/bbb")], &["/aaa/bbb"], "svc0"),
        (&[(p, "/aaa/bbb/")], &["/aaa/bbb"], "svc0"),
        (&[(p, "/aaa/bbb")], &["/aaa/bbb/"], "svc0"),
        (&[(p, "/aaa/bbb")], &["/aaa/bbb/ccc"], "svc0"),
        (&[(p, "/aaa/bbb")], &["/aaa/bbbxyz"], "default"),
        (&[(p, "/"), (p, "/aaa")], &["/aaa/ccc"], "svc1"),
        (root_aaa_bbb, &["/aaa/bbb"], "svc2"),
        (root_aaa_bbb, &["/ccc"], "svc0"),
        (&[(p, "/aaa")], &["/ccc"], "default"),
        (&[(p, "/foo"), (e, "/foo")], &["/foo"], "svc1"),
        (&[("ImplementationSpecific", "/aaa")], &["/aaa/x"], "svc0"),
    ];
    for (paths, requests, want) in rows {
        let t = translate(&[paths_ingress(paths)], &ours(), "trinity");
        let table = table(&t);
        for request in *requests {
            assert_eq!(reaches(&table, None, request), *want, "{paths:?} {request}");
        }
    }
}

#[test]
fn which_ingresses_are_ours() {
    // Each on a path of its own (the same host and path would be a conflict).
    let make = |name: &str, class: Option<&str>| {
        let mut spec = json!({ "rules": [{ "http": { "paths": [
            { "pathType": "Prefix", "path": format!("/{name}"), "backend": backend("app") }
        ] } }] });
        if let Some(c) = class {
            spec["ingressClassName"] = json!(c);
        }
        ingress("a", name, "2026-01-01T00:00:00Z", spec)
    };
    let named = make("named", Some("trinity"));
    let other = make("other", Some("nginx"));
    let classless = make("classless", None);
    let mut legacy = make("legacy", None);
    legacy.metadata.annotations = Some([(CLASS_ANNOTATION.into(), "trinity".into())].into());
    let all = [named, other, classless, legacy];
    let served = |classes: &[IngressClass]| {
        let t = translate(&all, classes, "trinity");
        let mut names: Vec<String> = t.routes.iter().map(|s| s.route.name.clone()).collect();
        names.sort();
        (names, t.problems)
    };
    let (names, problems) = served(&ours());
    assert_eq!(names, ["ingress:a/legacy:1", "ingress:a/named:1"]);
    assert!(problems.is_empty(), "{problems:?}");
    let (names, _) = served(&[class("trinity", CONTROLLER, true)]);
    assert_eq!(
        names,
        [
            "ingress:a/classless:1",
            "ingress:a/legacy:1",
            "ingress:a/named:1"
        ]
    );
    // Our class name, someone else's controller: only the legacy annotation is served, and the
    // Ingress that names the class is told why it is not.
    let (names, problems) = served(&[class("trinity", "example.com/other", true)]);
    assert_eq!(names, ["ingress:a/legacy:1"]);
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].object.to_string(), "Ingress a/named");
    assert!(
        problems[0].message.contains(CONTROLLER),
        "{}",
        problems[0].message
    );
}

#[test]
fn the_oldest_ingress_keeps_a_host_and_path() {
    let spec = |service: &str| {
        json!({ "ingressClassName": "trinity", "rules": [{ "host": "shop.example.com", "http": { "paths": [
            { "pathType": "Prefix", "path": "/api", "backend": backend(service) }
        ] } }] })
    };
    let young = ingress("a", "young", "2026-03-01T00:00:00Z", spec("young"));
    let old = ingress("z", "old", "2026-01-01T00:00:00Z", spec("old"));
    let twin = ingress("b", "twin", "2026-01-01T00:00:00Z", spec("twin"));
    let t = translate(&[young, old, twin], &ours(), "trinity");
    assert_eq!(
        reaches(&table(&t), Some("shop.example.com"), "/api/x"),
        "twin",
        "ties by namespace"
    );
    let mut losers: Vec<String> = t.problems.iter().map(|p| p.object.to_string()).collect();
    losers.sort();
    assert_eq!(losers, ["Ingress a/young", "Ingress z/old"]);
    assert!(
        t.problems[0]
            .message
            .contains("already routed by Ingress b/twin"),
        "{:?}",
        t.problems
    );
}

#[test]
fn backends_become_shared_service_pools() {
    let by_name = json!({ "service": { "name": "api", "port": { "name": "http" } } });
    let spec = json!({ "ingressClassName": "trinity", "rules": [{ "http": { "paths": [
        { "pathType": "Prefix", "path": "/a", "backend": backend("web") },
        { "pathType": "Prefix", "path": "/b", "backend": backend("web") },
        { "pathType": "Prefix", "path": "/c", "backend": by_name },
        { "pathType": "Prefix", "path": "/d", "backend": { "resource": { "kind": "Bucket", "name": "x" } } },
        { "pathType": "Prefix", "path": "/e", "backend": { "service": { "name": "noport" } } },
    ] } }] });
    let t = translate(
        &[ingress("ns", "i", "2026-01-01T00:00:00Z", spec)],
        &ours(),
        "trinity",
    );
    let names: Vec<&str> = t.upstreams.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["ns/web:80", "ns/api:http"]);
    let Discovery::Kubernetes(k) = &t.upstreams[1].discovery else {
        panic!("a Service backend is discovered from its EndpointSlices");
    };
    assert_eq!(
        (k.service.as_str(), k.namespace.as_deref()),
        ("api", Some("ns"))
    );
    assert_eq!(k.port, PortRef::Name("http".into()));
    assert_eq!(t.routes.len(), 3);
    let problems: Vec<&str> = t.problems.iter().map(|p| p.message.as_str()).collect();
    assert_eq!(
        problems,
        [
            "path /d: resource backends are not supported; use a Service",
            "path /e: Service noport has no port number or name",
        ]
    );
}

#[test]
fn hosts_and_paths_that_cannot_be_served_are_problems() {
    let rule = |host: &str, t: &str, path: &str| json!({ "host": host, "http": { "paths": [{ "pathType": t, "path": path, "backend": backend("s") }] } });
    let spec = json!({ "ingressClassName": "trinity", "rules": [
        rule("Shop.Example.COM.", "Prefix", "/"),
        rule("*.Example.com", "Prefix", "/"),
        rule("a.*.com", "Prefix", "/"),
        rule("a_b.com", "Prefix", "/"),
        rule("ok.example.com", "Prefix", "/a//b"),
        rule("ok.example.com", "Regex", "/a"),
    ] });
    let t = translate(
        &[ingress("ns", "i", "2026-01-01T00:00:00Z", spec)],
        &ours(),
        "trinity",
    );
    let hosts: Vec<Option<&str>> = t.routes.iter().map(|s| s.route.host.as_deref()).collect();
    assert_eq!(hosts, [Some("shop.example.com"), Some("*.example.com")]);
    let table = table(&t);
    assert_eq!(
        reaches(&table, Some("a.example.com"), "/x"),
        "s",
        "one label under the wildcard"
    );
    assert_eq!(
        reaches(&table, Some("a.b.example.com"), "/x"),
        "-",
        "never two"
    );
    assert_eq!(t.problems.len(), 4, "{:?}", t.problems);
    for (problem, needle) in t
        .problems
        .iter()
        .zip(["a.*.com", "a_b.com", "/a//b", "Regex"])
    {
        assert!(problem.message.contains(needle), "{}", problem.message);
    }
}

#[test]
fn the_config_file_wins_a_conflict_with_an_ingress() {
    let text = "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nroutes:\n  - { name: admin, prefix: /admin, upstream: web }\n  - { name: frontend, prefix: /, host: shop.example.com, upstream: web }\nupstreams:\n  web: { endpoints: [\"127.0.0.1:1\"] }\n";
    let file = Config::parse(text, "t.yaml").unwrap();
    let ing = paths_ingress(&[("Prefix", "/admin"), ("Prefix", "/api")]);
    let (config, problems) = super::super::merge(&file, translate(&[ing], &ours(), "trinity"));
    let table = RouteTable::build(&config, &Metrics::new().unwrap());
    let pool = |path: &str| {
        let i = table.find(Some("other.example.com"), path).unwrap();
        table.route(i).pool.name.to_string()
    };
    assert_eq!(pool("/admin/login/"), "web", "the file's route");
    assert_eq!(
        pool("/api/v1"),
        "default/svc1:80",
        "the Ingress's route, its pool after the file's"
    );
    assert_eq!(
        pool("/other"),
        "default/default:80",
        "the Ingress's defaultBackend"
    );
    let messages: Vec<String> = problems
        .iter()
        .map(|p| format!("{}: {}", p.object, p.message))
        .collect();
    assert_eq!(
        messages,
        [
            r#"Ingress default/web: path /admin is routed by the config file's route "admin", which wins"#
        ]
    );
}

#[test]
fn annotations_set_every_route_of_their_ingress() {
    let mut ing = paths_ingress(&[("Prefix", "/upload"), ("Exact", "/health")]);
    ing.metadata.annotations = Some(
        [
            ("trinity.io/max-body-size".into(), "1MiB".into()),
            (
                "nginx.ingress.kubernetes.io/rewrite-target".into(),
                "/".into(),
            ),
        ]
        .into(),
    );
    let t = translate(&[ing], &ours(), "trinity");
    assert_eq!(t.routes.len(), 3, "two paths and the defaultBackend");
    assert!(
        t.routes
            .iter()
            .all(|s| s.route.policy.max_body_size == Some(1 << 20))
    );
    assert_eq!(t.problems.len(), 1);
    assert_eq!(t.problems[0].object.to_string(), "Ingress default/web");
    assert!(
        t.problems[0].message.contains("rewrite-target"),
        "{:?}",
        t.problems
    );
}
