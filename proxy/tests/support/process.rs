//! The real `trinity-proxy` binary as a child process: started from a YAML config, killed when
//! the test ends (a failed assertion must not leave it running: it holds the test's pipes).

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};

pub struct Proc {
    pub child: Child,
    pub listen: SocketAddr,
    pub admin: SocketAddr,
    /// The config file it was started with (rewrite it and send SIGHUP to reload).
    pub config: std::path::PathBuf,
    /// Lines the proxy printed after its startup line (stdout is drained into this channel).
    pub lines: Receiver<String>,
    _dir: tempfile::TempDir,
}

/// What the child's stdout does after the startup line.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Stdout {
    /// Read into [`Proc::lines`].
    Drained,
    /// Never read again: the pipe fills and the proxy's log writer blocks.
    Blocked,
}

impl Drop for Proc {
    /// A failed assertion must not leave the proxy running (it holds the test's pipes).
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts `trinity-proxy --config` and reads the bound addresses from its startup log line.
pub fn spawn_proxy(yaml: &str) -> Proc {
    spawn_proxy_with(yaml, Stdout::Drained)
}

pub fn spawn_proxy_with(yaml: &str, stdout: Stdout) -> Proc {
    spawn(yaml, stdout, "info")
}

/// Started with `RUST_LOG=rust_log` (it must enable the `info` startup line).
#[allow(dead_code, reason = "not every test binary uses it")]
pub fn spawn_proxy_logging(yaml: &str, rust_log: &str) -> Proc {
    spawn(yaml, Stdout::Drained, rust_log)
}

fn spawn(yaml: &str, stdout: Stdout, rust_log: &str) -> Proc {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("trinity.yaml");
    std::fs::write(&path, yaml).unwrap();
    let mut child = Command::new(env!("CARGO_BIN_EXE_trinity-proxy"))
        .arg("--config")
        .arg(&path)
        .env("RUST_LOG", rust_log)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let line = lines
        .by_ref()
        .map(Result::unwrap)
        .find(|l| l.contains("trinity-proxy serving"))
        .expect("startup line");
    let (tx, rx) = channel();
    if stdout == Stdout::Drained {
        // Keep draining stdout so the child never blocks on a full pipe.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
    } else {
        std::mem::forget(lines);
    }
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    let listen = v["listeners"]
        .as_str()
        .unwrap()
        .trim_matches(['[', ']'])
        .parse()
        .unwrap();
    let admin = v["admin"].as_str().unwrap().parse().unwrap();
    Proc {
        child,
        listen,
        admin,
        config: path,
        lines: rx,
        _dir: dir,
    }
}

pub fn signal(child: &Child, sig: &str) {
    signal_pid(child.id(), sig);
}

/// `kill -SIG pid`, for a process known only by its id.
pub fn signal_pid(pid: u32, sig: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(pid.to_string())
        .status()
        .unwrap();
    assert!(ok.success());
}

/// The child's resident set size in KiB.
pub fn rss_kib(child: &Child) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
