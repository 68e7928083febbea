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

/// What providers share: one DNS resolver, built on first use.
pub struct DiscoveryContext {
    pub resolvers: Vec<std::net::SocketAddr>,
    resolver: std::sync::OnceLock<Result<hickory_resolver::TokioResolver, String>>,
}

impl DiscoveryContext {
    pub fn new(config: &Config) -> Self {
        Self {
            resolvers: config.resolvers.clone(),
            resolver: std::sync::OnceLock::new(),
        }
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
        Discovery::Kubernetes(_) => {
            tracing::error!(
                upstream = &*pool.name,
                "this discovery provider is not built yet"
            );
            return None;
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
