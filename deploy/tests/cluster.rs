//! apply, wait, prune and secrets against tower-test's mock API: create, no-op re-apply, an immutable-field
//! conflict explained without deleting anything, a CrashLoopBackOff rollout failing with events, prune
//! removing only what left the values.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use http::Method;
use serde_json::json;
use std::time::Duration;
use support::mock::{finish, list, mock, object, status};
use support::shipped;
use trinity_deploy::cluster::apply::{ApplyOptions, Change, apply_all, apply_one};
use trinity_deploy::cluster::{ClusterError, prune, secrets, wait};
use trinity_deploy::object::Manifest;

fn manifest(kind: &str, name: &str) -> Manifest {
    shipped()
        .into_iter()
        .find(|m| m.object.kind() == kind && m.object.name() == name)
        .unwrap()
}

#[tokio::test]
async fn create_then_no_op_re_apply() {
    let m = manifest("ConfigMap", "trinity-env");
    let (client, task) = mock(|method, _| match *method {
        Method::GET => status(404, "NotFound", "configmaps \"trinity-env\" not found"),
        _ => (201, object("v1", "ConfigMap", "trinity-env", "1")),
    });
    assert_eq!(
        apply_one(&client, &m, "trinity").await.unwrap(),
        Change::Created
    );
    let log = finish(client, task).await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[1].starts_with("PATCH /api/v1/namespaces/trinity/configmaps/trinity-env?"),
        "{log:?}"
    );
    assert!(
        log[1].contains("fieldManager=trinity-deploy") && log[1].contains("force=true"),
        "{log:?}"
    );

    let (client, task) = mock(|_, _| (200, object("v1", "ConfigMap", "trinity-env", "7")));
    assert_eq!(
        apply_one(&client, &m, "trinity").await.unwrap(),
        Change::Unchanged
    );
    finish(client, task).await;
}

#[tokio::test]
async fn immutable_field_conflict_is_explained_and_nothing_is_deleted() {
    let m = manifest("Job", "web-migrate-0-1-0");
    let (client, task) = mock(|method, _| match *method {
        Method::GET => (200, object("batch/v1", "Job", "web-migrate-0-1-0", "3")),
        _ => status(
            422,
            "Invalid",
            "Job.batch \"web-migrate-0-1-0\" is invalid: spec.template: Invalid value: core.PodTemplateSpec{...}: field is immutable",
        ),
    });
    let err = apply_one(&client, &m, "trinity").await.unwrap_err();
    assert!(matches!(err, ClusterError::Immutable { .. }), "{err}");
    let text = err.to_string();
    assert!(
        text.starts_with("Job/web-migrate-0-1-0: the change touches an immutable field"),
        "{text}"
    );
    assert!(text.contains("never deletes"), "{text}");
    let log = finish(client, task).await;
    assert!(log.iter().all(|l| !l.starts_with("DELETE")), "{log:?}");
}

#[tokio::test]
async fn custom_kind_without_its_crd_is_skipped() {
    let v = trinity_deploy::values::parse("v", "monitoring: {enabled: true}\n").unwrap();
    let ms = trinity_deploy::render::render(&v).unwrap();
    let m = ms
        .iter()
        .find(|m| m.object.kind() == "ServiceMonitor")
        .unwrap();
    let (client, task) = mock(|_, _| {
        status(
            404,
            "NotFound",
            "the server could not find the requested resource",
        )
    });
    let change = apply_one(&client, m, "trinity").await.unwrap();
    assert!(
        matches!(change, Change::Skipped(ref why) if why.contains("CRD")),
        "{change:?}"
    );
    finish(client, task).await;
}

#[tokio::test]
async fn apply_goes_stage_by_stage() {
    let (client, task) = mock(|method, target| match *method {
        Method::GET => status(404, "NotFound", "not found"),
        Method::POST => (201, object("v1", "Secret", "generated", "1")),
        _ => {
            let name = target
                .split('?')
                .next()
                .unwrap()
                .rsplit('/')
                .next()
                .unwrap()
                .to_owned();
            (201, object("v1", "Any", &name, "1"))
        }
    });
    let opts = ApplyOptions {
        wait: false,
        timeout: Duration::from_secs(1),
        poll: Duration::from_millis(1),
    };
    let mut reports = Vec::new();
    apply_all(&client, &shipped(), "trinity", opts, &mut |r| {
        reports.push(r)
    })
    .await
    .unwrap();
    let log = finish(client, task).await;
    let patches: Vec<&String> = log.iter().filter(|l| l.starts_with("PATCH")).collect();
    assert_eq!(patches.len(), shipped().len());
    let at = |needle: &str| patches.iter().position(|l| l.contains(needle)).unwrap();
    assert_eq!(at("/namespaces/trinity?"), 0);
    assert!(at("/configmaps/trinity-env") < at("/statefulsets/postgres"));
    assert!(at("/statefulsets/postgres") < at("/jobs/web-migrate-0-1-0"));
    assert!(at("/jobs/web-migrate-0-1-0") < at("/deployments/web?"));
    assert!(at("/deployments/web?") < at("/deployments/trinity-proxy?"));
    assert!(
        reports.iter().all(|r| r.ends_with(": created")),
        "{reports:?}"
    );
}

fn deployment_status(updated: i64, available: i64) -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "trinity", "generation": 2},
           "spec": {"replicas": 2, "selector": {}, "template": {}},
           "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": updated, "availableReplicas": available}})
}

#[tokio::test]
async fn crash_loop_fails_the_wait_with_events() {
    let m = manifest("Deployment", "web");
    let (client, task) = mock(|_, target| {
        if target.starts_with("/apis/apps/v1/namespaces/trinity/deployments/web") {
            (200, deployment_status(0, 0))
        } else if target.starts_with("/api/v1/namespaces/trinity/pods?") {
            list(
                "Pod",
                vec![
                    json!({"metadata": {"name": "web-5f7-x1"}, "status": {"containerStatuses": [{
                "name": "web", "image": "trinity/web:0.1.0", "imageID": "", "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container"}}}]}}),
                ],
            )
        } else if target.starts_with("/api/v1/namespaces/trinity/events?") {
            list(
                "Event",
                vec![
                    json!({"metadata": {"name": "e1"}, "involvedObject": {"name": "web-5f7-x1"},
                "reason": "BackOff", "message": "Back-off restarting failed container web"}),
                ],
            )
        } else {
            status(404, "NotFound", target)
        }
    });
    let err = wait::ready(
        &client,
        &m,
        Duration::from_secs(30),
        Duration::from_millis(1),
    )
    .await
    .unwrap_err();
    let text = err.to_string();
    assert!(
        text.starts_with("Deployment/web failed: web-5f7-x1/web: CrashLoopBackOff"),
        "{text}"
    );
    assert!(
        text.contains("Pod/web-5f7-x1: BackOff: Back-off restarting failed container web"),
        "{text}"
    );
    let log = finish(client, task).await;
    assert!(
        log.iter()
            .any(|l| l.contains("labelSelector=app.kubernetes.io%2Fname%3Dweb")),
        "{log:?}"
    );
}

#[tokio::test]
async fn wait_returns_when_ready_and_times_out_when_not() {
    let m = manifest("Deployment", "web");
    let mut calls = 0;
    let (client, task) = mock(move |_, target| {
        if target.contains("/deployments/web") {
            calls += 1;
            (
                200,
                if calls < 3 {
                    deployment_status(1, 1)
                } else {
                    deployment_status(2, 2)
                },
            )
        } else {
            list("Pod", vec![])
        }
    });
    wait::ready(
        &client,
        &m,
        Duration::from_secs(30),
        Duration::from_millis(1),
    )
    .await
    .unwrap();
    finish(client, task).await;

    let (client, task) = mock(|_, target| {
        if target.contains("/deployments/web") {
            (200, deployment_status(1, 1))
        } else {
            list("Pod", vec![])
        }
    });
    let err = wait::ready(&client, &m, Duration::ZERO, Duration::from_millis(1))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("not ready after 0s: 1/2 replicas updated"),
        "{err}"
    );
    finish(client, task).await;
}

#[tokio::test]
async fn prune_removes_only_what_left_the_values() {
    let (client, task) = mock(|method, target| {
        if *method == Method::DELETE {
            return (
                200,
                json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
            );
        }
        let path = target.split('?').next().unwrap();
        assert!(
            target.contains("labelSelector=trinity.io%2Fstack%3Dtrinity"),
            "{target}"
        );
        match path.rsplit('/').next().unwrap() {
            "configmaps" => list(
                "ConfigMap",
                vec![
                    object("v1", "ConfigMap", "trinity-env", "1"),
                    object("v1", "ConfigMap", "old-dashboard", "1"),
                ],
            ),
            "secrets" => list(
                "Secret",
                vec![object("v1", "Secret", "trinity-postgres", "1")],
            ),
            "persistentvolumeclaims" => list(
                "PersistentVolumeClaim",
                vec![object("v1", "PersistentVolumeClaim", "backups", "1")],
            ),
            "servicemonitors" | "prometheusrules" => status(404, "NotFound", "no such resource"),
            _ => list("Any", vec![]),
        }
    });
    let plan = prune::prune(&client, "trinity", &shipped(), false, false)
        .await
        .unwrap();
    assert_eq!(
        plan.delete
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>(),
        ["ConfigMap/old-dashboard"]
    );
    let kept: Vec<String> = plan.keep.iter().map(|(l, _)| l.to_string()).collect();
    assert_eq!(
        kept,
        ["Secret/trinity-postgres", "PersistentVolumeClaim/backups"]
    );
    let log = finish(client, task).await;
    let deletes: Vec<&String> = log.iter().filter(|l| l.starts_with("DELETE")).collect();
    assert_eq!(deletes.len(), 1, "{log:?}");
    assert!(
        deletes[0].starts_with("DELETE /api/v1/namespaces/trinity/configmaps/old-dashboard"),
        "{log:?}"
    );
}

#[tokio::test]
async fn prune_dry_run_deletes_nothing() {
    let (client, task) = mock(|_, target| {
        if target.starts_with("/api/v1/namespaces/trinity/configmaps?") {
            list("ConfigMap", vec![object("v1", "ConfigMap", "old", "1")])
        } else {
            list("Any", vec![])
        }
    });
    let plan = prune::prune(&client, "trinity", &shipped(), true, false)
        .await
        .unwrap();
    assert_eq!(plan.delete.len(), 1);
    let log = finish(client, task).await;
    assert!(log.iter().all(|l| l.starts_with("GET")), "{log:?}");
}

#[tokio::test]
async fn secrets_init_creates_only_the_absent_ones() {
    let (client, task) = mock(|_, _| {
        (
            409,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
                     "reason": "AlreadyExists", "message": "secrets already exists", "code": 409}),
        )
    });
    let out = secrets::init(&client, "trinity").await.unwrap();
    assert!(
        out.iter()
            .all(|(_, o)| *o == secrets::Outcome::KeptExisting),
        "{out:?}"
    );
    let log = finish(client, task).await;
    assert!(
        log.iter()
            .all(|l| l.starts_with("POST /api/v1/namespaces/trinity/secrets")),
        "{log:?}"
    );
}

#[test]
fn generated_secrets_are_random_and_complete() {
    let a = secrets::generate(trinity_deploy::secrets::POSTGRES, "trinity").unwrap();
    let b = secrets::generate(trinity_deploy::secrets::POSTGRES, "trinity").unwrap();
    let (da, db) = (a.data.unwrap(), b.data.unwrap());
    assert_eq!(da["username"].0, b"trinity");
    assert_eq!(da["password"].0.len(), 64);
    assert_ne!(da["password"], db["password"]);
}

#[tokio::test]
async fn destroy_keeps_namespace_and_data_unless_purged() {
    let v = trinity_deploy::values::parse("v", "backups: {enabled: true}\n").unwrap();
    let ms = trinity_deploy::render::render(&v).unwrap();
    let ok = || {
        (
            200,
            json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
        )
    };
    let (client, task) = mock(move |_, _| ok());
    let deleted = trinity_deploy::cluster::destroy::destroy(&client, &ms, false)
        .await
        .unwrap();
    assert!(
        !deleted
            .iter()
            .any(|d| d.starts_with("Namespace/") || d.starts_with("PersistentVolumeClaim/")),
        "{deleted:?}"
    );
    // Reverse apply order: the proxy goes before the apps, the apps before the databases.
    let at = |id: &str| deleted.iter().position(|d| d == id).unwrap();
    assert!(at("Deployment/trinity-proxy") < at("Deployment/web"));
    assert!(at("Deployment/web") < at("StatefulSet/postgres"));
    finish(client, task).await;

    let (client, task) = mock(move |_, _| ok());
    let deleted = trinity_deploy::cluster::destroy::destroy(&client, &ms, true)
        .await
        .unwrap();
    assert_eq!(
        deleted.last().map(String::as_str),
        Some("Namespace/trinity")
    );
    assert!(deleted.contains(&"PersistentVolumeClaim/backups".to_owned()));
    finish(client, task).await;
}

#[tokio::test]
async fn status_reports_one_row_per_component() {
    let (client, task) = mock(|_, target| {
        let path = target.split('?').next().unwrap();
        if path.ends_with("/deployments/web") {
            (200, deployment_status(1, 1))
        } else if path.ends_with("/statefulsets/mongo") {
            status(404, "NotFound", "statefulsets.apps \"mongo\" not found")
        } else if path.contains("/deployments/") || path.contains("/statefulsets/") {
            let name = path.rsplit('/').next().unwrap();
            let kind = if path.contains("/statefulsets/") {
                "StatefulSet"
            } else {
                "Deployment"
            };
            (
                200,
                json!({"apiVersion": "apps/v1", "kind": kind,
                         "metadata": {"name": name, "namespace": "trinity", "generation": 1},
                         "spec": {"replicas": 1, "selector": {}, "template": {}, "serviceName": name},
                         "status": {"observedGeneration": 1, "replicas": 1, "updatedReplicas": 1,
                                    "availableReplicas": 1, "readyReplicas": 1}}),
            )
        } else if path.contains("/jobs/") {
            (
                200,
                json!({"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "m"},
                         "status": {"conditions": [{"type": "Complete", "status": "True"}]}}),
            )
        } else if path.contains("/pods") {
            list("Pod", vec![])
        } else {
            let name = path.rsplit('/').next().unwrap();
            (200, object("v1", "Any", name, "1"))
        }
    });
    let rows = trinity_deploy::cluster::status::status(&client, &shipped())
        .await
        .unwrap();
    let state = |c: &str| {
        rows.iter()
            .find(|r| r.component == c)
            .unwrap()
            .state
            .clone()
    };
    assert_eq!(state("postgres"), "ready");
    assert_eq!(state("migrate"), "ready");
    assert_eq!(
        state("web"),
        "Deployment/web: in progress: 1/2 replicas updated"
    );
    assert!(
        state("mongo").contains("StatefulSet/mongo missing"),
        "{rows:?}"
    );
    let table = trinity_deploy::cluster::status::table(&rows);
    assert!(table.starts_with("COMPONENT"), "{table}");
    assert_eq!(table.lines().count(), rows.len() + 1);
    finish(client, task).await;
}
