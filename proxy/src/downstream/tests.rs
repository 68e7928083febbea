#![allow(clippy::unwrap_used, reason = "tests")]

use super::*;
use pingora::protocols::l4::listener::Listener;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

/// A `Downstream` over a real loopback connection, and the peer's end.
async fn pair(capacity: usize) -> (Downstream, TcpStream) {
    let tcp = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = tcp.local_addr().unwrap();
    let listener = Listener::from(tcp);
    let (accepted, peer) = tokio::join!(listener.accept(), TcpStream::connect(addr));
    (Downstream::new(accepted.unwrap(), capacity), peer.unwrap())
}

#[tokio::test]
async fn small_writes_wait_for_flush_then_arrive_in_order() {
    let (mut down, mut peer) = pair(64).await;
    down.write_all(b"HTTP/1.1 200 OK\r\n\r\n").await.unwrap();
    down.write_all(b"hello").await.unwrap();
    let mut probe = [0u8; 1];
    assert!(
        tokio::time::timeout(Duration::from_millis(50), peer.read(&mut probe))
            .await
            .is_err(),
        "nothing is sent before a flush"
    );
    down.flush().await.unwrap();
    let mut got = vec![0u8; 24];
    peer.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"HTTP/1.1 200 OK\r\n\r\nhello");
}

#[tokio::test]
async fn large_writes_go_out_with_the_buffered_head_and_nothing_is_lost() {
    let (mut down, mut peer) = pair(1460).await;
    let body: Vec<u8> = (0..4 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let expected = [b"head\r\n".as_slice(), &body].concat();
    let reader = tokio::spawn(async move {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).await.unwrap();
        got
    });
    down.write_all(b"head\r\n").await.unwrap();
    // Many partial writes under a full socket buffer exercise every branch of poll_write.
    for chunk in body.chunks(70_000) {
        down.write_all(chunk).await.unwrap();
    }
    AsyncWriteExt::shutdown(&mut down).await.unwrap();
    drop(down);
    assert!(reader.await.unwrap() == expected, "bytes lost or reordered");
}

#[tokio::test]
async fn zero_capacity_writes_straight_through() {
    let (mut down, mut peer) = pair(0).await;
    down.write_all(b"now").await.unwrap();
    let mut got = [0u8; 3];
    peer.read_exact(&mut got).await.unwrap();
    assert_eq!(&got, b"now");
}
