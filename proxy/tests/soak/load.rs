//! The soak's clients: paced small GETs and 64 KiB POSTs, WebSockets echoing every second, SSE
//! streams, a large upload now and then, and bursts of clients that leave mid-response. Every
//! failure a client sees is recorded with when, where and what.

use super::standin::SSE_EVENTS;
use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Method, Request, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::Frame;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Semaphore;
use tokio_tungstenite::tungstenite::Message;

/// What kind of request saw an error: decides whether the design expects it in a fault window.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Get,
    Post,
    Upload,
    Sse,
    WebSocket,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct ClientError {
    /// Seconds since the soak began.
    pub at: f64,
    pub kind: Kind,
    /// The route prefix the request went to.
    pub route: &'static str,
    pub what: String,
    /// Why the design allows it, when it does (filled in by the verdict).
    pub expected: Option<&'static str>,
}

pub struct Tally {
    pub start: Instant,
    pub requests: AtomicU64,
    pub errors: Mutex<Vec<ClientError>>,
    stop: AtomicBool,
}

impl Tally {
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            start: Instant::now(),
            requests: AtomicU64::new(0),
            errors: Mutex::default(),
            stop: AtomicBool::new(false),
        })
    }

    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    pub fn stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }

    fn running(&self) -> bool {
        !self.stop.load(Ordering::SeqCst)
    }

    fn ok(&self) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn fail(&self, kind: Kind, route: &'static str, what: String) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        let at = self.now();
        self.errors.lock().unwrap().push(ClientError {
            at,
            kind,
            route,
            what,
            expected: None,
        });
    }
}

type Body = BoxBody<Bytes, Infallible>;
pub type HttpClient = Client<HttpConnector, Body>;

pub fn client() -> HttpClient {
    // Idle connections are dropped well before the proxy's 60 s idle close (no reuse race).
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(20))
        .build_http()
}

/// `(route prefix, path under it)` of the small GETs, one per Trinity route.
const GETS: &[(&str, &str)] = &[
    ("/admin", "/admin/login/"),
    ("/api", "/api/v1/items"),
    ("/trinityai", "/trinityai/models"),
    ("/minio-console", "/minio-console/browser"),
    ("/", "/static/app.js"),
];

/// One request; any transport error or a status other than `want` is a client-visible error.
async fn exchange(
    tally: &Tally,
    client: &HttpClient,
    kind: Kind,
    route: &'static str,
    req: Request<Body>,
    want: Option<&str>,
) {
    let what = format!("{} {}", req.method(), req.uri().path());
    let outcome = async {
        let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| format!("body: {e}"))?
            .to_bytes();
        if status != StatusCode::OK {
            return Err(format!(
                "status {status}: {}",
                String::from_utf8_lossy(&body)
            ));
        }
        match want {
            Some(w) if body != w.as_bytes() => Err(format!("wrong answer {body:?}")),
            _ => Ok(()),
        }
    };
    match outcome.await {
        Ok(()) => tally.ok(),
        Err(e) => tally.fail(kind, route, format!("{what}: {e}")),
    }
}

/// Small GETs over every route and 64 KiB POSTs to the API and Trinity AI, at `per_second`
/// (one POST in ten), each on its own task.
pub async fn paced(tally: Arc<Tally>, client: HttpClient, proxy: SocketAddr, per_second: u32) {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / per_second);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let in_flight = Arc::new(Semaphore::new(256));
    let payload = Bytes::from(vec![b'p'; 64 * 1024]);
    let mut n = 0usize;
    while tally.running() {
        tick.tick().await;
        n += 1;
        let Ok(permit) = in_flight.clone().acquire_owned().await else {
            return;
        };
        let (tally, client, payload) = (tally.clone(), client.clone(), payload.clone());
        tokio::spawn(async move {
            let _permit = permit;
            if n.is_multiple_of(10) {
                let (route, path) = if n.is_multiple_of(20) {
                    ("/api", "/api/upload")
                } else {
                    ("/trinityai", "/trinityai/generate")
                };
                let req = Request::post(format!("http://{proxy}{path}"))
                    .body(Full::new(payload).boxed())
                    .unwrap();
                exchange(&tally, &client, Kind::Post, route, req, Some("65536")).await;
            } else {
                let (route, path) = GETS[n % GETS.len()];
                let req = Request::get(format!("http://{proxy}{path}"))
                    .body(Full::new(Bytes::new()).boxed())
                    .unwrap();
                exchange(&tally, &client, Kind::Get, route, req, Some("ok")).await;
            }
        });
    }
}

/// A streamed upload of `mib` MiB to the API, answered with its byte count.
pub async fn upload(tally: &Tally, client: &HttpClient, proxy: SocketAddr, mib: usize) {
    let chunk = Bytes::from(vec![b'u'; 1 << 20]);
    let chunks = futures_util::stream::iter(
        (0..mib).map(move |_| Ok::<_, Infallible>(Frame::data(chunk.clone()))),
    );
    let req = Request::builder()
        .method(Method::POST)
        .uri(format!("http://{proxy}/api/upload"))
        .header("content-length", (mib << 20).to_string())
        .body(BodyExt::boxed(StreamBody::new(chunks)))
        .unwrap();
    exchange(
        tally,
        client,
        Kind::Upload,
        "/api",
        req,
        Some(&(mib << 20).to_string()),
    )
    .await;
}

/// SSE streams one after another: each must deliver every event.
pub async fn sse_loop(tally: Arc<Tally>, client: HttpClient, proxy: SocketAddr) {
    while tally.running() {
        let req = Request::get(format!("http://{proxy}/trinityai/events/sse"))
            .body(Full::new(Bytes::new()).boxed())
            .unwrap();
        let outcome = async {
            let resp = client.request(req).await.map_err(|e| format!("{e:?}"))?;
            if resp.status() != StatusCode::OK {
                return Err(format!("status {}", resp.status()));
            }
            let body = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| format!("cut: {e}"))?;
            let events = body
                .to_bytes()
                .windows(6)
                .filter(|w| w == b"data: ")
                .count();
            if events == SSE_EVENTS {
                Ok(())
            } else {
                Err(format!("{events} of {SSE_EVENTS} events"))
            }
        };
        match outcome.await {
            Ok(()) => tally.ok(),
            Err(e) => tally.fail(
                Kind::Sse,
                "/trinityai",
                format!("GET /trinityai/events/sse: {e}"),
            ),
        }
    }
}

/// A WebSocket that sends a message every second and awaits its echo; reconnects when cut.
pub async fn websocket_loop(tally: Arc<Tally>, proxy: SocketAddr, route: &'static str) {
    let url = format!("ws://{proxy}{}/ws", route.trim_end_matches('/'));
    while tally.running() {
        let mut ws = match tokio_tungstenite::connect_async(url.as_str()).await {
            Ok((ws, _)) => ws,
            Err(e) => {
                tally.fail(Kind::WebSocket, route, format!("handshake: {e}"));
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let mut n = 0u64;
        while tally.running() {
            n += 1;
            let msg = format!("ping {n}");
            let echoed = async {
                ws.send(Message::text(msg.clone()))
                    .await
                    .map_err(|e| format!("send: {e}"))?;
                match tokio::time::timeout(Duration::from_secs(5), ws.next()).await {
                    Ok(Some(Ok(m))) if m.to_text().is_ok_and(|t| t == msg) => Ok(()),
                    Ok(other) => Err(format!("echo: {other:?}")),
                    Err(_) => Err("no echo within 5 s".to_owned()),
                }
            };
            if let Err(e) = echoed.await {
                tally.fail(Kind::WebSocket, route, format!("message {n}: {e}"));
                break;
            }
            tally.ok();
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }
}

/// `n` clients that ask for a stream or start an upload and leave mid-way.
pub async fn leavers(proxy: SocketAddr, n: usize) {
    let mut set = tokio::task::JoinSet::new();
    for i in 0..n {
        set.spawn(async move {
            let Ok(mut s) = TcpStream::connect(proxy).await else {
                return;
            };
            let head = if i % 2 == 0 {
                "GET /trinityai/events/sse HTTP/1.1\r\nHost: soak\r\n\r\n".to_owned()
            } else {
                "POST /api/upload HTTP/1.1\r\nHost: soak\r\nContent-Length: 1000000\r\n\r\n"
                    .to_owned()
                    + &"x".repeat(4096)
            };
            let _ = s.write_all(head.as_bytes()).await;
            if i % 2 == 0 {
                let mut buf = [0u8; 256];
                let _ = tokio::time::timeout(Duration::from_secs(3), s.read(&mut buf)).await;
            }
        });
    }
    while set.join_next().await.is_some() {}
}
