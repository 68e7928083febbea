//! A WebSocket echo upstream (tokio-tungstenite).

use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::net::TcpListener;

/// Echoes text messages. It answers the handshake 20 ms late: Pingora 0.9.1 tears an upgraded
/// tunnel down when the upstream's `101` is read before the upgrade request's own empty body end
/// (cloudflare/pingora#946, fixes open in #947 and #1016), a race an in-process upstream on an
/// idle loopback can win. Real upstreams answer after a network round trip.
pub async fn ws_echo() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((s, _)) = listener.accept().await {
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let Ok(mut ws) = tokio_tungstenite::accept_async(s).await else {
                    return;
                };
                while let Some(Ok(msg)) = ws.next().await {
                    if msg.is_text() && ws.send(msg).await.is_err() {
                        return;
                    }
                }
            });
        }
    });
    addr
}
