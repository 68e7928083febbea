//! Endpoint choice among the candidates a pool allows (eligible and not yet tried):
//! round robin, least request (power of two random choices on in-flight counts), and consistent
//! hashing on a ring of virtual nodes (adding one of n endpoints moves ~1/n of keys; a key whose
//! endpoint is not a candidate goes to the next one clockwise).

use crate::config::LoadBalancing;
use crate::upstream::Endpoint;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

/// Virtual nodes per endpoint on the hash ring.
const RING_POINTS: u32 = 100;

pub struct Balancer {
    kind: Kind,
    next: AtomicUsize,
}

enum Kind {
    RoundRobin,
    LeastRequest,
    Hash(Vec<(u64, u32)>),
}

impl Balancer {
    pub fn new(lb: &LoadBalancing, endpoints: &[Arc<Endpoint>]) -> Self {
        let kind = match lb {
            LoadBalancing::RoundRobin => Kind::RoundRobin,
            LoadBalancing::LeastRequest => Kind::LeastRequest,
            LoadBalancing::Hash(_) => Kind::Hash(ring(endpoints)),
        };
        Self {
            kind,
            next: AtomicUsize::new(0),
        }
    }

    /// The index of the chosen endpoint among `endpoints` for which `candidate` holds.
    pub fn pick(
        &self,
        endpoints: &[Arc<Endpoint>],
        candidate: impl Fn(usize) -> bool,
        key: Option<u64>,
    ) -> Option<usize> {
        let n = endpoints.len();
        if n == 0 {
            return None;
        }
        match (&self.kind, key) {
            (Kind::Hash(ring), Some(key)) => {
                let start = ring.partition_point(|(point, _)| *point < key);
                (0..ring.len())
                    .map(|k| ring[(start + k) % ring.len()].1 as usize)
                    .find(|i| candidate(*i))
            }
            (Kind::LeastRequest, _) if n > 1 => {
                // Two *distinct* random candidates (when there are two): with a small pool, drawing
                // the same one twice would ignore load a quarter of the time or more.
                let a = first_from(n, fastrand::usize(..n), &candidate)?;
                let b = first_from(n, a + 1 + fastrand::usize(..n - 1), &|i| {
                    i != a && candidate(i)
                })
                .unwrap_or(a);
                Some(if endpoints[b].in_flight() < endpoints[a].in_flight() {
                    b
                } else {
                    a
                })
            }
            _ => first_from(n, self.next.fetch_add(1, Ordering::Relaxed), &candidate),
        }
    }
}

fn first_from(n: usize, start: usize, candidate: &impl Fn(usize) -> bool) -> Option<usize> {
    (0..n)
        .map(|k| start.wrapping_add(k) % n)
        .find(|i| candidate(*i))
}

fn ring(endpoints: &[Arc<Endpoint>]) -> Vec<(u64, u32)> {
    let mut ring: Vec<(u64, u32)> = endpoints
        .iter()
        .enumerate()
        .flat_map(|(i, ep)| {
            let base = hash_bytes(ep.label.as_bytes());
            (0..RING_POINTS).map(move |v| {
                (
                    mix(base ^ u64::from(v).wrapping_mul(0x9e37_79b9_7f4a_7c15)),
                    i as u32,
                )
            })
        })
        .collect();
    ring.sort_unstable();
    ring
}

/// FNV-1a, finished with a 64-bit mixer for an even spread on the ring.
pub fn hash_bytes(bytes: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in bytes {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    mix(h)
}

fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}
