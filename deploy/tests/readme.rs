//! The values file of deploy/README.md's minikube walk-through is one `validate` accepts, and it does
//! what the walk-through says (the loaded images are never pulled).
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use support::root;
use trinity_deploy::validate::{schema::Schemas, validate};
use trinity_deploy::{render, values};

#[test]
fn minikube_walkthrough_values_validate() {
    let readme = std::fs::read_to_string(root().join("deploy/README.md")).unwrap();
    let start = readme
        .find("cat > minikube.yaml <<'YAML'\n")
        .expect("the walk-through writes minikube.yaml");
    let body = &readme[start..];
    let body = &body[body.find('\n').unwrap() + 1..];
    let text = &body[..body.find("\nYAML\n").unwrap()];
    let v = values::parse("README minikube.yaml", text).unwrap();
    let manifests = render::render(&v).unwrap();
    let findings = validate(&Schemas::load().unwrap(), &manifests);
    assert!(findings.is_empty(), "{findings:?}");
    let yaml = render::to_yaml(&manifests).unwrap();
    assert!(yaml.contains("image: trinity/web:0.1.0\n        imagePullPolicy: Never\n"));
    assert_eq!(v.public_url.origin(), "http://localhost:8080");
}
