//! What the soak samples every few seconds, and the verdict on leaks: after warm-up, RSS may not
//! drift more than 5 %, and fds, threads, upstream connections and metric series may not keep
//! growing.

use std::process::Child;

#[derive(Debug, Clone, serde::Serialize)]
pub struct Sample {
    /// Seconds since the soak began.
    pub t: f64,
    pub rss_kib: u64,
    pub fds: u64,
    pub threads: u64,
    /// Connections open at the stand-in replicas (pooled, streaming and probe connections).
    pub upstream_conns: u64,
    /// Sample lines of `/metrics`.
    pub series: u64,
    /// Heap bytes allocated and not yet freed (`trinity_proxy_heap_live_bytes`, a `heap-stats`
    /// build only): what RSS would show without the allocator's kept pages.
    pub heap_bytes: Option<u64>,
    /// Requests completed by the clients so far.
    pub requests: u64,
}

pub fn proc_status(child: &Child, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", child.id())).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or_else(|| panic!("{field} in /proc/PID/status"))
}

pub fn open_fds(child: &Child) -> u64 {
    std::fs::read_dir(format!("/proc/{}/fd", child.id()))
        .unwrap()
        .count() as u64
}

/// The value of an unlabelled sample of `/metrics`, if it is there.
pub fn gauge(metrics: &str, name: &str) -> Option<u64> {
    metrics
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse::<f64>().ok())
        .map(|v| v as u64)
}

pub fn series(metrics: &str) -> u64 {
    metrics
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .count() as u64
}

/// One figure tracked for growth: its level just after warm-up and at the end.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Drift {
    pub name: &'static str,
    pub after_warmup: f64,
    pub end: f64,
}

impl Drift {
    /// Means of the first and of the last `n` samples after warm-up.
    pub fn of(
        name: &'static str,
        samples: &[Sample],
        warmup: f64,
        get: fn(&Sample) -> u64,
    ) -> Self {
        let steady: Vec<f64> = samples
            .iter()
            .filter(|s| s.t >= warmup)
            .map(|s| get(s) as f64)
            .collect();
        let n = (steady.len() / 4).clamp(1, 6);
        let mean = |xs: &[f64]| xs.iter().sum::<f64>() / xs.len().max(1) as f64;
        Self {
            name,
            after_warmup: mean(&steady[..n.min(steady.len())]),
            end: mean(&steady[steady.len().saturating_sub(n)..]),
        }
    }

    pub fn percent(&self) -> f64 {
        (self.end - self.after_warmup) / self.after_warmup.max(1.0) * 100.0
    }

    /// A count that grows by more than a quarter and more than `slack` is growing without bound
    /// for a soak whose load is steady.
    pub fn grows(&self, slack: f64) -> bool {
        self.end > self.after_warmup * 1.25 + slack
    }
}
