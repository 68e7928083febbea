//! HTTP/2 frames from a real, independent client: Python's `h2` package (`h2raw.py` beside this
//! file), installed by `scripts/ensure-deps.sh test`.

use serde_json::Value;
use std::net::SocketAddr;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

fn script() -> String {
    format!("{}/tests/support/h2raw.py", env!("CARGO_MANIFEST_DIR"))
}

/// Sends `requests` (see h2raw.py) one after another on one h2c connection; one answer each.
pub async fn requests(addr: SocketAddr, requests: &Value) -> Vec<Value> {
    run(addr, &["requests", &requests.to_string()])
        .await
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

/// One answer's header `name`.
pub fn header<'a>(answer: &'a Value, name: &str) -> Option<&'a str> {
    answer["headers"]
        .as_array()?
        .iter()
        .find(|kv| kv[0] == name)
        .and_then(|kv| kv[1].as_str())
}

/// Runs h2raw.py with `args`, returns its output (the scenarios that end by themselves).
pub async fn run(addr: SocketAddr, args: &[&str]) -> String {
    let out = Command::new("python3")
        .arg(script())
        .arg(addr.to_string())
        .args(args)
        .output()
        .await
        .expect("python3 runs");
    assert!(
        out.status.success(),
        "h2raw.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Opens `n` GET streams for `path` and then never reads: the returned client holds the
/// connection until dropped (killed).
pub async fn stall(addr: SocketAddr, n: usize, path: &str) -> Child {
    let mut child = Command::new("python3")
        .arg(script())
        .arg(addr.to_string())
        .arg("stall")
        .arg(n.to_string())
        .arg(path)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("python3 runs");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    assert_eq!(lines.next_line().await.unwrap().as_deref(), Some("sent"));
    child
}
