//! An Ingress's per-route options from its annotations, for every route of that Ingress.
//!
//! Ours, in the same notation as the config file's route keys:
//!
//! | annotation | route key |
//! |---|---|
//! | `trinity.io/allow` | `allow`: comma-separated CIDRs or IPs |
//! | `trinity.io/rate-limit` | `rate_limit.per_second` |
//! | `trinity.io/rate-limit-burst` | `rate_limit.burst` (with `rate-limit`) |
//! | `trinity.io/max-body-size` | `max_body_size`: a size (`10MiB`) |
//! | `trinity.io/buffer-request-body` | `buffer_request_body`: a size, at most `64KiB` |
//! | `trinity.io/connect-timeout`, `trinity.io/read-timeout` | `timeouts.connect`, `timeouts.read`: durations (`2s`) |
//!
//! The ingress-nginx annotations people carry over, read as ingress-nginx reads them (ours win
//! when both are given): `proxy-body-size` (`8m`; `0` is no limit), `proxy-read-timeout`
//! (seconds), `whitelist-source-range` / `allowlist-source-range` (CIDRs). Any other
//! `nginx.ingress.kubernetes.io/` annotation, an unknown `trinity.io/` one, and a value that
//! does not parse are problems (the route is served without them).

use crate::config::{
    RateLimit, RoutePolicy, Timeouts, check_buffered, check_rate, parse_cidr, parse_duration,
    parse_size,
};
use std::collections::BTreeMap;
use std::time::Duration;

const OURS: &str = "trinity.io/";
const NGINX: &str = "nginx.ingress.kubernetes.io/";
const RATE_LIMIT: &str = "trinity.io/rate-limit";
const RATE_LIMIT_BURST: &str = "trinity.io/rate-limit-burst";

/// The options every route of one Ingress gets.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RouteOptions {
    pub policy: RoutePolicy,
    pub timeouts: Timeouts,
}

type Setter = fn(&mut RouteOptions, &str) -> Result<(), String>;

/// The annotations read, each with what it sets; ingress-nginx's first, so that ours win.
const READ: [(&str, Setter); 9] = [
    (
        "nginx.ingress.kubernetes.io/whitelist-source-range",
        |o, v| {
            o.policy.allow = networks(v)?;
            Ok(())
        },
    ),
    (
        "nginx.ingress.kubernetes.io/allowlist-source-range",
        |o, v| {
            o.policy.allow = networks(v)?;
            Ok(())
        },
    ),
    ("nginx.ingress.kubernetes.io/proxy-body-size", |o, v| {
        o.policy.max_body_size = Some(size(v)?).filter(|n| *n > 0);
        Ok(())
    }),
    ("nginx.ingress.kubernetes.io/proxy-read-timeout", |o, v| {
        let secs: u64 = v.trim().parse().map_err(|_| "expected whole seconds")?;
        o.timeouts.read = positive(Duration::from_secs(secs))?;
        Ok(())
    }),
    ("trinity.io/allow", |o, v| {
        o.policy.allow = networks(v)?;
        Ok(())
    }),
    ("trinity.io/max-body-size", |o, v| {
        o.policy.max_body_size = Some(size(v)?);
        Ok(())
    }),
    ("trinity.io/buffer-request-body", |o, v| {
        let n = size(v)?;
        check_buffered(n as usize)?;
        o.policy.buffer_request_body = Some(n);
        Ok(())
    }),
    ("trinity.io/connect-timeout", |o, v| {
        o.timeouts.connect = positive(duration(v)?)?;
        Ok(())
    }),
    ("trinity.io/read-timeout", |o, v| {
        o.timeouts.read = positive(duration(v)?)?;
        Ok(())
    }),
];

/// The options `annotations` ask for, and a message for each one that cannot be applied.
pub fn route_options(
    annotations: Option<&BTreeMap<String, String>>,
) -> (RouteOptions, Vec<String>) {
    let mut opts = RouteOptions::default();
    let mut problems = Vec::new();
    let Some(all) = annotations else {
        return (opts, problems);
    };
    let mut bad = |key: &str, v: &str, why: String| {
        problems.push(format!("annotation {key}: {why}, got {v:?}"))
    };
    for (key, set) in READ {
        if let Some(v) = all.get(key)
            && let Err(why) = set(&mut opts, v)
        {
            bad(key, v, why);
        }
    }
    if let Some(v) = all.get(RATE_LIMIT) {
        match rate_limit(v, all.get(RATE_LIMIT_BURST).map(String::as_str)) {
            Ok(r) => opts.policy.rate_limit = Some(r),
            Err(why) => bad(RATE_LIMIT, v, why),
        }
    }
    problems.extend(all.keys().filter_map(|k| unknown(k, all)));
    (opts, problems)
}

/// The problem with an annotation in our or ingress-nginx's space that is not read.
fn unknown(key: &str, all: &BTreeMap<String, String>) -> Option<String> {
    if READ.iter().any(|(k, _)| *k == key) || key == RATE_LIMIT {
        return None;
    }
    if key == RATE_LIMIT_BURST {
        let alone = !all.contains_key(RATE_LIMIT);
        return alone.then(|| format!("annotation {key} needs {RATE_LIMIT}; ignored"));
    }
    if key.starts_with(OURS) {
        return Some(format!(
            "annotation {key} is not a trinity.io annotation; ignored"
        ));
    }
    let name = key.strip_prefix(NGINX)?;
    if name == "ssl-redirect" || name == "force-ssl-redirect" {
        return Some(format!(
            "annotation {key} is not supported until TLS listeners exist; ignored"
        ));
    }
    Some(format!(
        "annotation {key} is an ingress-nginx annotation trinity-proxy does not support; ignored"
    ))
}

fn networks(v: &str) -> Result<Vec<ipnet::IpNet>, String> {
    let nets: Option<Vec<_>> = v.split(',').map(|s| parse_cidr(s.trim())).collect();
    match nets {
        Some(n) if !n.is_empty() => Ok(n),
        _ => Err("expected comma-separated CIDRs like \"10.0.0.0/8\" or IP addresses".into()),
    }
}

fn size(v: &str) -> Result<u64, String> {
    parse_size(v)
        .map(|n| n as u64)
        .ok_or_else(|| "expected a size like \"10MiB\" or \"8m\"".into())
}

fn duration(v: &str) -> Result<Duration, String> {
    parse_duration(v).ok_or_else(|| "expected a duration like \"30s\"".into())
}

fn positive(d: Duration) -> Result<Duration, String> {
    if d.is_zero() {
        Err("must be more than zero".into())
    } else {
        Ok(d)
    }
}

fn rate_limit(per_second: &str, burst: Option<&str>) -> Result<RateLimit, String> {
    let per_second: f64 = per_second
        .trim()
        .parse()
        .map_err(|_| "expected requests per second")?;
    check_rate(per_second)?;
    let burst = match burst {
        None => 0,
        Some(b) => b
            .trim()
            .parse()
            .map_err(|_| format!("its burst {b:?} is not a whole number"))?,
    };
    Ok(RateLimit { per_second, burst })
}

#[cfg(test)]
#[path = "annotations_tests.rs"]
mod tests;
