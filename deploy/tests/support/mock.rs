//! A mock Kubernetes API on tower-test: a handler answers each request by method and path+query, and
//! the task returns the log of requests once the client is dropped.
#![allow(clippy::unwrap_used, reason = "tests")]

use http::{Method, Request, Response};
use kube::client::Body;
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};

pub fn mock(
    handler: impl FnMut(&Method, &str) -> (u16, Value) + Send + 'static,
) -> (kube::Client, tokio::task::JoinHandle<Vec<String>>) {
    let (client, task, _) = mock_with_bodies(handler);
    (client, task)
}

/// Request line (method and path, no query) and body of every request a mock saw.
pub type Bodies = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Like [`mock`], also keeping every request's body.
pub fn mock_with_bodies(
    mut handler: impl FnMut(&Method, &str) -> (u16, Value) + Send + 'static,
) -> (kube::Client, tokio::task::JoinHandle<Vec<String>>, Bodies) {
    let bodies = Bodies::default();
    let kept = bodies.clone();
    let (svc, mut handle) = tower_test::mock::pair::<Request<Body>, Response<Body>>();
    let task = tokio::spawn(async move {
        let mut log = Vec::new();
        while let Some((req, send)) = handle.next_request().await {
            let target = req
                .uri()
                .path_and_query()
                .map(|p| p.to_string())
                .unwrap_or_default();
            let method = req.method().clone();
            let sent = req.into_body().collect_bytes().await.unwrap();
            let path = target.split('?').next().unwrap_or_default();
            kept.lock()
                .unwrap()
                .push((format!("{method} {path}"), sent.to_vec()));
            let (code, body) = handler(&method, &target);
            log.push(format!("{method} {target}"));
            let resp = Response::builder()
                .status(code)
                .header("content-type", "application/json")
                .body(Body::from(serde_json::to_vec(&body).unwrap()))
                .unwrap();
            send.send_response(resp);
        }
        log
    });
    (kube::Client::new(svc, "default"), task, bodies)
}

/// Drops the client and returns the request log.
pub async fn finish(
    client: kube::Client,
    task: tokio::task::JoinHandle<Vec<String>>,
) -> Vec<String> {
    drop(client);
    tokio::time::timeout(std::time::Duration::from_secs(5), task)
        .await
        .unwrap()
        .unwrap()
}

/// An API error body.
pub fn status(code: u16, reason: &str, message: &str) -> (u16, Value) {
    (
        code,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
               "reason": reason, "message": message, "code": code}),
    )
}

/// The body of a successful delete.
pub fn success() -> (u16, Value) {
    (
        200,
        json!({"kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Success"}),
    )
}

/// A list body.
pub fn list(kind: &str, items: Vec<Value>) -> (u16, Value) {
    (
        200,
        json!({"kind": format!("{kind}List"), "apiVersion": "v1", "metadata": {}, "items": items}),
    )
}

/// A minimal live object.
pub fn object(api_version: &str, kind: &str, name: &str, rv: &str) -> Value {
    json!({"apiVersion": api_version, "kind": kind,
           "metadata": {"name": name, "namespace": "trinity", "resourceVersion": rv}})
}
