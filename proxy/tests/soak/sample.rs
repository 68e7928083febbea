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

/// One figure tracked for growth, in levels: a level is the median of a block of samples (a
/// minute, or a quarter of the steady window when that is shorter), so a sample caught mid-burst
/// does not move it.
///
/// The verdict compares the end with the highest level of the first half of the steady window:
/// a leak keeps making new highs, while a figure that moves with what is in flight (streams
/// open, an upload, a hung replica's requests) comes back within the range it already visited.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Drift {
    pub name: &'static str,
    /// The first block's level after warm-up.
    pub after_warmup: f64,
    /// The highest block level in the first half of the steady window.
    pub early_high: f64,
    /// The last block's level.
    pub end: f64,
}

/// Samples per level: a minute of them, at most a quarter of the steady window, at least one.
fn block_len(steady: usize) -> usize {
    let minute = (60.0 / crate::SAMPLE_EVERY.as_secs_f64()).round() as usize;
    (steady / 4).clamp(1, minute.max(1))
}

fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(f64::total_cmp);
    match v.len() {
        0 => 0.0,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

impl Drift {
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
        let n = block_len(steady.len());
        let early: Vec<f64> = steady[..steady.len().div_ceil(2)]
            .chunks(n)
            .map(median)
            .collect();
        Self {
            name,
            after_warmup: early.first().copied().unwrap_or(0.0),
            early_high: early.iter().copied().fold(0.0, f64::max),
            end: median(&steady[steady.len().saturating_sub(n)..]),
        }
    }

    /// The end against the first level after warm-up (reported).
    pub fn percent(&self) -> f64 {
        (self.end - self.after_warmup) / self.after_warmup.max(1.0) * 100.0
    }

    /// How far the end is above the first half's highest level (judged).
    pub fn growth_percent(&self) -> f64 {
        (self.end - self.early_high) / self.early_high.max(1.0) * 100.0
    }

    /// A count that ends more than a quarter and more than `slack` above the first half's
    /// highest level is growing without bound for a soak whose load is steady.
    pub fn grows(&self, slack: f64) -> bool {
        self.end > self.early_high * 1.25 + slack
    }
}
