//! Per-route access policy: `allow`, `rate_limit`, `max_body_size`.

use super::convert::{Checker, parse_cidr};
use super::file::FileRateLimit;
use super::{RateLimit, RoutePolicy};

/// Largest `buffer_request_body`: Pingora keeps at most 64 KiB of a body for replay.
const MAX_BUFFERED_BODY: usize = 64 * 1024;

/// Highest `rate_limit.per_second` accepted.
const MAX_RATE: f64 = 1_000_000.0;

/// Whether `per_second` is a rate `rate_limit` takes (also for a Kubernetes object's).
pub(crate) fn check_rate(per_second: f64) -> Result<(), String> {
    if per_second > 0.0 && per_second <= MAX_RATE {
        Ok(())
    } else {
        Err(format!("must be greater than 0 and at most {MAX_RATE}"))
    }
}

/// Whether `n` bytes fit `buffer_request_body` (also for a Kubernetes object's).
pub(crate) fn check_buffered(n: usize) -> Result<(), &'static str> {
    if n > MAX_BUFFERED_BODY {
        Err("at most 64KiB (the body is held in Pingora's retry buffer of that size)")
    } else {
        Ok(())
    }
}

impl Checker {
    pub(super) fn route_policy(
        &mut self,
        base: &str,
        allow: Option<Vec<String>>,
        rate_limit: Option<FileRateLimit>,
        max_body_size: Option<serde_yaml::Value>,
        buffer_request_body: Option<serde_yaml::Value>,
    ) -> RoutePolicy {
        let mut policy = RoutePolicy::default();
        if let Some(allow) = allow {
            if allow.is_empty() {
                self.problem(
                    format!("{base}.allow"),
                    "an empty list would refuse everyone: list CIDRs, or leave `allow` out",
                );
            }
            for (i, s) in allow.iter().enumerate() {
                match parse_cidr(s) {
                    Some(net) => policy.allow.push(net),
                    None => self.problem(
                        format!("{base}.allow[{i}]"),
                        format!("expected a CIDR like \"10.0.0.0/8\" or an IP address, got {s:?}"),
                    ),
                }
            }
        }
        if let Some(r) = rate_limit {
            match check_rate(r.per_second) {
                Err(why) => self.problem(format!("{base}.rate_limit.per_second"), why),
                Ok(()) => {
                    policy.rate_limit = Some(RateLimit {
                        per_second: r.per_second,
                        burst: r.burst,
                    });
                }
            }
        }
        if let Some(v) = max_body_size {
            policy.max_body_size = self
                .size(&format!("{base}.max_body_size"), &v)
                .map(|n| n as u64);
        }
        if let Some(v) = buffer_request_body {
            let path = format!("{base}.buffer_request_body");
            policy.buffer_request_body = self.size(&path, &v).and_then(|n| {
                check_buffered(n)
                    .map_err(|why| self.problem(path, why))
                    .ok()?;
                Some(n as u64)
            });
        }
        policy
    }
}
