//! Listeners and the connection lifecycle.
//!
//! We run Pingora's `HttpProxy` app from our own accept loops instead of Pingora's `Server`:
//! listeners can bind port 0 (tests), the process keeps control of readiness and shutdown
//! (Pingora's default SIGTERM handling sleeps a 300 s grace period), and each connection is
//! counted in `trinity_proxy_downstream_connections`. Accepted sockets carry no extra L4
//! buffers (Pingora's listener service adds a 64 KiB read buffer per connection).

use crate::admin;
use crate::config::Config;
use crate::downstream::{DEFAULT_WRITE_BUFFER, Downstream};
use crate::keepalive;
use crate::proxy::TrinityProxy;
use crate::reload::{self, Reloader};
use crate::state::State;
use pingora::apps::ServerApp;
use pingora::protocols::l4::listener::Listener;
use pingora::proxy::{HttpProxy, http_proxy};
use pingora::server::configuration::ServerConf;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::{Notify, watch};
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
}

/// A running proxy: public listeners and the admin listener, on the current tokio runtime.
pub struct Server {
    /// Bound public addresses (actual ports when the config said port 0).
    pub listen_addrs: Vec<SocketAddr>,
    pub admin_addr: SocketAddr,
    pub state: Arc<State>,
    app: Arc<HttpProxy<TrinityProxy>>,
    shutdown: watch::Sender<bool>,
    connections: Arc<Connections>,
    tasks: Vec<JoinHandle<()>>,
}

/// Open downstream connections, with a wake-up when the last one closes.
#[derive(Default)]
struct Connections {
    open: AtomicUsize,
    idle: Notify,
}

pub(crate) struct ConnectionGuard {
    connections: Arc<Connections>,
    gauge: prometheus::IntGauge,
}

impl Drop for ConnectionGuard {
    fn drop(&mut self) {
        self.gauge.dec();
        if self.connections.open.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.connections.idle.notify_waiters();
        }
    }
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
        let app = Arc::new(http_proxy(
            &Arc::new(conf),
            TrinityProxy::new(state.clone()),
        ));
        let (shutdown, shutdown_rx) = watch::channel(false);
        let connections = Arc::new(Connections::default());

        // Whole seconds, at least 1: Pingora's keep-alive timeout is in seconds, 0 meaning none.
        let keepalive_timeout = Duration::from_secs(
            options
                .keepalive_timeout
                .unwrap_or(keepalive::KEEPALIVE_TIMEOUT)
                .as_secs()
                .max(1),
        );
        let mut tasks = Vec::new();
        let mut listen_addrs = Vec::new();
        for addr in &config.listeners {
            let listener = TcpListener::bind(addr)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: *addr,
                    source,
                })?;
            let bound = listener.local_addr().map_err(|source| ServerError::Bind {
                addr: *addr,
                source,
            })?;
            listen_addrs.push(bound);
            tasks.push(tokio::spawn(accept_loop(
                Listener::from(listener),
                app.clone(),
                state.clone(),
                connections.clone(),
                shutdown_rx.clone(),
                keepalive_timeout,
            )));
        }
        let admin_listener =
            TcpListener::bind(config.admin)
                .await
                .map_err(|source| ServerError::Bind {
                    addr: config.admin,
                    source,
                })?;
        let admin_addr = admin_listener
            .local_addr()
            .map_err(|source| ServerError::Bind {
                addr: config.admin,
                source,
            })?;
        tasks.push(tokio::spawn(admin::serve(
            admin_listener,
            state.clone(),
            shutdown_rx,
        )));

        let reloader = options.config_path.map(|path| {
            let hup = options.hangup.map(Ok).unwrap_or_else(|| {
                tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
            });
            if let Err(e) = &hup {
                tracing::warn!(error = %e, "no SIGHUP handler: reloads follow file changes only");
            }
            let loaded = options.config_text.as_deref();
            (
                Arc::new(Reloader::new(&path, state.clone(), config.clone(), loaded)),
                hup.ok(),
            )
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
            app,
            shutdown,
            connections,
            tasks,
        })
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
            open = self.connections.open.load(Ordering::Acquire),
            "drain delay over: stop accepting, finishing in-flight requests"
        );
        self.shutdown(cfg.timeout).await;
    }

    /// Stops accepting, lets in-flight requests finish (idle keep-alive connections are closed),
    /// and returns when every connection is gone or `timeout` passed.
    pub async fn shutdown(self, timeout: Duration) {
        self.state.set_ready(false);
        let _ = self.shutdown.send(true);
        self.app.cleanup().await;
        let drained = tokio::time::timeout(timeout, async {
            loop {
                let idle = self.connections.idle.notified();
                if self.connections.open.load(Ordering::Acquire) == 0 {
                    break;
                }
                idle.await;
            }
        })
        .await;
        if drained.is_err() {
            tracing::warn!(
                open = self.connections.open.load(Ordering::Acquire),
                "shutdown timeout reached with connections still open"
            );
        }
        for t in self.tasks {
            t.abort();
        }
    }
}

async fn accept_loop(
    listener: Listener,
    app: Arc<HttpProxy<TrinityProxy>>,
    state: Arc<State>,
    connections: Arc<Connections>,
    mut shutdown: watch::Receiver<bool>,
    keepalive_timeout: Duration,
) {
    // Benchmark knob (benches/load/run.py --variant): 0 turns write coalescing off.
    let write_buffer = std::env::var("TRINITY_DOWNSTREAM_WRITE_BUFFER")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(DEFAULT_WRITE_BUFFER);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = shutdown.changed() => return,
        };
        let mut stream = match accepted {
            Ok(s) => s,
            Err(e) => {
                // EMFILE and friends: back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        // Past the cap, close at once: no task, no buffer, no TLS or header work.
        if connections.open.load(Ordering::Acquire) >= state.table.load().limits.max_connections {
            state.metrics.edge.over_max_connections.inc();
            drop(stream);
            continue;
        }
        if let Err(e) = stream.set_nodelay() {
            tracing::debug!(error = %e, "set_nodelay failed");
        }
        connections.open.fetch_add(1, Ordering::AcqRel);
        let gauge = state.metrics.downstream_connections.clone();
        gauge.inc();
        let guard = ConnectionGuard {
            connections: connections.clone(),
            gauge,
        };
        let app = app.clone();
        let shutdown = shutdown.clone();
        let stream = Box::new(Downstream::new(stream, write_buffer));
        tokio::spawn(keepalive::serve(
            app,
            state.clone(),
            stream,
            shutdown,
            guard,
            keepalive_timeout,
        ));
    }
}
