//! A stand-in replica for the soak: small answers, body echo counts, SSE streams and a WebSocket
//! echo on one port; it can be killed (listener closed, every connection cut), restarted on the
//! same port, and made to hang (requests are held until it recovers).

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use http::{Request, Response, StatusCode, header};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;
use tokio_tungstenite::tungstenite::protocol::Role;

/// Events in one SSE stream, and the gap between them.
pub const SSE_EVENTS: usize = 20;
pub const SSE_GAP: Duration = Duration::from_millis(100);

type Body = BoxBody<Bytes, Infallible>;

pub struct Replica {
    pub addr: SocketAddr,
    /// Connections open to this replica now (the proxy's pooled ones among them).
    pub open: Arc<AtomicUsize>,
    hang: watch::Sender<bool>,
    running: tokio::sync::Mutex<Option<JoinSet<()>>>,
}

/// Counts a connection while it lives.
struct Open(Arc<AtomicUsize>);

impl Drop for Open {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Replica {
    pub async fn start() -> Arc<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let replica = Arc::new(Self {
            addr: listener.local_addr().unwrap(),
            open: Arc::default(),
            hang: watch::channel(false).0,
            running: tokio::sync::Mutex::new(None),
        });
        replica.serve(listener).await;
        replica
    }

    async fn serve(&self, listener: TcpListener) {
        let mut set = JoinSet::new();
        let (open, hang) = (self.open.clone(), self.hang.clone());
        set.spawn(async move {
            let mut conns = JoinSet::new();
            loop {
                tokio::select! {
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        open.fetch_add(1, Ordering::Relaxed);
                        let guard = Open(open.clone());
                        let hang = hang.subscribe();
                        conns.spawn(async move {
                            let _guard = guard;
                            let svc = service_fn(move |req| handle(req, hang.clone()));
                            let _ = hyper::server::conn::http1::Builder::new()
                                .timer(TokioTimer::new())
                                .serve_connection(TokioIo::new(stream), svc)
                                .with_upgrades()
                                .await;
                        });
                    }
                    Some(_) = conns.join_next(), if !conns.is_empty() => {}
                }
            }
        });
        *self.running.lock().await = Some(set);
    }

    /// Closes the listener and cuts every open connection (a crashed pod).
    pub async fn kill(&self) {
        if let Some(mut set) = self.running.lock().await.take() {
            set.shutdown().await;
        }
    }

    /// Serves again on the same port.
    pub async fn restart(&self) {
        let listener = TcpListener::bind(self.addr).await.unwrap();
        self.serve(listener).await;
    }

    /// While set, every request (health probes too) is held without an answer.
    pub fn set_hanging(&self, hanging: bool) {
        self.hang.send_replace(hanging);
    }
}

async fn handle(
    mut req: Request<Incoming>,
    mut hang: watch::Receiver<bool>,
) -> Result<Response<Body>, Infallible> {
    let _ = hang.wait_for(|h| !*h).await;
    let path = req.uri().path().to_owned();
    if path.ends_with("/ws") && req.headers().contains_key(header::UPGRADE) {
        return Ok(upgrade(&mut req).await);
    }
    if path.ends_with("/sse") {
        return Ok(sse());
    }
    if req.method() == http::Method::POST {
        let mut body = req.into_body();
        let mut bytes = 0usize;
        while let Some(frame) = body.frame().await {
            match frame {
                Ok(f) => bytes += f.data_ref().map_or(0, Bytes::len),
                Err(_) => return Ok(text(StatusCode::BAD_REQUEST, "body cut".into())),
            }
        }
        return Ok(text(StatusCode::OK, format!("{bytes}")));
    }
    Ok(text(StatusCode::OK, "ok".into()))
}

fn text(status: StatusCode, body: String) -> Response<Body> {
    let mut resp = Response::new(Full::new(Bytes::from(body)).boxed());
    *resp.status_mut() = status;
    resp
}

fn sse() -> Response<Body> {
    let events = futures_util::stream::unfold(0usize, |n| async move {
        if n == SSE_EVENTS {
            return None;
        }
        if n > 0 {
            tokio::time::sleep(SSE_GAP).await;
        }
        let frame = Frame::data(Bytes::from(format!("data: {n}\n\n")));
        Some((Ok::<_, Infallible>(frame), n + 1))
    });
    let mut resp = Response::new(BodyExt::boxed(StreamBody::new(events)));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("text/event-stream"),
    );
    resp
}

/// Answers the handshake and echoes text messages. The `101` goes out 20 ms late: see
/// `support::ws::ws_echo` (cloudflare/pingora#946).
async fn upgrade(req: &mut Request<Incoming>) -> Response<Body> {
    let Some(key) = req.headers().get("sec-websocket-key") else {
        return text(StatusCode::BAD_REQUEST, "no key".into());
    };
    let accept = derive_accept_key(key.as_bytes());
    let on_upgrade = hyper::upgrade::on(req);
    tokio::spawn(async move {
        let Ok(upgraded) = on_upgrade.await else {
            return;
        };
        let mut ws =
            WebSocketStream::from_raw_socket(TokioIo::new(upgraded), Role::Server, None).await;
        while let Some(Ok(msg)) = ws.next().await {
            if msg.is_text() && ws.send(msg).await.is_err() {
                return;
            }
        }
    });
    tokio::time::sleep(Duration::from_millis(20)).await;
    let mut resp = Response::new(Full::new(Bytes::new()).boxed());
    *resp.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let h = resp.headers_mut();
    h.insert(
        header::UPGRADE,
        header::HeaderValue::from_static("websocket"),
    );
    h.insert(
        header::CONNECTION,
        header::HeaderValue::from_static("Upgrade"),
    );
    h.insert(
        "sec-websocket-accept",
        header::HeaderValue::from_str(&accept).unwrap(),
    );
    resp
}
