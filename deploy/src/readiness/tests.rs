#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use serde_json::json;

fn from<T: serde::de::DeserializeOwned>(v: serde_json::Value) -> T {
    serde_json::from_value(v).unwrap()
}

fn deploy(generation: i64, status: serde_json::Value) -> Deployment {
    from(json!({
        "metadata": {"name": "web", "generation": generation},
        "spec": {"replicas": 2, "selector": {}, "template": {}},
        "status": status
    }))
}

#[test]
fn deployment_states() {
    let ready = deploy(
        3,
        json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
    );
    assert_eq!(deployment(&ready), Readiness::Ready);
    let stale = deploy(
        4,
        json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 2, "availableReplicas": 2}),
    );
    assert!(matches!(deployment(&stale), Readiness::InProgress(m) if m.contains("generation 4")));
    let rolling = deploy(
        3,
        json!({"observedGeneration": 3, "replicas": 3, "updatedReplicas": 2, "availableReplicas": 2}),
    );
    assert!(matches!(deployment(&rolling), Readiness::InProgress(m) if m.contains("old replicas")));
    let stuck = deploy(
        3,
        json!({"observedGeneration": 3, "replicas": 2, "updatedReplicas": 1,
        "conditions": [{"type": "Progressing", "status": "False", "reason": "ProgressDeadlineExceeded",
                        "message": "ReplicaSet \"web-1\" has timed out progressing."}]}),
    );
    assert!(
        matches!(deployment(&stuck), Readiness::Failed(m) if m.starts_with("ProgressDeadlineExceeded"))
    );
}

#[test]
fn stateful_set_waits_for_revision() {
    let s: StatefulSet = from(json!({
        "metadata": {"name": "postgres", "generation": 1},
        "spec": {"replicas": 1, "selector": {}, "template": {}, "serviceName": "postgres"},
        "status": {"observedGeneration": 1, "replicas": 1, "readyReplicas": 1, "updatedReplicas": 1,
                   "currentRevision": "postgres-a", "updateRevision": "postgres-b"}
    }));
    assert!(matches!(stateful_set(&s), Readiness::InProgress(_)));
}

#[test]
fn job_complete_and_failed() {
    let done: Job = from(
        json!({"metadata": {"name": "m"}, "status": {"conditions": [{"type": "Complete", "status": "True"}]}}),
    );
    assert_eq!(job(&done), Readiness::Ready);
    let failed: Job = from(json!({"metadata": {"name": "m"}, "status": {"conditions": [
        {"type": "Failed", "status": "True", "reason": "BackoffLimitExceeded", "message": "Job has reached the specified backoff limit"}]}}));
    assert!(matches!(job(&failed), Readiness::Failed(m) if m.starts_with("BackoffLimitExceeded")));
}

#[test]
fn crash_looping_containers_are_named() {
    let pod: Pod = from(json!({
        "metadata": {"name": "web-7d9-abc"},
        "status": {"containerStatuses": [{
            "name": "web", "image": "trinity/web:1", "imageID": "", "ready": false, "restartCount": 5,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 5m0s restarting failed container"}}
        }]}
    }));
    assert_eq!(
        stuck_containers(&[pod]),
        ["web-7d9-abc/web: CrashLoopBackOff: back-off 5m0s restarting failed container"]
    );
}
