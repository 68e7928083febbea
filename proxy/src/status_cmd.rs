//! `trinity-proxy status [--admin ADDR]`: reads a running proxy's `/status` from its admin
//! listener and prints a compact table of routes, upstreams and endpoint states.
//!
//! Exit codes, for scripts and probes: 0 every upstream has an eligible endpoint; 1 at least one
//! has none (empty, or every endpoint unhealthy, ejected or terminating); 2 the status could not
//! be read (admin unreachable, not a trinity-proxy admin listener).

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use std::fmt::Write as _;
use std::time::Duration;

/// How long connecting and reading the answer may take.
pub const TIMEOUT: Duration = Duration::from_secs(5);

/// Exit code when an upstream has no eligible endpoint.
pub const EXIT_UNHEALTHY: u8 = 1;
/// Exit code when the status could not be read.
pub const EXIT_UNREACHABLE: u8 = 2;

#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    #[error("cannot reach the admin listener at {addr}: {reason}")]
    Unreachable { addr: String, reason: String },
    #[error("{addr}/status answered {status}: is this a trinity-proxy admin listener?")]
    Status { addr: String, status: u16 },
    #[error("{addr}/status is not a trinity-proxy status answer: {reason}")]
    Shape { addr: String, reason: String },
}

/// The parts of `/status` the table shows.
#[derive(Debug, Deserialize)]
pub struct Status {
    pub version: String,
    pub uptime_seconds: u64,
    pub open_connections: i64,
    pub ready: bool,
    pub reload: Reload,
    pub routes: Vec<Route>,
    pub upstreams: Vec<Upstream>,
}

#[derive(Debug, Deserialize)]
pub struct Reload {
    pub last_successful: bool,
    pub last_failure_problems: Vec<String>,
}

#[derive(Debug, Deserialize)]
pub struct Route {
    pub name: String,
    pub host: Option<String>,
    #[serde(rename = "match")]
    pub kind: String,
    pub path: String,
    pub upstream: String,
    pub strip_prefix: bool,
    pub stats: Option<Figures>,
}

#[derive(Debug, Deserialize)]
pub struct Figures {
    pub requests_per_second: f64,
    pub error_ratio: Option<f64>,
    pub p50_ms: Option<f64>,
    pub p99_ms: Option<f64>,
}

#[derive(Debug, Deserialize)]
pub struct Upstream {
    pub name: String,
    pub eligible_endpoints: usize,
    pub endpoints: Vec<Endpoint>,
}

#[derive(Debug, Deserialize)]
pub struct Endpoint {
    pub address: String,
    pub state: String,
    pub ejected_remaining_ms: Option<u64>,
    pub in_flight: u64,
    pub requests: u64,
    pub failures: u64,
    pub times_ejected: u32,
    pub last_check: Option<Check>,
}

#[derive(Debug, Deserialize)]
pub struct Check {
    pub passed: bool,
    pub result: String,
    pub took_ms: u64,
}

/// `GET http://ADDR/status`; `addr` is `HOST:PORT` (an `http://` prefix is accepted).
pub async fn fetch(addr: &str) -> Result<Status, StatusError> {
    let addr = addr.trim_start_matches("http://").trim_end_matches('/');
    let unreachable = |reason: String| StatusError::Unreachable {
        addr: addr.to_owned(),
        reason,
    };
    let get = async {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        tokio::spawn(conn);
        let req = http::Request::get("/status")
            .header(http::header::HOST, addr)
            .body(Empty::<Bytes>::new())
            .map_err(|e| unreachable(e.to_string()))?;
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        let status = resp.status();
        let body = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| unreachable(e.to_string()))?
            .to_bytes();
        Ok::<_, StatusError>((status, body))
    };
    let (status, body) = tokio::time::timeout(TIMEOUT, get)
        .await
        .map_err(|_| unreachable(format!("no answer within {TIMEOUT:?}")))??;
    if !status.is_success() {
        return Err(StatusError::Status {
            addr: addr.to_owned(),
            status: status.as_u16(),
        });
    }
    serde_json::from_slice(&body).map_err(|e| StatusError::Shape {
        addr: addr.to_owned(),
        reason: e.to_string(),
    })
}

impl Status {
    /// Upstreams without an eligible endpoint.
    pub fn failing(&self) -> Vec<&str> {
        self.upstreams
            .iter()
            .filter(|u| u.eligible_endpoints == 0)
            .map(|u| u.name.as_str())
            .collect()
    }

    /// The table `trinity-proxy status` prints.
    pub fn render(&self, addr: &str) -> String {
        let mut out = self.summary(addr);
        out += &self.routes_table();
        out.push('\n');
        out += &self.endpoints_table();
        self.warnings(&mut out);
        out
    }

    /// The first line: version, uptime, connections, readiness, config; then a blank line.
    fn summary(&self, addr: &str) -> String {
        format!(
            "trinity-proxy {} at {addr}: up {}s, {} open connections, {}, config {}\n\n",
            self.version,
            self.uptime_seconds,
            self.open_connections,
            if self.ready { "ready" } else { "NOT READY" },
            if self.reload.last_successful {
                "loaded"
            } else {
                "LAST RELOAD REJECTED"
            },
        )
    }

    /// One row per route: how it matches, where it goes, its recent figures.
    fn routes_table(&self) -> String {
        let mut routes = vec![row(&[
            "ROUTE", "MATCH", "UPSTREAM", "REQ/S", "5XX", "P50", "P99",
        ])];
        routes.extend(self.routes.iter().map(Route::row));
        table(&routes)
    }

    /// Each upstream as a heading with its eligible count, its endpoints below it.
    fn endpoints_table(&self) -> String {
        let mut eps = vec![row(&[
            "UPSTREAM",
            "ENDPOINT",
            "STATE",
            "IN-FLIGHT",
            "REQUESTS",
            "FAILURES",
            "EJECTIONS",
            "LAST PROBE",
        ])];
        for u in &self.upstreams {
            eps.push(vec![u.heading()]);
            eps.extend(u.endpoints.iter().map(Endpoint::row));
        }
        table(&eps)
    }

    /// What needs attention: upstreams with no eligible endpoint, a rejected reload's problems.
    fn warnings(&self, out: &mut String) {
        let failing = self.failing();
        if !failing.is_empty() {
            let _ = writeln!(
                out,
                "\nno eligible endpoint: {} (exit {EXIT_UNHEALTHY})",
                failing.join(", ")
            );
        }
        for p in &self.reload.last_failure_problems {
            let _ = writeln!(out, "last rejected reload: {p}");
        }
    }
}

impl Route {
    fn row(&self) -> Vec<String> {
        let f = self.stats.as_ref();
        let host = self
            .host
            .as_deref()
            .map(|h| format!("{h} "))
            .unwrap_or_default();
        let strip = if self.strip_prefix { " (strip)" } else { "" };
        vec![
            self.name.clone(),
            format!("{host}{} {}{strip}", self.kind, self.path),
            self.upstream.clone(),
            f.map_or("-".into(), |f| format!("{:.2}", f.requests_per_second)),
            f.and_then(|f| f.error_ratio)
                .map_or("-".into(), |e| format!("{:.1}%", e * 100.0)),
            millis(f.and_then(|f| f.p50_ms)),
            millis(f.and_then(|f| f.p99_ms)),
        ]
    }
}

impl Upstream {
    fn heading(&self) -> String {
        let verdict = match (self.endpoints.len(), self.eligible_endpoints) {
            (0, _) => "no endpoints".to_owned(),
            (n, 0) => format!("0/{n} eligible: NONE"),
            (n, e) => format!("{e}/{n} eligible"),
        };
        format!("{} ({verdict})", self.name)
    }
}

impl Endpoint {
    fn row(&self) -> Vec<String> {
        let state = match self.ejected_remaining_ms {
            Some(ms) if self.state == "ejected" => {
                format!("ejected ({}s left)", ms.div_ceil(1000))
            }
            _ => self.state.clone(),
        };
        vec![
            String::new(),
            self.address.clone(),
            state,
            self.in_flight.to_string(),
            self.requests.to_string(),
            self.failures.to_string(),
            self.times_ejected.to_string(),
            self.last_check.as_ref().map_or("-".into(), |c| {
                let verdict = if c.passed { "passed" } else { "failed" };
                format!("{verdict}: {} ({} ms)", c.result, c.took_ms)
            }),
        ]
    }
}

fn row(cells: &[&str]) -> Vec<String> {
    cells.iter().map(|c| (*c).to_owned()).collect()
}

fn millis(v: Option<f64>) -> String {
    v.map_or("-".into(), |ms| format!("{ms:.1}ms"))
}

/// Left-aligned columns, two spaces apart; a one-cell row (a group heading) spans the table.
fn table(rows: &[Vec<String>]) -> String {
    let cols = rows.iter().map(Vec::len).max().unwrap_or(0);
    let widths: Vec<usize> = (0..cols)
        .map(|i| {
            rows.iter()
                .filter(|r| r.len() > 1)
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut out = String::new();
    for r in rows {
        let mut line = String::new();
        for (i, cell) in r.iter().enumerate() {
            if r.len() == 1 {
                line.push_str(cell);
                break;
            }
            let _ = write!(line, "{cell:<w$}  ", w = widths[i]);
        }
        out += line.trim_end();
        out.push('\n');
    }
    out
}
