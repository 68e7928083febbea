//! Test harness: the proxy on 127.0.0.1:0 in-process, real upstream servers, real clients.
#![allow(
    dead_code,
    reason = "each test binary uses a different part of the harness"
)]
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "test harness")]

pub mod browser;
pub mod dns;
pub mod h2;
pub mod k8s;
pub mod process;
pub mod ws;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Mutex;
use tokio::task::{JoinHandle, JoinSet};
use trinity_proxy::config::Config;
use trinity_proxy::server::Server;

/// The proxy under test.
pub struct TestProxy {
    pub server: Server,
}

impl TestProxy {
    /// Starts the proxy from YAML; `listeners` and `admin` are forced to 127.0.0.1:0.
    pub async fn start(yaml: &str) -> Self {
        let mut config =
            Config::parse(yaml, "test.yaml").unwrap_or_else(|e| panic!("test config: {e}"));
        config.listeners = vec!["127.0.0.1:0".parse().unwrap()];
        config.admin = "127.0.0.1:0".parse().unwrap();
        config.threads = 2;
        let server = Server::start(&config).await.unwrap();
        Self { server }
    }

    pub fn addr(&self) -> SocketAddr {
        self.server.listen_addrs[0]
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr(), path)
    }

    pub fn admin_url(&self, path: &str) -> String {
        format!("http://{}{}", self.server.admin_addr, path)
    }
}

pub type Handler = Arc<
    dyn Fn(Request<Bytes>) -> Pin<Box<dyn Future<Output = Response<Full<Bytes>>> + Send>>
        + Send
        + Sync,
>;

/// A real HTTP/1.1 upstream server that can be killed (listener closed, open connections cut).
pub struct Upstream {
    pub addr: SocketAddr,
    pub hits: Arc<AtomicUsize>,
    accept: Mutex<Option<JoinHandle<()>>>,
    conns: Arc<Mutex<JoinSet<()>>>,
}

impl Upstream {
    pub async fn spawn(handler: Handler) -> Self {
        Self::spawn_on(TcpListener::bind("127.0.0.1:0").await.unwrap(), handler)
    }

    /// Serves on an already bound listener (to restart on a known port).
    pub fn spawn_on(listener: TcpListener, handler: Handler) -> Self {
        let addr = listener.local_addr().unwrap();
        let hits = Arc::new(AtomicUsize::new(0));
        let conns: Arc<Mutex<JoinSet<()>>> = Arc::default();
        let (h, c) = (hits.clone(), conns.clone());
        let accept = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let handler = handler.clone();
                let hits = h.clone();
                c.lock().await.spawn(async move {
                    let svc = service_fn(move |req: Request<Incoming>| {
                        let handler = handler.clone();
                        let hits = hits.clone();
                        async move {
                            hits.fetch_add(1, Ordering::SeqCst);
                            let (parts, body) = req.into_parts();
                            let body = body
                                .collect()
                                .await
                                .map(|b| b.to_bytes())
                                .unwrap_or_default();
                            Ok::<_, Infallible>(handler(Request::from_parts(parts, body)).await)
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        Self {
            addr,
            hits,
            accept: Mutex::new(Some(accept)),
            conns,
        }
    }

    /// An upstream answering JSON that echoes what it received (the demo stand-in's answer).
    pub async fn echo(name: &'static str) -> Self {
        Self::spawn(echo_handler(name)).await
    }

    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Closes the listener and cuts every open connection, like a crashed process.
    pub async fn kill(&self) {
        if let Some(accept) = self.accept.lock().await.take() {
            accept.abort();
            let _ = accept.await; // the listener is closed once the task is gone
        }
        self.conns.lock().await.shutdown().await;
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        if let Some(accept) = self.accept.get_mut().take() {
            accept.abort();
        }
    }
}

pub fn echo_handler(name: &'static str) -> Handler {
    Arc::new(move |req: Request<Bytes>| {
        Box::pin(async move {
            let headers: serde_json::Map<String, serde_json::Value> = req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.to_str().unwrap_or("").into()))
                .collect();
            let body = serde_json::json!({
                "upstream": name,
                "method": req.method().as_str(),
                "path": req.uri().path(),
                "query": req.uri().query(),
                "body_bytes": req.body().len(),
                "headers": headers,
            });
            Response::new(Full::new(Bytes::from(body.to_string())))
        })
    })
}

/// A handler answering `status` with `headers` and an empty body.
pub fn fixed(status: u16, headers: &'static [(&'static str, &'static str)]) -> Handler {
    Arc::new(move |_req| {
        Box::pin(async move {
            let mut resp = Response::new(Full::new(Bytes::new()));
            *resp.status_mut() = StatusCode::from_u16(status).unwrap();
            for (k, v) in headers {
                resp.headers_mut().insert(*k, v.parse().unwrap());
            }
            resp
        })
    })
}

/// An address where nothing listens (bound, then closed): connecting is refused.
pub async fn dead_addr() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    l.local_addr().unwrap()
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&self.body)))
    }

    pub fn body_text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// A keep-alive HTTP/1.1 client.
#[derive(Clone)]
pub struct HttpClient(Client<HttpConnector, Full<Bytes>>);

impl Default for HttpClient {
    fn default() -> Self {
        Self(Client::builder(TokioExecutor::new()).build_http())
    }
}

impl HttpClient {
    pub async fn get(&self, url: &str) -> Answer {
        self.send(Request::get(url).body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap()
    }

    pub async fn get_with(&self, url: &str, headers: &[(&str, &str)]) -> Answer {
        let mut b = Request::get(url);
        for (k, v) in headers {
            b = b.header(*k, *v);
        }
        self.send(b.body(Full::new(Bytes::new())).unwrap())
            .await
            .unwrap()
    }

    pub async fn send(&self, req: Request<Full<Bytes>>) -> Result<Answer, String> {
        let resp = tokio::time::timeout(Duration::from_secs(10), self.0.request(req))
            .await
            .map_err(|_| "timed out".to_owned())?
            .map_err(|e| format!("{e:?}"))?;
        let (parts, body) = resp.into_parts();
        let body = body.collect().await.map_err(|e| e.to_string())?.to_bytes();
        Ok(Answer {
            status: parts.status,
            headers: parts.headers,
            body,
        })
    }
}

/// Sends a raw request head, then `ping` once an answer head is in; returns what came back within
/// 2 s (a tunnel echoes the ping).
pub async fn try_tunnel(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut got = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        let mut buf = [0u8; 4096];
        let mut pinged = false;
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
            if !pinged && got.windows(4).any(|w| w == b"\r\n\r\n") {
                pinged = true;
                let _ = s.write_all(b"ping").await;
            }
            if got.ends_with(b"ping") {
                return;
            }
        }
    })
    .await;
    String::from_utf8_lossy(&got).into_owned()
}

/// Sends raw bytes (for request targets a URI type would refuse) and returns the whole answer.
pub async fn raw(addr: SocketAddr, request: &str) -> String {
    let mut s = TcpStream::connect(addr).await.unwrap();
    s.write_all(request.as_bytes()).await.unwrap();
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(10), s.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

impl TestProxy {
    /// The live endpoint `addr` of `upstream` (its health state, counters, change feed).
    pub fn endpoint(
        &self,
        upstream: &str,
        addr: SocketAddr,
    ) -> Arc<trinity_proxy::upstream::Endpoint> {
        let table = self.server.state.table.load();
        let pool = table
            .pools
            .iter()
            .find(|p| &*p.name == upstream)
            .expect("upstream");
        pool.members()
            .endpoints
            .iter()
            .find(|e| e.addr == addr)
            .expect("endpoint")
            .clone()
    }

    /// The value of the first metric line starting with `prefix` (0 when absent).
    pub async fn metric(&self, prefix: &str) -> f64 {
        let text = HttpClient::default()
            .get(&self.admin_url("/metrics"))
            .await
            .body;
        String::from_utf8_lossy(&text)
            .lines()
            .find(|l| l.starts_with(prefix))
            .and_then(|l| l.rsplit(' ').next())
            .map_or(0.0, |v| v.parse().unwrap())
    }
}

/// Awaits health transitions of `ep` until `pred` holds; returns how long it took.
/// Panics after `within`.
pub async fn wait_for(
    ep: &trinity_proxy::upstream::Endpoint,
    within: Duration,
    what: &str,
    pred: impl Fn(&trinity_proxy::upstream::Endpoint) -> bool,
) -> Duration {
    let started = std::time::Instant::now();
    let mut changes = ep.watch();
    let waited = tokio::time::timeout(within, async {
        while !pred(ep) {
            changes.changed().await.unwrap();
        }
    })
    .await;
    assert!(
        waited.is_ok(),
        "{} not {what} within {within:?}: {:?}",
        ep.label,
        ep.health.snapshot()
    );
    started.elapsed()
}

impl Upstream {
    /// Serves `handler` again on `addr` (a killed upstream coming back on its port).
    pub async fn restart(addr: SocketAddr, handler: Handler) -> Self {
        Self::spawn_on(TcpListener::bind(addr).await.unwrap(), handler)
    }
}

/// Accepts connections and reads requests but never answers.
pub fn hang() -> Handler {
    Arc::new(|_req| {
        Box::pin(async {
            std::future::pending::<()>().await;
            Response::new(Full::new(Bytes::new()))
        })
    })
}

/// Echoes after `delay`.
pub fn slow_echo(name: &'static str, delay: Duration) -> Handler {
    let echo = echo_handler(name);
    Arc::new(move |req| {
        let echo = echo.clone();
        Box::pin(async move {
            tokio::time::sleep(delay).await;
            echo(req).await
        })
    })
}

/// Client load: `concurrency` workers sending GETs to `url` until stopped.
pub struct Load {
    stop: Arc<std::sync::atomic::AtomicBool>,
    workers: Vec<JoinHandle<(usize, Vec<String>)>>,
}

impl Load {
    pub fn start(url: String, concurrency: usize) -> Self {
        let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let url = Arc::new(url);
        let workers = (0..concurrency)
            .map(|_| {
                let (stop, url) = (stop.clone(), url.clone());
                let client = HttpClient::default();
                tokio::spawn(async move {
                    let (mut ok, mut errors) = (0, Vec::new());
                    while !stop.load(Ordering::Relaxed) {
                        match client
                            .send(
                                Request::get(url.as_str())
                                    .body(Full::new(Bytes::new()))
                                    .unwrap(),
                            )
                            .await
                        {
                            Ok(a) if a.status == 200 => ok += 1,
                            Ok(a) => errors.push(format!(
                                "{} {}",
                                a.status,
                                String::from_utf8_lossy(&a.body)
                            )),
                            Err(e) => errors.push(e),
                        }
                    }
                    (ok, errors)
                })
            })
            .collect();
        Self { stop, workers }
    }

    /// Stops the workers; returns (successful requests, error descriptions).
    pub async fn stop(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::Relaxed);
        let (mut ok, mut errors) = (0, Vec::new());
        for w in self.workers {
            let (o, e) = w.await.unwrap();
            ok += o;
            errors.extend(e);
        }
        (ok, errors)
    }
}

/// A proxy started from a config file that it watches and reloads.
pub struct FileProxy {
    pub proxy: TestProxy,
    pub dir: tempfile::TempDir,
    pub path: std::path::PathBuf,
}

impl FileProxy {
    pub async fn start(yaml: &str) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("trinity.yaml");
        std::fs::write(&path, yaml).unwrap();
        let proxy = TestProxy::start_with_path(yaml, Some(path.clone())).await;
        Self { proxy, dir, path }
    }

    /// Replaces the file atomically (write + rename) and waits for the reload attempt it causes.
    pub async fn rewrite(&self, yaml: &str) {
        let mut events = self.proxy.server.state.reload_events();
        events.borrow_and_update();
        let tmp = self.dir.path().join(".trinity.yaml.tmp");
        std::fs::write(&tmp, yaml).unwrap();
        std::fs::rename(&tmp, &self.path).unwrap();
        tokio::time::timeout(Duration::from_secs(10), events.changed())
            .await
            .expect("no reload attempt within 10 s")
            .unwrap();
    }
}

impl TestProxy {
    pub async fn start_with_path(yaml: &str, config_path: Option<std::path::PathBuf>) -> Self {
        let mut config =
            Config::parse(yaml, "test.yaml").unwrap_or_else(|e| panic!("test config: {e}"));
        config.listeners = vec!["127.0.0.1:0".parse().unwrap()];
        config.admin = "127.0.0.1:0".parse().unwrap();
        config.threads = 2;
        let options = trinity_proxy::server::Options {
            config_path,
            ..Default::default()
        };
        let server = Server::start_with(&config, options).await.unwrap();
        Self { server }
    }
}
