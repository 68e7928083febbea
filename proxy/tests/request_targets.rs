//! What reaches an upstream is exactly what was routed: odd request targets sent over raw sockets
//! either get 400 or arrive as the routed origin-form path, checked against the request line a
//! raw upstream actually received.
#![allow(clippy::unwrap_used, clippy::expect_used, reason = "tests")]

mod support;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use support::TestProxy;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// An upstream that records each request line it receives and answers 200.
struct Recorder {
    addr: SocketAddr,
    lines: Arc<Mutex<Vec<String>>>,
}

impl Recorder {
    async fn spawn() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let lines: Arc<Mutex<Vec<String>>> = Arc::default();
        let seen = lines.clone();
        tokio::spawn(async move {
            while let Ok((mut s, _)) = listener.accept().await {
                let seen = seen.clone();
                tokio::spawn(async move {
                    let mut pending = Vec::new();
                    let mut buf = [0u8; 4096];
                    loop {
                        while let Some(end) = pending.windows(4).position(|w| w == b"\r\n\r\n") {
                            let head = String::from_utf8_lossy(&pending[..end]).into_owned();
                            pending.drain(..end + 4);
                            seen.lock()
                                .unwrap()
                                .push(head.lines().next().unwrap_or_default().to_owned());
                            let answer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
                            if s.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                        match s.read(&mut buf).await {
                            Ok(0) | Err(_) => return,
                            Ok(n) => pending.extend_from_slice(&buf[..n]),
                        }
                    }
                });
            }
        });
        Self { addr, lines }
    }

    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.lines.lock().unwrap())
    }
}

/// `Ok(line)`: the request line the upstream must see; `Err(400)`: the proxy answers 400.
const TARGETS: &[(&str, Result<&str, u16>)] = &[
    // Origin-form, normalised.
    (
        "GET /plain?x=1&y=%20 HTTP/1.1\r\nHost: t",
        Ok("GET /plain?x=1&y=%20 HTTP/1.1"),
    ),
    (
        "GET /a/./b//c/../d HTTP/1.1\r\nHost: t",
        Ok("GET /a/b/d HTTP/1.1"),
    ),
    (
        "GET /%61dmin/%7euser HTTP/1.1\r\nHost: t",
        Ok("GET /admin/~user HTTP/1.1"),
    ),
    (
        "GET //evil.example/x HTTP/1.1\r\nHost: t",
        Ok("GET /evil.example/x HTTP/1.1"),
    ),
    (
        "GET /frag#part HTTP/1.1\r\nHost: t",
        Ok("GET /frag HTTP/1.1"),
    ),
    ("GET /a%2Fb HTTP/1.1\r\nHost: t", Err(400)),
    ("GET /a%5cb HTTP/1.1\r\nHost: t", Err(400)),
    ("GET /a\\b HTTP/1.1\r\nHost: t", Err(400)),
    ("GET /../etc/passwd HTTP/1.1\r\nHost: t", Err(400)),
    ("GET /%zz HTTP/1.1\r\nHost: t", Err(400)),
    // Absolute-form: routed on its authority, sent as origin-form.
    (
        "GET http://t/abs/../x?q=1 HTTP/1.1\r\nHost: t",
        Ok("GET /x?q=1 HTTP/1.1"),
    ),
    (
        "GET https://t/secure HTTP/1.1\r\nHost: t",
        Ok("GET /secure HTTP/1.1"),
    ),
    ("GET http://t HTTP/1.1\r\nHost: t", Ok("GET / HTTP/1.1")),
    ("GET http://t/no-host HTTP/1.1", Err(400)),
    ("GET http://other/x HTTP/1.1\r\nHost: t", Err(400)),
    ("GET http://user@t/x HTTP/1.1\r\nHost: t", Err(400)),
    ("GET ftp://t/x HTTP/1.1\r\nHost: t", Err(400)),
    // Neither origin- nor absolute-form.
    ("GET * HTTP/1.1\r\nHost: t", Err(400)),
    ("OPTIONS * HTTP/1.1\r\nHost: t", Err(400)),
    ("GET t/x HTTP/1.1\r\nHost: t", Err(400)),
    ("GET t:80 HTTP/1.1\r\nHost: t", Err(400)),
    ("CONNECT t:443 HTTP/1.1\r\nHost: t:443", Err(405)),
    ("GET ?x=1 HTTP/1.1\r\nHost: t", Err(400)),
    // Whitespace tricks and a missing Host.
    ("GET  /two-spaces HTTP/1.1\r\nHost: t", Err(400)),
    ("GET /trailing HTTP/1.1 \r\nHost: t", Err(400)),
    ("GET /tab\tx HTTP/1.1\r\nHost: t", Err(400)),
    ("GET /sp ace HTTP/1.1\r\nHost: t", Err(400)),
    ("GET /colon HTTP/1.1\r\nHost : t", Err(400)),
    (
        "GET /folded HTTP/1.1\r\nHost: t\r\nX-A: 1\r\n  continued",
        Err(400),
    ),
    ("GET /no-host HTTP/1.1", Err(400)),
    ("GET /old HTTP/1.0", Ok("GET /old HTTP/1.1")),
];

#[tokio::test]
async fn every_odd_target_gets_400_or_arrives_as_the_routed_path() {
    let up = Recorder::spawn().await;
    let yaml = format!(
        "routes:\n  - {{ name: app, prefix: /, upstream: app }}\nupstreams:\n  app: {{ endpoints: [\"{}\"] }}\n",
        up.addr
    );
    let p = TestProxy::start(&yaml).await;
    let mut failures = Vec::new();
    for (head, want) in TARGETS {
        let answer = support::raw(p.addr(), &format!("{head}\r\nConnection: close\r\n\r\n")).await;
        let status = answer.get(9..12).unwrap_or_default().to_owned();
        let seen = up.take();
        let ok = match want {
            Ok(line) => status == "200" && seen == [line.to_string()],
            Err(code) => status == code.to_string() && seen.is_empty(),
        };
        if !ok {
            failures.push(format!(
                "{head:?}: answered {status:?}, upstream saw {seen:?}"
            ));
        }
    }
    assert!(failures.is_empty(), "\n{}", failures.join("\n"));
}

/// A target that is not UTF-8 cannot be routed faithfully (its path would be routed in a lossy
/// form while the raw bytes went upstream): 400.
#[tokio::test]
async fn a_target_that_is_not_utf8_gets_400() {
    let up = Recorder::spawn().await;
    let yaml = format!(
        "routes:\n  - {{ name: app, prefix: /, upstream: app }}\nupstreams:\n  app: {{ endpoints: [\"{}\"] }}\n",
        up.addr
    );
    let p = TestProxy::start(&yaml).await;
    let mut s = tokio::net::TcpStream::connect(p.addr()).await.unwrap();
    s.write_all(b"GET /caf\xe9 HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    let mut answer = Vec::new();
    s.read_to_end(&mut answer).await.unwrap();
    assert!(
        answer.starts_with(b"HTTP/1.1 400 "),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );
    assert!(up.take().is_empty());
}
