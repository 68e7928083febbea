//! A list/watch fixture of the Kubernetes API for EndpointSlices, speaking the real wire format:
//! `GET /apis/discovery.k8s.io/v1/namespaces/NS/endpointslices` lists (EndpointSliceList with a
//! resourceVersion), `?watch=true&resourceVersion=N` streams newline-delimited WatchEvents, and
//! `expire` answers open and future watches with `410 Gone` until the client lists again.
#![allow(dead_code, reason = "used by some test binaries only")]

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, StreamBody, combinators::BoxBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::broadcast;

#[derive(Default)]
struct Inner {
    rv: u64,
    /// name → slice (with metadata.resourceVersion set).
    slices: BTreeMap<String, Value>,
    /// Watches from a resourceVersion below this are answered 410 Gone.
    compacted_below: u64,
    /// Every watch event so far, replayed to watches that start behind.
    log: Vec<(u64, Value)>,
    lists: usize,
    watches: usize,
}

pub struct ApiFixture {
    pub addr: SocketAddr,
    inner: Arc<Mutex<Inner>>,
    events: broadcast::Sender<(u64, Value)>,
}

impl ApiFixture {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let inner: Arc<Mutex<Inner>> = Arc::default();
        let (events, _) = broadcast::channel(256);
        let (i, e) = (inner.clone(), events.clone());
        tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let (i, e) = (i.clone(), e.clone());
                tokio::spawn(async move {
                    let svc = service_fn(move |req| {
                        let (i, e) = (i.clone(), e.clone());
                        async move { Ok::<_, Infallible>(handle(req, &i, &e)) }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            addr,
            inner,
            events,
        }
    }

    /// A kube client for this fixture, with `namespace` as its default.
    pub fn client(&self, namespace: &str) -> kube::Client {
        let mut config = kube::Config::new(format!("http://{}", self.addr).parse().unwrap());
        config.default_namespace = namespace.to_owned();
        kube::Client::try_from(config).unwrap()
    }

    /// Creates or replaces a slice (ADDED or MODIFIED for watchers).
    pub fn apply(&self, mut slice: Value) {
        let mut g = self.inner.lock().unwrap();
        g.rv += 1;
        let name = slice["metadata"]["name"].as_str().unwrap().to_owned();
        slice["metadata"]["resourceVersion"] = json!(g.rv.to_string());
        let kind = if g.slices.contains_key(&name) {
            "MODIFIED"
        } else {
            "ADDED"
        };
        g.slices.insert(name, slice.clone());
        let event = json!({ "type": kind, "object": slice });
        let rv = g.rv;
        g.log.push((rv, event.clone()));
        let _ = self.events.send((g.rv, event));
    }

    pub fn delete(&self, name: &str) {
        let mut g = self.inner.lock().unwrap();
        g.rv += 1;
        if let Some(mut slice) = g.slices.remove(name) {
            slice["metadata"]["resourceVersion"] = json!(g.rv.to_string());
            let event = json!({ "type": "DELETED", "object": slice });
            let rv = g.rv;
            g.log.push((rv, event.clone()));
            let _ = self.events.send((g.rv, event));
        }
    }

    /// Compacts history: open watches get `410 Gone` and must list again.
    pub fn expire(&self) {
        let mut g = self.inner.lock().unwrap();
        g.rv += 1;
        g.compacted_below = g.rv;
        let _ = self.events.send((g.rv, gone()));
    }

    /// Changes the slice without telling open watches (only a new list sees it).
    pub fn apply_silently(&self, mut slice: Value) {
        let mut g = self.inner.lock().unwrap();
        g.rv += 1;
        let name = slice["metadata"]["name"].as_str().unwrap().to_owned();
        slice["metadata"]["resourceVersion"] = json!(g.rv.to_string());
        g.slices.insert(name, slice);
    }

    pub fn lists(&self) -> usize {
        self.inner.lock().unwrap().lists
    }
}

fn gone() -> Value {
    json!({ "type": "ERROR", "object": {
        "kind": "Status", "apiVersion": "v1", "metadata": {}, "status": "Failure",
        "message": "too old resource version", "reason": "Expired", "code": 410 } })
}

type Body = BoxBody<Bytes, Infallible>;

fn handle(
    req: Request<Incoming>,
    inner: &Arc<Mutex<Inner>>,
    events: &broadcast::Sender<(u64, Value)>,
) -> Response<Body> {
    let path = req.uri().path().to_owned();
    let query: BTreeMap<String, String> = req
        .uri()
        .query()
        .unwrap_or_default()
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.replace("%3D", "=").replace("%2F", "/")))
        .collect();
    let Some(ns) = path
        .strip_prefix("/apis/discovery.k8s.io/v1/namespaces/")
        .and_then(|rest| rest.strip_suffix("/endpointslices"))
        .map(str::to_owned)
    else {
        return full(
            StatusCode::NOT_FOUND,
            json!({"kind": "Status", "code": 404}),
        );
    };
    let service = query
        .get("labelSelector")
        .and_then(|s| s.strip_prefix("kubernetes.io/service-name="))
        .unwrap_or_default()
        .to_owned();
    let matches = move |slice: &Value| {
        slice["metadata"]["namespace"] == ns.as_str()
            && slice["metadata"]["labels"]["kubernetes.io/service-name"] == service.as_str()
    };
    if query.get("watch").is_some_and(|w| w == "true" || w == "1") {
        let from: u64 = query
            .get("resourceVersion")
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        let mut g = inner.lock().unwrap();
        g.watches += 1;
        // Subscribe before reading the log: nothing falls between the backlog and live events.
        let mut rx = events.subscribe();
        let compacted = from < g.compacted_below;
        let backlog: Vec<(u64, Value)> =
            g.log.iter().filter(|(rv, _)| *rv > from).cloned().collect();
        drop(g);
        let (tx, body_rx) = tokio::sync::mpsc::channel::<Result<Frame<Bytes>, Infallible>>(64);
        tokio::spawn(async move {
            let line = |v: &Value| Ok(Frame::data(Bytes::from(format!("{v}\n"))));
            if compacted {
                let _ = tx.send(line(&gone())).await;
                return;
            }
            let mut sent = from;
            for (rv, event) in backlog {
                if matches(&event["object"]) && tx.send(line(&event)).await.is_err() {
                    return;
                }
                sent = rv;
            }
            while let Ok((rv, event)) = rx.recv().await {
                let is_error = event["type"] == "ERROR";
                if !is_error && (rv <= sent || !matches(&event["object"])) {
                    continue;
                }
                // An ERROR event ends the watch, as the API server does.
                if tx.send(line(&event)).await.is_err() || is_error {
                    return;
                }
            }
        });
        let stream = futures_util::stream::unfold(body_rx, |mut rx| async move {
            rx.recv().await.map(|f| (f, rx))
        });
        let mut resp = Response::new(BodyExt::boxed(StreamBody::new(stream)));
        resp.headers_mut()
            .insert("content-type", "application/json".parse().unwrap());
        return resp;
    }
    let mut g = inner.lock().unwrap();
    g.lists += 1;
    let items: Vec<Value> = g.slices.values().filter(|s| matches(s)).cloned().collect();
    full(
        StatusCode::OK,
        json!({
            "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSliceList",
            "metadata": { "resourceVersion": g.rv.to_string() }, "items": items }),
    )
}

fn full(status: StatusCode, v: Value) -> Response<Body> {
    let mut resp = Response::new(BodyExt::boxed(Full::new(Bytes::from(v.to_string()))));
    *resp.status_mut() = status;
    resp.headers_mut()
        .insert("content-type", "application/json".parse().unwrap());
    resp
}

/// An EndpointSlice of `service` with one port named `port_name`, and `(ip, ready, serving, terminating)` endpoints.
pub fn slice(
    name: &str,
    ns: &str,
    service: &str,
    port_name: &str,
    port: u16,
    eps: &[(&str, bool, bool, bool)],
) -> Value {
    let endpoints: Vec<Value> = eps
        .iter()
        .map(|(ip, ready, serving, terminating)| {
            json!({ "addresses": [ip], "conditions": { "ready": ready, "serving": serving, "terminating": terminating } })
        })
        .collect();
    json!({
        "apiVersion": "discovery.k8s.io/v1", "kind": "EndpointSlice",
        "metadata": { "name": name, "namespace": ns, "labels": { "kubernetes.io/service-name": service } },
        "addressType": "IPv4",
        "ports": [ { "name": port_name, "port": port, "protocol": "TCP" } ],
        "endpoints": endpoints,
    })
}
