//! `dns` discovery: every A and AAAA record of `name` is an endpoint on `port`.
//!
//! Resolved asynchronously (hickory, never the blocking system resolver), re-resolved every
//! `refresh` and never later than the records' TTL. The resolver's cache is off: the refresh
//! period is the cache. A failed lookup (timeout, server failure) keeps the last good set; an
//! empty answer (NXDOMAIN, no records) empties the pool only when the next lookup is empty too.

use crate::config::DnsDiscovery;
use crate::upstream::Pool;
use hickory_resolver::TokioResolver;
use hickory_resolver::config::{
    ConnectionConfig, LookupIpStrategy, NameServerConfig, ResolverConfig,
};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use std::net::SocketAddr;
use std::sync::Weak;
use std::time::Duration;
use tokio::sync::watch;

/// Shortest re-resolve period, whatever the TTL says.
const MIN_REFRESH: Duration = Duration::from_millis(100);
/// Per-query timeout of the resolver.
const QUERY_TIMEOUT: Duration = Duration::from_secs(2);

/// A resolver on `servers`, or on /etc/resolv.conf's when empty.
pub fn resolver(servers: &[SocketAddr]) -> Result<TokioResolver, String> {
    let mut builder = if servers.is_empty() {
        TokioResolver::builder_tokio()
            .map_err(|e| format!("reading the system resolver config: {e}"))?
    } else {
        let name_servers = servers
            .iter()
            .map(|s| {
                let mut udp = ConnectionConfig::udp();
                udp.port = s.port();
                let mut tcp = ConnectionConfig::tcp();
                tcp.port = s.port();
                NameServerConfig::new(s.ip(), true, vec![udp, tcp])
            })
            .collect();
        TokioResolver::builder_with_config(
            ResolverConfig::from_name_servers(name_servers),
            TokioRuntimeProvider::default(),
        )
    };
    let opts = builder.options_mut();
    opts.cache_size = 0;
    opts.ip_strategy = LookupIpStrategy::Ipv4AndIpv6;
    opts.timeout = QUERY_TIMEOUT;
    opts.attempts = 1;
    builder
        .build()
        .map_err(|e| format!("building the resolver: {e}"))
}

enum Answer {
    Records(Vec<SocketAddr>, Duration),
    Empty,
    Failed(String),
}

async fn lookup(resolver: &TokioResolver, cfg: &DnsDiscovery) -> Answer {
    match resolver.lookup_ip(cfg.name.as_str()).await {
        Ok(found) => {
            let ttl = found
                .valid_until()
                .saturating_duration_since(std::time::Instant::now());
            let mut addrs: Vec<SocketAddr> = found
                .iter()
                .map(|ip| SocketAddr::new(ip, cfg.port))
                .collect();
            addrs.sort_unstable();
            addrs.dedup();
            if addrs.is_empty() {
                Answer::Empty
            } else {
                Answer::Records(addrs, ttl)
            }
        }
        Err(e) if e.is_no_records_found() || e.is_nx_domain() => Answer::Empty,
        Err(e) => Answer::Failed(e.to_string()),
    }
}

/// Resolves for `pool` until the pool is gone or retired.
pub async fn run(
    pool: Weak<Pool>,
    cfg: DnsDiscovery,
    resolver: TokioResolver,
    first_round: watch::Sender<bool>,
) {
    let mut empty_answers = 0u32;
    loop {
        let answer = lookup(&resolver, &cfg).await;
        let Some(p) = pool.upgrade().filter(|p| !p.is_retired()) else {
            return;
        };
        let mut next = cfg.refresh;
        match answer {
            Answer::Records(addrs, ttl) => {
                empty_answers = 0;
                next = next.min(ttl);
                p.set_members(&addrs, &[]);
            }
            Answer::Empty => {
                empty_answers += 1;
                if empty_answers >= 2 || p.is_empty() {
                    p.set_members(&[], &[]);
                } else {
                    tracing::warn!(upstream = &*p.name, name = %cfg.name, "DNS answered no records; emptying the pool if the next answer is empty too");
                }
            }
            Answer::Failed(e) => {
                empty_answers = 0; // two *consecutive* empty answers empty the pool
                p.metrics.discovery_errors.inc();
                tracing::warn!(upstream = &*p.name, name = %cfg.name, error = %e, "DNS lookup failed; keeping the last endpoints");
            }
        }
        drop(p);
        first_round.send_replace(true);
        tokio::time::sleep(next.max(MIN_REFRESH)).await;
    }
}
