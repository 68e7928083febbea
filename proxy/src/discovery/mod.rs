//! Discovery providers feed a pool's members at run time:
//! - `dns`: every A/AAAA record of a name (a headless Service, a Compose service), re-resolved
//!   every `refresh` (`dns.rs`);
//! - `kubernetes`: the ready endpoints of a Service's EndpointSlices, watched (`kubernetes.rs`).
//!
//! A provider task holds only a weak reference to its pool and is attached to it, so it stops
//! when a reload retires the pool.

use crate::config::{Config, Discovery};
use crate::upstream::Pool;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;

pub mod dns;
pub mod kubernetes;

/// What providers share: one DNS resolver and one Kubernetes client, built on first use.
pub struct DiscoveryContext {
    pub resolvers: Vec<std::net::SocketAddr>,
    resolver: std::sync::OnceLock<Result<hickory_resolver::TokioResolver, String>>,
    kube: Arc<tokio::sync::OnceCell<kube::Client>>,
}

impl DiscoveryContext {
    pub fn new(config: &Config) -> Self {
        Self {
            resolvers: config.resolvers.clone(),
            resolver: std::sync::OnceLock::new(),
            kube: Arc::new(tokio::sync::OnceCell::new()),
        }
    }

    /// Uses `client` for Kubernetes discovery instead of the inferred one (in-cluster config or
    /// `KUBECONFIG`); call before the pools are activated.
    pub fn set_kube_client(&self, client: kube::Client) {
        let _ = self.kube.set(client);
    }

    fn resolver(&self) -> Result<hickory_resolver::TokioResolver, String> {
        self.resolver
            .get_or_init(|| dns::resolver(&self.resolvers))
            .clone()
    }
}

/// Signals the end of a provider's first round (members known, or the first attempt failed).
pub type FirstRound = watch::Receiver<bool>;

/// Starts the provider of `pool`, if it has one.
pub fn start(pool: &Arc<Pool>, cx: &DiscoveryContext) -> Option<FirstRound> {
    let (tx, rx) = watch::channel(false);
    let task = match &pool.config.discovery {
        Discovery::Static => return None,
        Discovery::Dns(cfg) => match cx.resolver() {
            Ok(resolver) => tokio::spawn(dns::run(Arc::downgrade(pool), cfg.clone(), resolver, tx)),
            Err(e) => {
                tracing::error!(upstream = &*pool.name, error = %e, "DNS discovery cannot start");
                return None;
            }
        },
        Discovery::Kubernetes(cfg) => {
            let (pool_weak, cfg, cell) = (Arc::downgrade(pool), cfg.clone(), cx.kube.clone());
            let name = pool.name.clone();
            tokio::spawn(async move {
                let client = cell.get_or_try_init(kube::Client::try_default).await;
                match client {
                    Ok(client) => kubernetes::run(pool_weak, cfg, client.clone(), tx).await,
                    Err(e) => {
                        tracing::error!(upstream = &*name, error = %e, "Kubernetes discovery cannot start: no cluster config (in-cluster or KUBECONFIG)");
                        tx.send_replace(true);
                    }
                }
            })
        }
    };
    pool.attach_task(task.abort_handle());
    Some(rx)
}

/// Waits until every provider finished its first round, at most `wait`.
pub async fn await_first_rounds(rounds: Vec<FirstRound>, wait: Duration) {
    let all = async {
        for mut r in rounds {
            let _ = r.wait_for(|done| *done).await;
        }
    };
    if tokio::time::timeout(wait, all).await.is_err() {
        tracing::warn!(waited = ?wait, "discovery has not answered yet; serving with what is known");
    }
}
