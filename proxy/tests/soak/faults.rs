//! The soak's schedule of trouble, and which client-visible errors the design expects from it.
//!
//! | every | what |
//! |---|---|
//! | 10 s | a reload, alternating two configs that really differ (a route more, a balancer, a probe interval) |
//! | 60 s (from 30 s) | a replica killed, restarted 10 s later, rotating over the upstreams |
//! | 300 s (from 35 s) | a replica hangs for 15 s (probes too) |
//! | 180 s (from 20 s) | a 256 MiB upload |
//! | 30 s (from 10 s) | 20 clients that leave mid-response or mid-upload |
//!
//! Each kind of fault first happens within [`ALL_SEEN_BY`], which the verdict counts as warm-up.

use super::ROUTES;
use super::load::{self, ClientError, HttpClient, Kind, Tally};
use super::standin::Replica;
use super::support::process::signal_pid;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const RELOAD_EVERY: Duration = Duration::from_secs(10);
pub const ALL_SEEN_BY: Duration = Duration::from_secs(60);
/// The routes' read timeout: a hung replica's requests fail (or are retried) after this.
const READ_TIMEOUT_SECS: f64 = 3.0;
const KILL_ORDER: [usize; 5] = [1, 2, 0, 4, 3];
const HANG_ORDER: [usize; 3] = [4, 1, 0];

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum What {
    Reload,
    Kill,
    Hang,
    Upload,
    Leavers,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct Fault {
    pub what: What,
    /// Seconds since the soak began: start and end.
    pub at: f64,
    pub until: f64,
    /// The route of the upstream it hit, if one.
    pub route: Option<&'static str>,
}

impl Fault {
    fn new(what: What, at: f64, until: f64, route: Option<&'static str>) -> Self {
        Self {
            what,
            at,
            until,
            route,
        }
    }
}

pub struct Schedule {
    replicas: Vec<[Arc<Replica>; 2]>,
    config: PathBuf,
    addrs: Vec<[SocketAddr; 2]>,
    pid: u32,
}

impl Schedule {
    pub fn new(
        replicas: Vec<[Arc<Replica>; 2]>,
        config: PathBuf,
        addrs: Vec<[SocketAddr; 2]>,
        pid: u32,
    ) -> Self {
        Self {
            replicas,
            config,
            addrs,
            pid,
        }
    }

    pub async fn run(
        self,
        tally: Arc<Tally>,
        client: HttpClient,
        proxy: SocketAddr,
        length: Duration,
    ) -> Vec<Fault> {
        let mut faults = Vec::new();
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        tick.tick().await;
        let mut second = 0u64;
        let mut down: Option<(usize, usize, f64)> = None;
        let mut hung: Option<(usize, f64)> = None;
        while tally.start.elapsed() < length {
            tick.tick().await;
            second += 1;
            let t = tally.now();
            if second.is_multiple_of(RELOAD_EVERY.as_secs()) {
                self.reload(second / RELOAD_EVERY.as_secs() % 2 == 1);
                faults.push(Fault::new(What::Reload, t, t, None));
            }
            if second % 60 == 30 {
                let u = KILL_ORDER[(second / 60) as usize % KILL_ORDER.len()];
                let r = (second / 60) as usize % 2;
                self.replicas[u][r].kill().await;
                down = Some((u, r, t));
            }
            if second % 60 == 40
                && let Some((u, r, at)) = down.take()
            {
                self.replicas[u][r].restart().await;
                faults.push(Fault::new(What::Kill, at, t, Some(ROUTES[u].1)));
            }
            if second % 300 == 35 {
                // Never the upstream whose other replica is down: with both replicas out, every
                // request fails by design (the 30-minute run hit that at 335 s).
                let turn = (second / 300) as usize;
                let u = (turn..turn + HANG_ORDER.len())
                    .map(|i| HANG_ORDER[i % HANG_ORDER.len()])
                    .find(|u| down.is_none_or(|(d, _, _)| d != *u))
                    .unwrap_or(HANG_ORDER[0]);
                self.replicas[u][0].set_hanging(true);
                hung = Some((u, t));
            }
            if second % 300 == 50
                && let Some((u, at)) = hung.take()
            {
                self.replicas[u][0].set_hanging(false);
                faults.push(Fault::new(What::Hang, at, t, Some(ROUTES[u].1)));
            }
            if second % 180 == 20 {
                let (tally, client) = (tally.clone(), client.clone());
                tokio::spawn(async move { load::upload(&tally, &client, proxy, 256).await });
                faults.push(Fault::new(What::Upload, t, t, Some("/api")));
            }
            if second % 30 == 10 {
                tokio::spawn(load::leavers(proxy, 20));
                faults.push(Fault::new(What::Leavers, t, t, None));
            }
        }
        let t = tally.now();
        if let Some((u, r, at)) = down {
            self.replicas[u][r].restart().await;
            faults.push(Fault::new(What::Kill, at, t, Some(ROUTES[u].1)));
        }
        if let Some((u, at)) = hung {
            self.replicas[u][0].set_hanging(false);
            faults.push(Fault::new(What::Hang, at, t, Some(ROUTES[u].1)));
        }
        faults
    }

    /// Writes the other config next to the live one and renames it over (as a ConfigMap update
    /// is atomic), then sends SIGHUP.
    fn reload(&self, variant: bool) {
        let next = self.config.with_extension("next");
        std::fs::write(&next, config(&self.addrs, variant)).unwrap();
        std::fs::rename(&next, &self.config).unwrap();
        signal_pid(self.pid, "HUP");
    }
}

/// The five Trinity routes over two replicas each; `variant` adds a route, switches the API's
/// balancer and the frontend's probe interval (a changed upstream gets a new pool).
pub fn config(addrs: &[[SocketAddr; 2]], variant: bool) -> String {
    let mut routes = String::new();
    for (upstream, prefix) in ROUTES {
        let name = if prefix == "/" {
            "frontend"
        } else {
            &prefix[1..]
        };
        routes.push_str(&format!(
            "  - name: {name}\n    prefix: {prefix}\n    upstream: {upstream}\n    timeouts: {{ connect: 1s, read: {READ_TIMEOUT_SECS}s }}\n"
        ));
        if prefix == "/minio-console" {
            routes.push_str("    strip_prefix: true\n");
        }
    }
    if variant {
        routes.push_str("  - name: extra\n    prefix: /extra\n    upstream: frontend\n");
    }
    let mut upstreams = String::new();
    for ((upstream, _), [a, b]) in ROUTES.iter().zip(addrs) {
        let interval = if variant && *upstream == "frontend" {
            "2s"
        } else {
            "1s"
        };
        upstreams.push_str(&format!(
            "  {upstream}:\n    endpoints: [\"{a}\", \"{b}\"]\n    health_check: {{ path: /health, interval: {interval}, timeout: 500ms }}\n"
        ));
        if *upstream == "fastapi" {
            let lb = if variant {
                "least_request"
            } else {
                "round_robin"
            };
            upstreams.push_str(&format!("    load_balancing: {lb}\n"));
        }
    }
    format!(
        "listeners: [\"127.0.0.1:0\"]\nadmin: \"127.0.0.1:0\"\nthreads: 2\nroutes:\n{routes}upstreams:\n{upstreams}"
    )
}

/// Why the design allows `e`, or `None` when a retry should have absorbed it. A request that
/// was sent is retried only when idempotent, and a stream cannot move to another replica: a
/// POST or a stream on a replica that is killed or hangs may fail; a GET never may.
pub fn expected(e: &ClientError, faults: &[Fault]) -> Option<&'static str> {
    let streaming = matches!(e.kind, Kind::Sse | Kind::WebSocket);
    let posting = matches!(e.kind, Kind::Post | Kind::Upload);
    faults.iter().filter(|f| f.route == Some(e.route)).find_map(|f| match f.what {
        What::Kill if e.at >= f.at - 1.0 && e.at <= f.at + 3.0 => {
            if posting {
                Some("a POST in flight on a replica that was killed (not retried: it may have been processed)")
            } else if streaming {
                Some("a stream on a replica that was killed (a stream cannot move to another replica)")
            } else {
                None
            }
        }
        What::Hang if e.at >= f.at - 1.0 && e.at <= f.until + READ_TIMEOUT_SECS + 2.0 => {
            if posting {
                Some("a POST on a hung replica past its read timeout (not retried: it may have been processed)")
            } else if streaming {
                Some("a stream on a hung replica past its read timeout")
            } else {
                None
            }
        }
        _ => None,
    })
}
