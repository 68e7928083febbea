//! Env the renderer sets: public_url into Django and MinIO, the values `env:` map, HOME.

use super::*;

/// The env of `container` in the pod template of the `kind/name` object, as (name, literal value).
fn env_of(ms: &[crate::object::Manifest], kind: &str, name: &str) -> Vec<(String, Option<String>)> {
    let m = ms
        .iter()
        .find(|m| m.object.kind() == kind && m.object.name() == name)
        .unwrap_or_else(|| panic!("no {kind}/{name}"));
    let doc = serde_json::to_value(&m.object).unwrap();
    let pod = if kind == "CronJob" {
        &doc["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    } else {
        &doc["spec"]["template"]["spec"]
    };
    pod["containers"][0]["env"]
        .as_array()
        .map(|vars| {
            vars.iter()
                .map(|e| {
                    (
                        e["name"].as_str().unwrap().to_owned(),
                        e["value"].as_str().map(str::to_owned),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

fn literal(vars: &[(String, Option<String>)], name: &str) -> Option<String> {
    vars.iter()
        .find(|(n, _)| n == name)
        .and_then(|(_, v)| v.clone())
}

#[test]
fn public_url_feeds_django_and_the_minio_console() {
    let v = parse(
        "x",
        "public_url: https://trinity.example.com\napps: {probe_host: probe.local}\n",
    )
    .unwrap();
    let ms = render(&v).unwrap();
    let migrate = migration_name(&v.web.tag);
    for (kind, name) in [
        ("Deployment", "web"),
        ("Deployment", "celery"),
        ("Job", migrate.as_str()),
    ] {
        let vars = env_of(&ms, kind, name);
        assert_eq!(
            literal(&vars, "DJANGO_ALLOWED_HOSTS").as_deref(),
            Some("trinity.example.com,probe.local"),
            "{kind}/{name}"
        );
        assert_eq!(
            literal(&vars, "DJANGO_CSRF_TRUSTED_ORIGINS").as_deref(),
            Some("https://trinity.example.com"),
            "{kind}/{name}"
        );
        assert_eq!(
            literal(&vars, "DJANGO_SECURE_PROXY_SSL_HEADER").as_deref(),
            Some("HTTP_X_FORWARDED_PROTO,https"),
            "{kind}/{name}"
        );
    }
    // Not a Django app: no Django settings.
    assert_eq!(
        literal(
            &env_of(&ms, "Deployment", "fastapi"),
            "DJANGO_ALLOWED_HOSTS"
        ),
        None
    );
    assert_eq!(
        literal(
            &env_of(&ms, "StatefulSet", "minio"),
            "MINIO_BROWSER_REDIRECT_URL"
        )
        .as_deref(),
        Some("https://trinity.example.com/minio-console")
    );
    // Defaults: the port-forward address, the probe host once.
    let ms = render(&defaults()).unwrap();
    let vars = env_of(&ms, "Deployment", "web");
    assert_eq!(
        literal(&vars, "DJANGO_ALLOWED_HOSTS").as_deref(),
        Some("localhost")
    );
    assert_eq!(
        literal(&vars, "DJANGO_CSRF_TRUSTED_ORIGINS").as_deref(),
        Some("http://localhost:8080")
    );
}

#[test]
fn component_env_adds_and_replaces_rendered_values() {
    let v = parse(
        "x",
        "components:\n  web:\n    env: {LOG_LEVEL: debug, DJANGO_ALLOWED_HOSTS: \"a.example.com,localhost\"}\n  \
         postgres:\n    env: {POSTGRES_INITDB_ARGS: \"--data-checksums\"}\n",
    )
    .unwrap();
    let ms = render(&v).unwrap();
    let web = env_of(&ms, "Deployment", "web");
    assert_eq!(literal(&web, "LOG_LEVEL").as_deref(), Some("debug"));
    assert_eq!(
        literal(&web, "DJANGO_ALLOWED_HOSTS").as_deref(),
        Some("a.example.com,localhost")
    );
    assert_eq!(
        web.iter()
            .filter(|(n, _)| n == "DJANGO_ALLOWED_HOSTS")
            .count(),
        1
    );
    // The migration runs web's image with web's settings.
    let migrate = env_of(&ms, "Job", &migration_name(&v.web.tag));
    assert_eq!(literal(&migrate, "LOG_LEVEL").as_deref(), Some("debug"));
    // Other components are untouched.
    assert_eq!(
        literal(&env_of(&ms, "Deployment", "celery"), "LOG_LEVEL"),
        None
    );
    let pg = env_of(&ms, "StatefulSet", "postgres");
    assert_eq!(
        literal(&pg, "POSTGRES_INITDB_ARGS").as_deref(),
        Some("--data-checksums")
    );
    assert!(pg.iter().any(|(n, _)| n == "POSTGRES_PASSWORD"));
    // A component without `env:` and without rendered env gets none.
    assert!(env_of(&ms, "Deployment", "frontend").is_empty());
}

#[test]
fn every_env_var_read_from_a_secret_is_listed_as_one() {
    let v = parse("x", ALL_ON).unwrap();
    let text = to_yaml(&render(&v).unwrap()).unwrap();
    let mut from_secrets = Vec::new();
    for doc in text.split("\n---\n").skip(1) {
        let doc: serde_yaml::Value = serde_yaml::from_str(doc).unwrap();
        fn walk(v: &serde_yaml::Value, out: &mut Vec<String>) {
            match v {
                serde_yaml::Value::Mapping(m) => {
                    if m.get("valueFrom")
                        .is_some_and(|f| f.get("secretKeyRef").is_some())
                    {
                        out.push(m["name"].as_str().unwrap().to_owned());
                    }
                    m.values().for_each(|x| walk(x, out));
                }
                serde_yaml::Value::Sequence(s) => s.iter().for_each(|x| walk(x, out)),
                _ => {}
            }
        }
        walk(&doc, &mut from_secrets);
    }
    assert!(from_secrets.len() > 10, "{from_secrets:?}");
    for name in &from_secrets {
        assert!(
            crate::secrets::secret_of_env(name).is_some(),
            "{name} is read from a Secret but missing from secrets::SECRET_ENV"
        );
    }
}

#[test]
fn app_containers_get_a_writable_home() {
    let ms = render(&defaults()).unwrap();
    let migrate = migration_name(&defaults().web.tag);
    for (kind, name) in [
        ("Deployment", "web"),
        ("Deployment", "fastapi"),
        ("Deployment", "trinity-ai"),
        ("Deployment", "celery"),
        ("Deployment", "flight"),
        ("Job", migrate.as_str()),
    ] {
        assert_eq!(
            literal(&env_of(&ms, kind, name), "HOME").as_deref(),
            Some("/tmp"),
            "{kind}/{name}"
        );
        let m = ms
            .iter()
            .find(|m| m.object.kind() == kind && m.object.name() == name)
            .unwrap();
        let pod = serde_json::to_value(&m.object).unwrap()["spec"]["template"]["spec"].clone();
        let mount = &pod["containers"][0]["volumeMounts"][0];
        assert_eq!(mount["mountPath"], "/tmp", "{kind}/{name}");
        let volume = pod["volumes"]
            .as_array()
            .unwrap()
            .iter()
            .find(|vol| vol["name"] == mount["name"])
            .unwrap()
            .clone();
        assert!(volume["emptyDir"].is_object(), "{kind}/{name}: {volume}");
    }
}
