//! Thread-per-core: long-lived connections are spread over the worker threads (balanced at
//! accept time), and a connection handed from one worker to another is served like any other.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use support::Upstream;
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use trinity_proxy::config::Config;
use trinity_proxy::listen::Mode;
use trinity_proxy::server::{Options, Server};

const WORKERS: usize = 4;
const CONNECTIONS: usize = 40;

/// One request on a kept-alive connection; returns the answer's status line.
async fn request(conn: &mut BufReader<TcpStream>) -> String {
    conn.get_mut()
        .write_all(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
        .await
        .unwrap();
    let mut status = String::new();
    conn.read_line(&mut status).await.unwrap();
    let mut length = 0;
    loop {
        let mut line = String::new();
        conn.read_line(&mut line).await.unwrap();
        if line == "\r\n" {
            break;
        }
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
    }
    let mut body = vec![0; length];
    conn.read_exact(&mut body).await.unwrap();
    status
}

async fn start(up: &Upstream) -> Server {
    start_listening(up, Mode::Shared).await
}

async fn start_listening(up: &Upstream, listener: Mode) -> Server {
    let yaml = format!(
        "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nthreads: {WORKERS}\n\
         routes:\n  - {{ name: web, prefix: /, upstream: web }}\n\
         upstreams:\n  web: {{ endpoints: [\"{}\"] }}\n",
        up.addr
    );
    let options = Options {
        listener,
        ..Options::default()
    };
    Server::start_with(&Config::parse(&yaml, "test.yaml").unwrap(), options)
        .await
        .unwrap()
}

/// Listening sockets on `port` in this process's network namespace, from the kernel's table
/// (`/proc/net/tcp`: local address `0100007F:PORT`, state `0A` = LISTEN).
fn listening_sockets(port: u16) -> usize {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap();
    let local = format!("0100007F:{port:04X}");
    table
        .lines()
        .skip(1)
        .filter(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            f.get(1) == Some(&local.as_str()) && f.get(3) == Some(&"0A")
        })
        .count()
}

/// Open connections per worker, from `trinity_proxy_worker_connections`.
fn per_worker(server: &Server) -> Vec<i64> {
    let metrics = String::from_utf8(server.state.metrics.encode()).unwrap();
    (0..WORKERS)
        .map(|i| {
            let series = format!("trinity_proxy_worker_connections{{worker=\"{i}\"}} ");
            metrics
                .lines()
                .find_map(|l| l.strip_prefix(series.as_str()))
                .map_or(0, |v| v.parse().unwrap())
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_connections_is_spread_over_the_workers() {
    let up = Upstream::echo("web").await;
    let server = start(&up).await;
    // All at once: the acceptors count a connection for its worker when they pick it.
    let connects = (0..200).map(|_| TcpStream::connect(server.listen_addrs[0]));
    let mut conns: Vec<_> = futures_util::future::join_all(connects)
        .await
        .into_iter()
        .map(|c| BufReader::new(c.unwrap()))
        .collect();
    for c in &mut conns {
        assert!(request(c).await.starts_with("HTTP/1.1 200"));
    }
    let spread = per_worker(&server);
    assert_eq!(spread.iter().sum::<i64>(), 200, "{spread:?}");
    let (min, max) = (spread.iter().min().unwrap(), spread.iter().max().unwrap());
    assert!(max - min <= 4, "connections per worker: {spread:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn long_lived_connections_are_spread_over_the_workers() {
    let up = Upstream::echo("web").await;
    long_lived_connections_are_balanced(&start(&up).await).await;
}

/// `SO_REUSEPORT` (`TRINITY_LISTENER=reuse_port`): each worker listens on its own socket of the
/// same port, the kernel spreads new connections over them, and long-lived ones are still
/// balanced; the default shares one socket.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_reuse_port_each_worker_listens_on_its_own_socket() {
    let up = Upstream::echo("web").await;
    let shared = start(&up).await;
    assert_eq!(listening_sockets(shared.listen_addrs[0].port()), 1);
    let server = start_listening(&up, Mode::ReusePort).await;
    let port = server.listen_addrs[0].port();
    assert_ne!(port, 0);
    assert_eq!(listening_sockets(port), WORKERS);
    long_lived_connections_are_balanced(&server).await;
}

/// Opens [`CONNECTIONS`] one after another, as cloudflared opens its origin connections: each is
/// served (a request answered) before the next is opened, and all stay open. They must end up at
/// most 2 apart between the fullest and the emptiest worker, and each must still work there.
async fn long_lived_connections_are_balanced(server: &Server) {
    let mut conns = Vec::new();
    for _ in 0..CONNECTIONS {
        let mut c = BufReader::new(TcpStream::connect(server.listen_addrs[0]).await.unwrap());
        assert!(request(&mut c).await.starts_with("HTTP/1.1 200"));
        conns.push(c);
    }
    let per_worker = per_worker(server);
    assert_eq!(
        per_worker.iter().sum::<i64>(),
        CONNECTIONS as i64,
        "{per_worker:?}"
    );
    let (min, max) = (
        per_worker.iter().min().unwrap(),
        per_worker.iter().max().unwrap(),
    );
    assert!(max - min <= 2, "connections per worker: {per_worker:?}");
    for c in &mut conns {
        assert!(request(c).await.starts_with("HTTP/1.1 200"));
    }
}
