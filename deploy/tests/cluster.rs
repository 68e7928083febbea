//! apply, diff, wait, prune, secrets and port-forward's pod choice against tower-test's mock API: create, no-op
//! re-apply, an immutable-field conflict explained without deleting anything, the databases and migration
//! waited for even without --wait, a CrashLoopBackOff rollout failing with events (old-revision pods
//! ignored), prune removing only what left the values by the ApplySet inventory.
#![allow(clippy::unwrap_used, reason = "tests")]

mod support;

use http::Method;
use serde_json::{Value, json};
use std::collections::HashSet;
use std::time::Duration;
use support::mock::{finish, list, mock, mock_with_bodies, object, status, success};
use support::shipped;
use trinity_deploy::cluster::apply::{ApplyOptions, Change, apply_all, apply_one};
use trinity_deploy::cluster::port_forward::PodChoice;
use trinity_deploy::cluster::{ClusterError, applyset, diff, prune, secrets, wait};
use trinity_deploy::object::Manifest;

/// The live object at `path` after it was applied: rolled out (StatefulSets and Deployments ready,
/// Jobs complete).
fn rolled_out(path: &str, name: &str) -> Value {
    if path.contains("/statefulsets/") || path.contains("/deployments/") {
        let kind = if path.contains("/statefulsets/") {
            "StatefulSet"
        } else {
            "Deployment"
        };
        json!({"apiVersion": "apps/v1", "kind": kind,
               "metadata": {"name": name, "namespace": "trinity", "generation": 1, "resourceVersion": "1"},
               "spec": {"replicas": 1, "selector": {}, "template": {}, "serviceName": name},
               "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1,
                          "availableReplicas": 1, "currentRevision": "r1", "updateRevision": "r1"}})
    } else if path.contains("/jobs/") {
        json!({"apiVersion": "batch/v1", "kind": "Job",
               "metadata": {"name": name, "namespace": "trinity", "resourceVersion": "1"},
               "status": {"conditions": [{"type": "Complete", "status": "True"}]}})
    } else if path.contains("/secrets/") {
        object("v1", "Secret", name, "1")
    } else {
        object("v1", "Any", name, "1")
    }
}

/// A fake API that remembers what was applied: a GET answers 404 until the object was PATCHed, then
/// the object, rolled out; label/field-selected lists are empty; POSTs (the generated Secrets) create.
fn fake_cluster() -> impl FnMut(&Method, &str) -> (u16, Value) + Send + 'static {
    let mut applied = HashSet::new();
    move |method, target| {
        let path = target.split('?').next().unwrap().to_owned();
        let name = path.rsplit('/').next().unwrap().to_owned();
        match *method {
            Method::PATCH => {
                applied.insert(path.clone());
                (200, rolled_out(&path, &name))
            }
            Method::POST => (201, object("v1", "Secret", "generated", "1")),
            Method::GET if applied.contains(&path) => (200, rolled_out(&path, &name)),
            Method::GET if target.contains("Selector=") => list("Any", vec![]),
            _ => status(404, "NotFound", "not found"),
        }
    }
}

/// Runs `apply` of the shipped values against [`fake_cluster`]: (request log, bodies, reports).
async fn apply_to_fake_cluster(wait: bool) -> (Vec<String>, Vec<(String, Vec<u8>)>, Vec<String>) {
    let (client, task, bodies) = mock_with_bodies(fake_cluster());
    let opts = ApplyOptions {
        wait,
        timeout: Duration::from_secs(5),
        poll: Duration::from_millis(1),
    };
    let mut reports = Vec::new();
    apply_all(&client, &shipped(), "trinity", opts, &mut |r| {
        reports.push(r)
    })
    .await
    .unwrap();
    let log = finish(client, task).await;
    let bodies = bodies.lock().unwrap().clone();
    (log, bodies, reports)
}

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
async fn diff_shows_new_unchanged_and_crd_less_objects() {
    let m = manifest("ConfigMap", "trinity-env");
    let (client, task) = mock(|method, _| match *method {
        Method::GET => status(404, "NotFound", "configmaps \"trinity-env\" not found"),
        _ => (200, object("v1", "ConfigMap", "trinity-env", "1")),
    });
    let d = diff::diff_one(&client, &m, "trinity").await.unwrap();
    assert_eq!(d.as_deref(), Some("+ ConfigMap/trinity-env (new)\n"));
    let log = finish(client, task).await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(
        log[1].starts_with("PATCH /api/v1/namespaces/trinity/configmaps/trinity-env?")
            && log[1].contains("dryRun=All"),
        "{log:?}"
    );

    // The live object differs from the dry-run answer only in server-owned fields.
    let (client, task) = mock(|method, _| match *method {
        Method::GET => (200, object("v1", "ConfigMap", "trinity-env", "7")),
        _ => (200, object("v1", "ConfigMap", "trinity-env", "8")),
    });
    assert_eq!(diff::diff_one(&client, &m, "trinity").await.unwrap(), None);
    finish(client, task).await;

    let v = trinity_deploy::values::parse("v", "monitoring: {enabled: true}\n").unwrap();
    let ms = trinity_deploy::render::render(&v).unwrap();
    let sm = ms
        .iter()
        .find(|m| m.object.kind() == "ServiceMonitor")
        .unwrap();
    let (client, task) = mock(|_, _| status(404, "NotFound", "the server could not find it"));
    let d = diff::diff_one(&client, sm, "trinity").await.unwrap();
    assert_eq!(
        d,
        Some(format!(
            "ServiceMonitor/{}: its CRD is not installed; apply skips it\n",
            sm.object.name()
        ))
    );
    finish(client, task).await;
}

#[tokio::test]
async fn apply_goes_stage_by_stage() {
    let (log, bodies, reports) = apply_to_fake_cluster(false).await;
    let patches: Vec<&String> = log.iter().filter(|l| l.starts_with("PATCH")).collect();
    // Every object, plus the ApplySet parent.
    assert_eq!(patches.len(), shipped().len() + 1);
    let at = |needle: &str| patches.iter().position(|l| l.contains(needle)).unwrap();
    assert_eq!(at("/namespaces/trinity?"), 0);
    assert_eq!(at("/secrets/applyset-trinity?"), 1);
    assert!(at("/configmaps/trinity-env") < at("/statefulsets/postgres"));
    assert!(at("/statefulsets/postgres") < at("/jobs/web-migrate-0-1-0"));
    assert!(at("/jobs/web-migrate-0-1-0") < at("/deployments/web?"));
    assert!(at("/deployments/web?") < at("/deployments/trinity-proxy?"));
    for r in &reports {
        assert!(
            r.ends_with(": created")
                || r.ends_with(": ready")
                || r.starts_with("Secret/applyset-trinity: "),
            "{reports:?}"
        );
    }
    // Every applied object is an ApplySet member, the StatefulSets' claims too.
    let id = applyset::id("trinity");
    let body = |line: &str| -> Value {
        let (_, b) = bodies.iter().find(|(l, _)| l == line).unwrap();
        serde_json::from_slice(b).unwrap()
    };
    let web = body("PATCH /apis/apps/v1/namespaces/trinity/deployments/web");
    assert_eq!(
        web["metadata"]["labels"][applyset::PART_OF_LABEL],
        id.as_str()
    );
    let pg = body("PATCH /apis/apps/v1/namespaces/trinity/statefulsets/postgres");
    assert_eq!(
        pg["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"][applyset::PART_OF_LABEL],
        id.as_str()
    );
}

#[tokio::test]
async fn apply_records_an_applyset_parent_before_the_members() {
    let (_, bodies, _) = apply_to_fake_cluster(false).await;
    let (_, parent) = bodies
        .iter()
        .find(|(l, _)| l == "PATCH /api/v1/namespaces/trinity/secrets/applyset-trinity")
        .unwrap();
    let parent: Value = serde_json::from_slice(parent).unwrap();
    let meta = &parent["metadata"];
    assert_eq!(
        meta["labels"][applyset::ID_LABEL],
        applyset::id("trinity").as_str()
    );
    assert_eq!(
        meta["annotations"][applyset::TOOLING_ANNOTATION],
        format!("trinity-deploy/{}", env!("CARGO_PKG_VERSION")).as_str()
    );
    let kinds = meta["annotations"][applyset::GROUP_KINDS_ANNOTATION]
        .as_str()
        .unwrap();
    assert_eq!(
        kinds,
        "ConfigMap,Deployment.apps,Job.batch,Namespace,NetworkPolicy.networking.k8s.io,\
         PodDisruptionBudget.policy,Role.rbac.authorization.k8s.io,\
         RoleBinding.rbac.authorization.k8s.io,Secret,Service,ServiceAccount,StatefulSet.apps"
    );
    // The parent itself is not a member.
    assert!(meta["labels"][applyset::PART_OF_LABEL].is_null());
}

#[tokio::test]
async fn plain_apply_still_waits_for_the_databases_and_the_migration_job() {
    let (log, _, reports) = apply_to_fake_cluster(false).await;
    let first = |line: &str| log.iter().position(|l| l.starts_with(line)).unwrap();
    let gets_after = |path: &str, from: usize| {
        log.iter()
            .enumerate()
            .filter(|(i, l)| *i > from && l.as_str() == format!("GET {path}"))
            .map(|(i, _)| i)
            .collect::<Vec<_>>()
    };
    let web_patch = first("PATCH /apis/apps/v1/namespaces/trinity/deployments/web?");
    for path in [
        "/apis/apps/v1/namespaces/trinity/statefulsets/postgres",
        "/apis/batch/v1/namespaces/trinity/jobs/web-migrate-0-1-0",
    ] {
        let patched = first(&format!("PATCH {path}?"));
        let waits = gets_after(path, patched);
        assert!(!waits.is_empty(), "no wait for {path}: {log:?}");
        assert!(waits[0] < web_patch, "{log:?}");
    }
    assert!(
        reports.contains(&"Job/web-migrate-0-1-0: ready".to_owned()),
        "{reports:?}"
    );
    assert!(
        reports.contains(&"StatefulSet/postgres: ready".to_owned()),
        "{reports:?}"
    );
    // Without --wait the later stages are not waited for.
    let web = "/apis/apps/v1/namespaces/trinity/deployments/web";
    assert!(gets_after(web, web_patch).is_empty(), "{log:?}");
    assert!(
        !reports.iter().any(|r| r == "Deployment/web: ready"),
        "{reports:?}"
    );

    let (_, _, reports) = apply_to_fake_cluster(true).await;
    assert!(
        reports.contains(&"Deployment/web: ready".to_owned()),
        "{reports:?}"
    );
}

#[tokio::test]
async fn secrets_come_right_after_the_namespace_and_no_generated_value_is_reported() {
    let (log, bodies, reports) = apply_to_fake_cluster(false).await;
    let ns = log
        .iter()
        .position(|l| l.starts_with("PATCH /api/v1/namespaces/trinity?"))
        .unwrap();
    let n = trinity_deploy::secrets::ALL.len();
    for l in &log[ns + 1..=ns + n] {
        assert!(
            l.starts_with("POST /api/v1/namespaces/trinity/secrets"),
            "{log:?}"
        );
    }
    assert!(!log[ns + n + 1].starts_with("POST"), "{log:?}");

    let mut values = Vec::new();
    for (line, body) in &bodies {
        if line != "POST /api/v1/namespaces/trinity/secrets" {
            continue;
        }
        let s: k8s_openapi::api::core::v1::Secret = serde_json::from_slice(body).unwrap();
        for (key, v) in s.data.unwrap() {
            if !matches!(key.as_str(), "username" | "root-user") {
                values.push(String::from_utf8(v.0).unwrap());
            }
        }
    }
    assert!(values.len() >= n, "{values:?}");
    for v in &values {
        assert_eq!(v.len(), 64);
        for text in reports.iter().chain(&log) {
            assert!(!text.contains(v.as_str()), "a generated value in {text:?}");
        }
        // Not in any other request either (the parent, the applied objects).
        for (line, body) in &bodies {
            if line != "POST /api/v1/namespaces/trinity/secrets" {
                assert!(
                    !String::from_utf8_lossy(body).contains(v.as_str()),
                    "{line}"
                );
            }
        }
    }
}

fn deployment_status(updated: i64, available: i64) -> serde_json::Value {
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
           "metadata": {"name": "web", "namespace": "trinity", "generation": 2},
           "spec": {"replicas": 2, "selector": {}, "template": {}},
           "status": {"observedGeneration": 2, "replicas": 2, "updatedReplicas": updated, "availableReplicas": available}})
}

/// The web Deployment as GETs during a rollout answer it: 1/2 replicas updated twice, then rolled out.
fn web_rollout() -> impl FnMut() -> (u16, Value) + Send {
    let mut calls = 0;
    move || {
        calls += 1;
        (
            200,
            if calls < 3 {
                deployment_status(1, 1)
            } else {
                deployment_status(2, 2)
            },
        )
    }
}

/// `wait::ready` with a 30 s timeout, polling every millisecond.
async fn wait_ready(client: &kube::Client, m: &Manifest) -> Result<(), ClusterError> {
    wait::ready(client, m, Duration::from_secs(30), Duration::from_millis(1)).await
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
                    json!({"metadata": {"name": "web-5f7-x1", "labels": {"pod-template-hash": "5f7"}},
                           "status": {"containerStatuses": [{
                "name": "web", "image": "trinity/web:0.1.0", "imageID": "", "ready": false, "restartCount": 4,
                "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 1m20s restarting failed container"}}}]}}),
                ],
            )
        } else if target.starts_with("/apis/apps/v1/namespaces/trinity/replicasets?") {
            list("ReplicaSet", vec![replica_set("web-5f7", 1, "5f7")])
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
    let err = wait_ready(&client, &m).await.unwrap_err();
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

fn replica_set(name: &str, revision: u32, hash: &str) -> Value {
    json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
           "metadata": {"name": name, "namespace": "trinity",
                        "labels": {"app.kubernetes.io/name": "web", "pod-template-hash": hash},
                        "annotations": {"deployment.kubernetes.io/revision": revision.to_string()},
                        "ownerReferences": [{"apiVersion": "apps/v1", "kind": "Deployment", "name": "web",
                                             "uid": "u1", "controller": true}]},
           "spec": {"selector": {}}})
}

/// A pod whose one container is crash-looping (or running), labelled with `label`.
fn pod(name: &str, label: (&str, &str), crash_looping: bool) -> Value {
    let state = if crash_looping {
        json!({"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s"}})
    } else {
        json!({"running": {}})
    };
    json!({"metadata": {"name": name, "labels": {label.0: label.1}},
           "status": {"containerStatuses": [{"name": "c", "image": "i:1", "imageID": "", "ready": !crash_looping,
                                             "restartCount": 0, "state": state}]}})
}

#[tokio::test]
async fn crash_looping_pods_of_an_old_revision_do_not_fail_a_rollout() {
    // Deployment: the newest ReplicaSet (revision 2) has hash "new"; the old pods crash-loop.
    let m = manifest("Deployment", "web");
    let mut web = web_rollout();
    let (client, task) = mock(move |_, target| {
        if target.starts_with("/apis/apps/v1/namespaces/trinity/deployments/web") {
            web()
        } else if target.starts_with("/apis/apps/v1/namespaces/trinity/replicasets?") {
            list(
                "ReplicaSet",
                vec![
                    replica_set("web-new", 2, "new"),
                    replica_set("web-old", 1, "old"),
                ],
            )
        } else if target.starts_with("/api/v1/namespaces/trinity/pods?") {
            list(
                "Pod",
                vec![
                    pod("web-old-1", ("pod-template-hash", "old"), true),
                    pod("web-new-1", ("pod-template-hash", "new"), false),
                ],
            )
        } else {
            status(404, "NotFound", target)
        }
    });
    wait_ready(&client, &m).await.unwrap();
    let log = finish(client, task).await;
    assert!(log.iter().any(|l| l.contains("/replicasets?")), "{log:?}");

    // StatefulSet: pods of controller-revision-hash != status.updateRevision are the old revision.
    let m = manifest("StatefulSet", "postgres");
    let sts = |updated: i64| {
        json!({"apiVersion": "apps/v1", "kind": "StatefulSet",
               "metadata": {"name": "postgres", "namespace": "trinity", "generation": 2},
               "spec": {"replicas": 1, "selector": {}, "template": {}, "serviceName": "postgres"},
               "status": {"observedGeneration": 2, "replicas": 1, "readyReplicas": updated, "updatedReplicas": updated,
                          "currentRevision": if updated == 1 { "postgres-2" } else { "postgres-1" },
                          "updateRevision": "postgres-2"}})
    };
    let handler = |crash_new: bool| {
        let mut calls = 0;
        move |_: &Method, target: &str| {
            if target.starts_with("/apis/apps/v1/namespaces/trinity/statefulsets/postgres") {
                calls += 1;
                (200, sts(if calls < 5 { 0 } else { 1 }))
            } else if target.starts_with("/api/v1/namespaces/trinity/pods?") {
                list(
                    "Pod",
                    vec![
                        pod(
                            "postgres-0",
                            ("controller-revision-hash", "postgres-1"),
                            true,
                        ),
                        pod(
                            "postgres-1",
                            ("controller-revision-hash", "postgres-2"),
                            crash_new,
                        ),
                    ],
                )
            } else {
                list("Event", vec![])
            }
        }
    };
    let (client, task) = mock(handler(false));
    wait_ready(&client, &m).await.unwrap();
    finish(client, task).await;

    // A crash-looping pod of the current revision still fails the wait.
    let (client, task) = mock(handler(true));
    let err = wait_ready(&client, &m).await.unwrap_err();
    assert!(
        err.to_string()
            .starts_with("StatefulSet/postgres failed: postgres-1/c: CrashLoopBackOff"),
        "{err}"
    );
    finish(client, task).await;
}

#[tokio::test]
async fn port_forward_picks_another_ready_pod_when_the_pod_list_changes() {
    let ready = |name: &str, deleting: bool| {
        let mut p = json!({"metadata": {"name": name, "labels": {"app.kubernetes.io/name": "trinity-proxy"}},
                           "status": {"conditions": [{"type": "Ready", "status": "True"}]}});
        if deleting {
            p["metadata"]["deletionTimestamp"] = json!("2026-01-01T00:00:00Z");
        }
        p
    };
    let mut calls = 0;
    let (client, task) = mock(move |_, target| {
        assert!(
            target.starts_with("/api/v1/namespaces/trinity/pods?")
                && target.contains("labelSelector=app.kubernetes.io%2Fname%3Dtrinity-proxy"),
            "{target}"
        );
        calls += 1;
        match calls {
            1 | 2 => list(
                "Pod",
                vec![
                    ready("trinity-proxy-a", false),
                    ready("trinity-proxy-b", false),
                ],
            ),
            // The pod in use is being replaced: terminating, and a new one is ready.
            3 => list(
                "Pod",
                vec![
                    ready("trinity-proxy-a", true),
                    ready("trinity-proxy-c", false),
                ],
            ),
            _ => list("Pod", vec![]),
        }
    });
    let mut choice = PodChoice::default();
    assert_eq!(
        choice.next(&client, "trinity").await.unwrap(),
        ("trinity-proxy-a".to_owned(), true)
    );
    // Still ready: the next connection stays on it.
    assert_eq!(
        choice.next(&client, "trinity").await.unwrap(),
        ("trinity-proxy-a".to_owned(), false)
    );
    assert_eq!(
        choice.next(&client, "trinity").await.unwrap(),
        ("trinity-proxy-c".to_owned(), true)
    );
    let err = choice.next(&client, "trinity").await.unwrap_err();
    assert!(
        err.to_string().contains("no ready pod to forward to"),
        "{err}"
    );
    let log = finish(client, task).await;
    assert_eq!(log.len(), 4, "{log:?}");
}

#[tokio::test]
async fn wait_returns_when_ready_and_times_out_when_not() {
    let m = manifest("Deployment", "web");
    let mut web = web_rollout();
    let (client, task) = mock(move |_, target| {
        if target.contains("/deployments/web") {
            web()
        } else {
            list("Pod", vec![])
        }
    });
    wait_ready(&client, &m).await.unwrap();
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

/// The ApplySet parent as the API returns it.
fn parent(group_kinds: &str, tooling: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Secret",
           "metadata": {"name": "applyset-trinity", "namespace": "trinity", "resourceVersion": "1",
                        "labels": {applyset::ID_LABEL: applyset::id("trinity")},
                        "annotations": {applyset::TOOLING_ANNOTATION: tooling,
                                        applyset::GROUP_KINDS_ANNOTATION: group_kinds}}})
}

/// A cluster whose ApplySet records ConfigMap, Namespace, PersistentVolumeClaim and Secret, with
/// members of those kinds; every other list (never expected) fails the test.
fn pruned_cluster() -> impl FnMut(&Method, &str) -> (u16, Value) + Send + 'static {
    move |method, target| {
        let path = target.split('?').next().unwrap();
        match *method {
            Method::DELETE => return success(),
            Method::PATCH => return (200, parent("", "trinity-deploy/0.1.0")),
            _ => {}
        }
        if path == "/api/v1/namespaces/trinity/secrets/applyset-trinity" {
            return (
                200,
                parent(
                    "ConfigMap,Namespace,PersistentVolumeClaim,Secret",
                    "trinity-deploy/0.1.0",
                ),
            );
        }
        let selector = format!(
            "labelSelector=applyset.kubernetes.io%2Fpart-of%3D{}",
            applyset::id("trinity")
        );
        assert!(target.contains(&selector), "{target}");
        match path {
            "/api/v1/namespaces/trinity/configmaps" => list(
                "ConfigMap",
                vec![
                    object("v1", "ConfigMap", "trinity-env", "1"),
                    object("v1", "ConfigMap", "old-dashboard", "1"),
                ],
            ),
            "/api/v1/namespaces/trinity/secrets" => list(
                "Secret",
                vec![object("v1", "Secret", "trinity-postgres", "1")],
            ),
            "/api/v1/namespaces/trinity/persistentvolumeclaims" => list(
                "PersistentVolumeClaim",
                vec![
                    object("v1", "PersistentVolumeClaim", "backups", "1"),
                    object("v1", "PersistentVolumeClaim", "data-postgres-0", "1"),
                ],
            ),
            _ => panic!("listed a group-kind the ApplySet does not record: {target}"),
        }
    }
}

#[tokio::test]
async fn prune_removes_only_what_left_the_values() {
    let (client, task, bodies) = mock_with_bodies(pruned_cluster());
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
        ["PersistentVolumeClaim/backups", "Secret/trinity-postgres"]
    );
    let log = finish(client, task).await;
    // Exactly the recorded group-kinds were listed (the Namespace, never pruned, is not).
    let lists: Vec<&str> = log
        .iter()
        .filter(|l| l.contains("labelSelector="))
        .map(|l| l.split('?').next().unwrap())
        .collect();
    assert_eq!(
        lists,
        [
            "GET /api/v1/namespaces/trinity/configmaps",
            "GET /api/v1/namespaces/trinity/persistentvolumeclaims",
            "GET /api/v1/namespaces/trinity/secrets",
        ]
    );
    let deletes: Vec<&String> = log.iter().filter(|l| l.starts_with("DELETE")).collect();
    assert_eq!(deletes.len(), 1, "{log:?}");
    assert!(
        deletes[0].starts_with("DELETE /api/v1/namespaces/trinity/configmaps/old-dashboard"),
        "{log:?}"
    );
    // Afterwards the parent records what the render and the kept objects still use.
    let bodies = bodies.lock().unwrap();
    let (_, body) = bodies
        .iter()
        .find(|(l, _)| l == "PATCH /api/v1/namespaces/trinity/secrets/applyset-trinity")
        .unwrap();
    let body: Value = serde_json::from_slice(body).unwrap();
    let kinds = body["metadata"]["annotations"][applyset::GROUP_KINDS_ANNOTATION]
        .as_str()
        .unwrap();
    assert!(
        kinds.contains("PersistentVolumeClaim,") && kinds.contains("Deployment.apps"),
        "{kinds}"
    );
}

#[tokio::test]
async fn prune_include_data_deletes_claims_that_left_the_values_only() {
    let (client, task) = mock(pruned_cluster());
    let plan = prune::prune(&client, "trinity", &shipped(), false, true)
        .await
        .unwrap();
    let deleted: Vec<String> = plan.delete.iter().map(ToString::to_string).collect();
    // data-postgres-0 belongs to the postgres StatefulSet, still in the values.
    assert_eq!(
        deleted,
        ["ConfigMap/old-dashboard", "PersistentVolumeClaim/backups"]
    );
    let kept: Vec<String> = plan.keep.iter().map(|(l, _)| l.to_string()).collect();
    assert_eq!(kept, ["Secret/trinity-postgres"]);
    let log = finish(client, task).await;
    assert!(
        log.iter()
            .any(|l| l
                .starts_with("DELETE /api/v1/namespaces/trinity/persistentvolumeclaims/backups")),
        "{log:?}"
    );

    // The Namespace and generated Secrets stay protected even with --include-data.
    let live = [
        prune::LiveRef {
            api_version: "v1".into(),
            kind: "Namespace".into(),
            name: "old-ns".into(),
        },
        prune::LiveRef {
            api_version: "v1".into(),
            kind: "Secret".into(),
            name: "trinity-django".into(),
        },
    ];
    let plan = prune::plan(&shipped(), &live, true);
    assert!(plan.delete.is_empty(), "{plan:?}");
    assert_eq!(plan.keep.len(), 2);
}

#[tokio::test]
async fn prune_narrows_the_recorded_group_kinds_to_what_is_still_used() {
    // CronJob.batch is recorded but has no member left and is not in the render: it is dropped.
    let (client, task, bodies) = mock_with_bodies(|method, target| {
        let path = target.split('?').next().unwrap();
        match (method.as_str(), path) {
            ("PATCH", _) => (200, parent("", "trinity-deploy/0.1.0")),
            (_, "/api/v1/namespaces/trinity/secrets/applyset-trinity") => (
                200,
                parent("ConfigMap,CronJob.batch,Secret", "trinity-deploy/0.1.0"),
            ),
            _ => list("Any", vec![]),
        }
    });
    prune::prune(&client, "trinity", &shipped(), false, false)
        .await
        .unwrap();
    let log = finish(client, task).await;
    assert!(
        log.iter()
            .any(|l| l.starts_with("GET /apis/batch/v1/namespaces/trinity/cronjobs?")),
        "{log:?}"
    );
    let bodies = bodies.lock().unwrap();
    let (_, body) = bodies
        .iter()
        .find(|(l, _)| l == "PATCH /api/v1/namespaces/trinity/secrets/applyset-trinity")
        .unwrap();
    let body: Value = serde_json::from_slice(body).unwrap();
    let kinds = body["metadata"]["annotations"][applyset::GROUP_KINDS_ANNOTATION]
        .as_str()
        .unwrap();
    assert!(!kinds.contains("CronJob"), "{kinds}");
    assert!(kinds.contains("Deployment.apps"), "{kinds}");
}

#[tokio::test]
async fn prune_dry_run_deletes_nothing() {
    let (client, task) = mock(pruned_cluster());
    let plan = prune::prune(&client, "trinity", &shipped(), true, false)
        .await
        .unwrap();
    assert_eq!(plan.delete.len(), 1);
    let log = finish(client, task).await;
    assert!(log.iter().all(|l| l.starts_with("GET")), "{log:?}");
}

#[tokio::test]
async fn prune_refuses_without_this_tools_applyset_parent() {
    let (client, task) =
        mock(|_, _| status(404, "NotFound", "secrets \"applyset-trinity\" not found"));
    let err = prune::prune(&client, "trinity", &shipped(), false, true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no ApplySet parent"), "{err}");
    let log = finish(client, task).await;
    assert_eq!(log.len(), 1, "{log:?}");

    let (client, task) = mock(|_, _| (200, parent("ConfigMap", "kubectl/v1.33")));
    let err = prune::prune(&client, "trinity", &shipped(), false, true)
        .await
        .unwrap_err();
    assert!(err.to_string().contains("not trinity-deploy"), "{err}");
    let log = finish(client, task).await;
    assert_eq!(log.len(), 1, "{log:?}");
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
    let (client, task) = mock(|_, _| success());
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

    let (client, task) = mock(|_, _| success());
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
        } else if path.contains("/pods") {
            list("Pod", vec![])
        } else {
            (200, rolled_out(path, path.rsplit('/').next().unwrap()))
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
