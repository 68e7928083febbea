//! Listeners and the connection lifecycle.
//!
//! We run Pingora's `HttpProxy` app from our own accept loops instead of Pingora's `Server`:
//! listeners can bind port 0 (tests), the process keeps control of readiness and shutdown
//! (Pingora's default SIGTERM handling sleeps a 300 s grace period), and each connection is
//! counted in `trinity_proxy_downstream_connections`. Accepted sockets carry no extra L4
//! buffers (Pingora's listener service adds a 64 KiB read buffer per connection).
//!
//! Connections are accepted and served on the worker threads of [`crate::workers`], each with
//! its own `HttpProxy` (and so its own upstream connection pool, as each nginx worker has); the
//! admin listener and the rest of the control plane run on the runtime that starts the server.

use crate::admin;
use crate::app::{self, App};
use crate::config::Config;
use crate::connections::{ConnectionGuard, Connections};
use crate::downstream::{DEFAULT_WRITE_BUFFER, Downstream};
use crate::keepalive;
use crate::listen;
use crate::reload::{self, Reloader};
use crate::state::State;
use crate::stats;
use crate::workers::{Stops, Workers};
use pingora::apps::ServerApp;
use pingora::protocols::GetSocketDigest;
use pingora::protocols::SocketDigest;
use pingora::protocols::l4::stream::Stream;
use pingora::server::configuration::ServerConf;
use std::net::SocketAddr;
use std::os::fd::AsRawFd;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::{TcpListener, TcpStream};
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

/// Upstream connections kept idle for reuse, per upstream endpoint group.
const UPSTREAM_KEEPALIVE_POOL: usize = 128;

#[derive(Debug, thiserror::Error)]
pub enum ServerError {
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("metrics registry: {0}")]
    Metrics(#[from] prometheus::Error),
    #[error("starting the worker threads: {0}")]
    Workers(std::io::Error),
}

/// A connection handed to another worker: the socket out of the acceptor's reactor, its peer,
/// and its guard (it counts for the receiving worker, and towards the cap, from the hand-over).
type Handoff = (std::net::TcpStream, SocketAddr, ConnectionGuard);

/// A running proxy: public listeners and the admin listener, on the current tokio runtime.
pub struct Server {
    /// Bound public addresses (actual ports when the config said port 0).
    pub listen_addrs: Vec<SocketAddr>,
    pub admin_addr: SocketAddr,
    pub state: Arc<State>,
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
    /// Dropped last: ends the worker threads.
    _stops: Stops,
}

/// What every accept loop and connection shares.
struct Shared {
    workers: Workers<Handoff>,
    /// One per worker, by index.
    apps: Vec<App>,
    state: Arc<State>,
    connections: Arc<Connections>,
    keepalive_timeout: Duration,
    write_buffer: usize,
}

/// How long startup waits for the first discovery answers before serving anyway.
pub const DISCOVERY_WAIT: Duration = Duration::from_secs(5);

/// Optional parts of a server.
#[derive(Default)]
pub struct Options {
    /// The file the config came from: reloaded on SIGHUP and on change.
    pub config_path: Option<PathBuf>,
    /// The text the config was parsed from: reloads compare against it (default: the file as
    /// read when the server starts).
    pub config_text: Option<String>,
    /// A SIGHUP stream registered early by the caller (default: registered by `start_with`).
    pub hangup: Option<tokio::signal::unix::Signal>,
    /// The Kubernetes API client for `kubernetes` discovery; default: in-cluster or KUBECONFIG.
    pub kube_client: Option<kube::Client>,
    /// How long a client connection may wait for, or stall inside, a request header; default
    /// [`keepalive::KEEPALIVE_TIMEOUT`] (whole seconds, at least 1).
    pub keepalive_timeout: Option<Duration>,
    /// How the workers listen: one shared socket (default) or one `SO_REUSEPORT` socket each.
    pub listener: listen::Mode,
}

impl Server {
    /// Binds every listener and starts serving.
    pub async fn start(config: &Config) -> Result<Self, ServerError> {
        Self::start_with(config, Options::default()).await
    }

    pub async fn start_with(config: &Config, options: Options) -> Result<Self, ServerError> {
        let state = State::new(config)?;
        if let Some(client) = options.kube_client {
            state.discovery.set_kube_client(client);
        }
        let conf = ServerConf {
            threads: config.threads,
            upstream_keepalive_pool_size: UPSTREAM_KEEPALIVE_POOL,
            ..ServerConf::default()
        };
        let (shutdown, shutdown_rx) = watch::channel(false);
        let (workers, inboxes, stops) =
            Workers::start(config.threads, |i| state.metrics.worker_connections(i))
                .map_err(ServerError::Workers)?;
        let conf = Arc::new(conf);
        let apps = (0..workers.len())
            .map(|_| app::new(&conf, state.clone()))
            .collect();
        let shared = Arc::new(Shared {
            workers,
            apps,
            state: state.clone(),
            connections: Arc::new(Connections::default()),
            keepalive_timeout: keepalive_timeout(options.keepalive_timeout),
            write_buffer: write_buffer(),
        });
        let mut tasks = Vec::new();
        let listen_addrs = shared
            .listen(
                &config.listeners,
                options.listener,
                &shutdown_rx,
                &mut tasks,
            )
            .await?;
        for (i, inbox) in inboxes.into_iter().enumerate() {
            let loop_ = inbox_loop(i, inbox, shared.clone(), shutdown_rx.clone());
            tasks.push(shared.workers.get(i).handle.spawn(loop_));
        }
        let (admin_listener, admin_addr) = bind_admin(config.admin).await?;
        // Per-route windows for the status page, sampled on this (control-plane) runtime.
        tasks.push(tokio::spawn({
            let (state, shutdown) = (state.clone(), shutdown_rx.clone());
            async move { stats::run(&state.stats, &state.table, shutdown).await }
        }));
        tasks.push(tokio::spawn(admin::serve(
            admin_listener,
            state.clone(),
            shutdown_rx,
        )));

        let reloader = options.config_path.map(|path| {
            let hup = hangups(options.hangup);
            let loaded = options.config_text.as_deref();
            let reloader = Reloader::new(&path, state.clone(), config.clone(), loaded);
            (Arc::new(reloader), hup)
        });
        state.activate(DISCOVERY_WAIT).await;
        if let Some((reloader, hup)) = reloader {
            tasks.push(tokio::spawn(reload::watch(reloader, hup)));
        }
        state.set_ready(true);
        tracing::info!(listeners = ?listen_addrs, admin = %admin_addr, threads = config.threads, "trinity-proxy serving");
        Ok(Self {
            listen_addrs,
            admin_addr,
            state,
            shared,
            shutdown,
            tasks,
            _stops: stops,
        })
    }

    /// How many times the worker threads have parked (waited in `epoll_wait`), summed over the
    /// workers: wake-ups per request, for tests (tokio's `worker_park_count`).
    pub fn worker_parks(&self) -> u64 {
        self.shared
            .workers
            .iter()
            .map(|w| w.handle.metrics().worker_park_count(0))
            .sum()
    }

    /// The Kubernetes-friendly stop (SIGTERM): `/readyz` fails at once while the listeners keep
    /// serving for `shutdown.drain_delay` (so endpoints controllers take the pod out of the
    /// Service), then [`Server::shutdown`] within `shutdown.timeout`.
    pub async fn drain(self) {
        let cfg = self.state.table.load().shutdown;
        self.state.set_ready(false);
        tracing::info!(drain_delay = ?cfg.drain_delay, timeout = ?cfg.timeout, "draining: readiness off, still serving");
        tokio::time::sleep(cfg.drain_delay).await;
        tracing::info!(
            open = self.shared.connections.open(),
            "drain delay over: stop accepting, finishing in-flight requests"
        );
        self.shutdown(cfg.timeout).await;
    }

    /// Stops accepting, lets in-flight requests finish (idle keep-alive connections are closed),
    /// and returns when every connection is gone or `timeout` passed.
    pub async fn shutdown(self, timeout: Duration) {
        self.state.set_ready(false);
        let _ = self.shutdown.send(true);
        for app in &self.shared.apps {
            app.cleanup().await;
        }
        let connections = &self.shared.connections;
        let drained = tokio::time::timeout(timeout, connections.all_closed()).await;
        if drained.is_err() {
            tracing::warn!(
                open = connections.open(),
                "shutdown timeout reached with connections still open"
            );
        }
        for t in self.tasks {
            t.abort();
        }
    }
}

/// The keep-alive timeout in whole seconds, at least 1 (Pingora's is in seconds, 0 meaning
/// none); default [`keepalive::KEEPALIVE_TIMEOUT`].
fn keepalive_timeout(option: Option<Duration>) -> Duration {
    let timeout = option.unwrap_or(keepalive::KEEPALIVE_TIMEOUT);
    Duration::from_secs(timeout.as_secs().max(1))
}

/// The client write buffer's size. Benchmark knob (benches/load/run.py --variant):
/// `TRINITY_DOWNSTREAM_WRITE_BUFFER=0` turns write coalescing off.
fn write_buffer() -> usize {
    std::env::var("TRINITY_DOWNSTREAM_WRITE_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_WRITE_BUFFER)
}

/// The admin listener and its bound address.
async fn bind_admin(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), ServerError> {
    let bind_error = |source| ServerError::Bind { addr, source };
    let listener = TcpListener::bind(addr).await.map_err(bind_error)?;
    let local = listener.local_addr().map_err(bind_error)?;
    Ok((listener, local))
}

/// The SIGHUP stream for reloads: the caller's (registered early), else one registered now;
/// none when that fails (reloads then follow file changes only).
fn hangups(early: Option<Signal>) -> Option<Signal> {
    let hup = early
        .map(Ok)
        .unwrap_or_else(|| signal(SignalKind::hangup()));
    if let Err(e) = &hup {
        tracing::warn!(error = %e, "no SIGHUP handler: reloads follow file changes only");
    }
    hup.ok()
}

/// Worker `me`'s accept loop on one listener.
async fn accept_loop(
    me: usize,
    listener: std::net::TcpListener,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    let listener = match TcpListener::from_std(listener) {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(worker = me, error = %e, "cannot register the listener");
            return;
        }
    };
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let (tcp, peer) = match accepted {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        // Past the cap, close at once: no task, no buffer, no TLS or header work.
        let max = shared.state.table.load().limits.max_connections;
        if shared.connections.open() >= max {
            shared.state.metrics.edge.over_max_connections.inc();
            continue;
        }
        let to = shared.workers.pick(me);
        let guard = shared.count(to);
        if to == me {
            shared.serve(me, tcp, peer, guard, &shutdown);
            continue;
        }
        // Out of this worker's reactor, into the other's (see `inbox_loop`).
        match tcp.into_std() {
            Ok(std) => {
                if shared.workers.hand_over(to, (std, peer, guard)).is_err() {
                    tracing::debug!(worker = to, "worker gone: connection dropped");
                }
            }
            Err(e) => tracing::debug!(error = %e, "could not hand a connection over"),
        }
    }
}

/// Worker `me` serves the connections other workers hand over to it.
async fn inbox_loop(
    me: usize,
    mut inbox: mpsc::UnboundedReceiver<Handoff>,
    shared: Arc<Shared>,
    mut shutdown: watch::Receiver<bool>,
) {
    loop {
        let handed = tokio::select! {
            c = inbox.recv() => c,
            _ = shutdown.changed() => return,
        };
        let Some((std, peer, guard)) = handed else {
            return;
        };
        match TcpStream::from_std(std) {
            Ok(tcp) => shared.serve(me, tcp, peer, guard, &shutdown),
            Err(e) => tracing::debug!(error = %e, "could not take a connection over"),
        }
    }
}

impl Shared {
    /// Binds every public listener (each worker's socket of it, per `mode`) and starts the
    /// workers' accept loops on them; the bound addresses, in `listeners` order.
    async fn listen(
        self: &Arc<Self>,
        listeners: &[SocketAddr],
        mode: listen::Mode,
        shutdown: &watch::Receiver<bool>,
        tasks: &mut Vec<JoinHandle<()>>,
    ) -> Result<Vec<SocketAddr>, ServerError> {
        let mut bound = Vec::new();
        for &addr in listeners {
            let bind_error = |source| ServerError::Bind { addr, source };
            let (sockets, local) = listen::bind(addr, self.workers.len(), mode)
                .await
                .map_err(bind_error)?;
            bound.push(local);
            for ((i, worker), own) in self.workers.iter().enumerate().zip(sockets) {
                let loop_ = accept_loop(i, own, self.clone(), shutdown.clone());
                tasks.push(worker.handle.spawn(loop_));
            }
        }
        Ok(bound)
    }

    /// Counts a connection as open, served by worker `worker`, until the guard is dropped.
    fn count(&self, worker: usize) -> ConnectionGuard {
        let gauge = self.state.metrics.downstream_connections.clone();
        let worker = self.workers.get(worker).load.clone();
        self.connections.count(gauge, worker)
    }

    /// Serves an accepted connection on worker `me` (the current runtime) until it closes.
    fn serve(
        &self,
        me: usize,
        tcp: TcpStream,
        peer: SocketAddr,
        guard: ConnectionGuard,
        shutdown: &watch::Receiver<bool>,
    ) {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "set_nodelay failed");
        }
        let stream = Box::new(Downstream::new(l4_stream(tcp, peer), self.write_buffer));
        tokio::spawn(keepalive::serve(
            self.apps[me].clone(),
            self.state.clone(),
            stream,
            shutdown.clone(),
            guard,
            self.keepalive_timeout,
        ));
    }
}

/// Pingora's stream of an accepted socket, with the peer address its listener would record.
fn l4_stream(tcp: TcpStream, peer: SocketAddr) -> Stream {
    let mut stream = Stream::from(tcp);
    let digest = SocketDigest::from_raw_fd(stream.as_raw_fd());
    let _ = digest.peer_addr.set(Some(peer.into()));
    stream.set_socket_digest(digest);
    stream
}
