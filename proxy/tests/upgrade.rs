//! Tunnels: a real WebSocket client echoes through the proxy and the route's read timeout bounds
//! idle sockets; only a `101` to a request that asked to upgrade (`Connection: upgrade` and
//! `Upgrade`) opens a tunnel.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use support::TestProxy;
use support::ws::ws_echo;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;

/// A WebSocket through the proxy to an echo upstream, with `config` before the route (whose read
/// timeout is `read`).
async fn ws_through(
    config: &str,
    read: &str,
) -> (
    TestProxy,
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
) {
    let ws = ws_echo().await;
    let p = TestProxy::start(&format!(
        "{config}\nroutes:\n  - {{ name: ws, prefix: /ws, upstream: ws, timeouts: {{ read: {read} }} }}\nupstreams:\n  ws: {{ endpoints: [\"{ws}\"] }}\n"
    ))
    .await;
    let url = format!("ws://{}/ws/chat", p.addr());
    let (client, resp) = tokio_tungstenite::connect_async(url.as_str())
        .await
        .unwrap();
    assert_eq!(resp.status(), 101);
    (p, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_websocket_echoes_and_an_idle_one_is_closed_after_the_read_timeout() {
    let (_p, mut client) = ws_through("", "1s").await;
    for round in 0..3 {
        // Idle for half the read timeout between messages: the tunnel stays.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let text = format!("round {round}");
        client.send(Message::text(text.clone())).await.unwrap();
        assert_eq!(client.next().await.unwrap().unwrap(), Message::text(text));
    }
    // Idle past the read timeout: the proxy closes the tunnel.
    let closed = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            match client.next().await {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => return,
                Some(Ok(_)) => {}
            }
        }
    })
    .await;
    assert!(
        closed.is_ok(),
        "an idle tunnel outlived the read timeout by 9 s"
    );
}

/// Pingora reads a tunnel's client side as a request body: `timeouts.client_body` must not close a
/// WebSocket whose client is quiet for longer; the route's read timeout bounds a tunnel's silence.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_quiet_websocket_client_outlives_client_body() {
    let (_p, mut client) = ws_through("timeouts: { client_body: 1s }", "30s").await;
    // The client under test is quiet for twice `client_body`.
    tokio::time::sleep(Duration::from_secs(2)).await;
    client.send(Message::text("still here")).await.unwrap();
    assert_eq!(
        client.next().await.unwrap().unwrap(),
        Message::text("still here")
    );
}

/// An upstream that answers every request `101` and then echoes raw bytes, as a broken or
/// hostile application might.
async fn always_101() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = listener.accept().await {
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut buf = [0u8; 1024];
                while !head.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut buf).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => head.extend_from_slice(&buf[..n]),
                    }
                }
                let answer = b"HTTP/1.1 101 Switching Protocols\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n";
                if s.write_all(answer).await.is_err() {
                    return;
                }
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}

#[tokio::test]
async fn only_a_101_to_an_upgrade_request_opens_a_tunnel() {
    let p = TestProxy::start(&format!(
        "routes:\n  - {{ name: t, prefix: /, upstream: t }}\nupstreams:\n  t: {{ endpoints: [\"{}\"] }}\n",
        always_101().await
    ))
    .await;
    let asked = support::try_tunnel(
        p.addr(),
        "GET /t HTTP/1.1\r\nHost: t\r\nConnection: upgrade\r\nUpgrade: websocket\r\n\r\n",
    )
    .await;
    assert!(asked.starts_with("HTTP/1.1 101 "), "{asked}");
    assert!(asked.ends_with("ping"), "the tunnel echoes: {asked}");

    for fields in [
        "Upgrade: websocket\r\n",
        "",
        "Connection: keep-alive\r\nUpgrade: websocket\r\n",
    ] {
        let answer = support::try_tunnel(
            p.addr(),
            &format!("GET /t HTTP/1.1\r\nHost: t\r\n{fields}\r\n"),
        )
        .await;
        assert!(answer.starts_with("HTTP/1.1 502 "), "{fields:?}: {answer}");
        assert!(
            !answer.contains("ping"),
            "{fields:?}: a tunnel opened: {answer}"
        );
    }
}
