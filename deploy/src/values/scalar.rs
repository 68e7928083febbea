//! Scalar value types that check themselves while deserializing, so a bad value's error carries its line.
//!
//! Each deserializes as `#[serde(try_from = "…")]` its raw form (mostly a `String`), checked by its
//! `TryFrom` whose `String` error is the message the loader shows.

use serde::Deserialize;
use std::fmt;

/// A DNS-1123 label: at most 63 lower-case alphanumerics or '-', starting and ending alphanumeric.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct DnsLabel(pub String);

impl Default for DnsLabel {
    fn default() -> Self {
        DnsLabel("trinity".into())
    }
}

/// Whether `s` is a DNS-1123 label.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// Whether `s` is a DNS-1123 subdomain: labels joined by '.', at most 253 bytes.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

impl TryFrom<String> for DnsLabel {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if is_dns1123_label(&s) {
            Ok(DnsLabel(s))
        } else {
            Err(format!(
                "{s:?} is not a DNS-1123 label (lower-case letters, digits and '-', at most 63)"
            ))
        }
    }
}

/// A duration written like `500ms`, `2s`, `5m`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Duration(pub std::time::Duration);

impl Duration {
    pub const fn from_secs(s: u64) -> Self {
        Duration(std::time::Duration::from_secs(s))
    }
}

impl fmt::Display for Duration {
    /// The proxy config's syntax: whole seconds as `Ns`, otherwise `Nms`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms.is_multiple_of(1000) {
            write!(f, "{}s", ms / 1000)
        } else {
            write!(f, "{ms}ms")
        }
    }
}

impl TryFrom<String> for Duration {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        humantime::parse_duration(&s)
            .map(Duration)
            .map_err(|_| format!("expected a duration like \"2s\", got {s:?}"))
    }
}

/// A Kubernetes resource quantity such as `512Mi`, `250m`, `1`, `10Gi`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "quantity::Raw")]
pub struct Quantity(pub String);

/// Whether `s` is a quantity: a decimal number and an optional binary, decimal or exponent suffix.
pub fn is_quantity(s: &str) -> bool {
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    let number_ok =
        !number.is_empty() && number != "." && number.chars().filter(|c| *c == '.').count() <= 1;
    const SUFFIXES: [&str; 13] = [
        "", "Ki", "Mi", "Gi", "Ti", "Pi", "Ei", "n", "u", "m", "k", "M", "G",
    ];
    let suffix_ok = SUFFIXES.contains(&suffix) || ["T", "P", "E"].contains(&suffix);
    number_ok && suffix_ok
}

/// [`Quantity`]'s raw form, named `Raw`: serde's error when neither variant fits names the type
/// ("data did not match any variant of untagged enum Raw").
mod quantity {
    /// What a quantity is written as: text, or a bare non-negative integer.
    #[derive(serde::Deserialize)]
    #[serde(untagged)]
    pub enum Raw {
        Text(String),
        Int(u64),
    }
}

impl TryFrom<quantity::Raw> for Quantity {
    type Error = String;

    fn try_from(raw: quantity::Raw) -> Result<Self, String> {
        let s = match raw {
            quantity::Raw::Text(s) => s,
            quantity::Raw::Int(n) => n.to_string(),
        };
        if is_quantity(&s) {
            Ok(Quantity(s))
        } else {
            Err(format!(
                "expected a quantity like \"512Mi\" or \"250m\", got {s:?}"
            ))
        }
    }
}

/// An hour of the day, 0-23.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "u8")]
pub struct Hour(pub u8);

impl TryFrom<u8> for Hour {
    type Error = String;

    fn try_from(raw: u8) -> Result<Self, String> {
        if raw < 24 {
            Ok(Hour(raw))
        } else {
            Err(format!("expected an hour 0-23, got {raw}"))
        }
    }
}

/// A CIDR block such as `10.0.0.0/8` or `fd00::/8`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Cidr(pub String);

/// Whether `s` is `address/prefix` with a prefix that fits the address family.
pub fn is_cidr(s: &str) -> bool {
    let Some((addr, len)) = s.split_once('/') else {
        return false;
    };
    let Ok(len) = len.parse::<u8>() else {
        return false;
    };
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(_)) => len <= 32,
        Ok(std::net::IpAddr::V6(_)) => len <= 128,
        Err(_) => false,
    }
}

impl TryFrom<String> for Cidr {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if is_cidr(&s) {
            Ok(Cidr(s))
        } else {
            Err(format!("expected a CIDR like \"10.0.0.0/8\", got {s:?}"))
        }
    }
}

/// A network block with no host bits set, such as `10.244.0.0/16` or `fd00::/8` (not
/// `10.244.1.0/16`): what Python's `ipaddress.ip_network` accepts, which uvicorn (0.31 or newer) and
/// gunicorn (24.1 or newer) parse `FORWARDED_ALLOW_IPS` with; a value it refuses stops the server.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Network(pub String);

/// Whether `s` is a [`Cidr`] whose address has no bits set beyond its prefix.
pub fn is_network(s: &str) -> bool {
    is_cidr(s) && s.parse::<ipnet::IpNet>().is_ok_and(|n| n.trunc() == n)
}

impl TryFrom<String> for Network {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if is_network(&s) {
            Ok(Network(s))
        } else if is_cidr(&s) {
            Err(format!(
                "{s:?} has host bits set: name the network, like \"10.244.0.0/16\""
            ))
        } else {
            Err(format!(
                "expected a network like \"10.244.0.0/16\", got {s:?}"
            ))
        }
    }
}

/// A replica count, 0-1000.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(try_from = "i64")]
pub struct Replicas(pub i32);

impl TryFrom<i64> for Replicas {
    type Error = String;

    fn try_from(raw: i64) -> Result<Self, String> {
        match i32::try_from(raw) {
            Ok(n) if (0..=1000).contains(&n) => Ok(Replicas(n)),
            _ => Err(format!("expected 0-1000 replicas, got {raw}")),
        }
    }
}

/// An environment variable name: a letter or `_`, then letters, digits or `_`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct EnvName(pub String);

/// Whether `s` is a portable environment variable name (POSIX: `[A-Za-z_][A-Za-z0-9_]*`).
pub fn is_env_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

impl TryFrom<String> for EnvName {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if is_env_name(&s) {
            Ok(EnvName(s))
        } else {
            Err(format!(
                "expected an environment variable name like \"LOG_LEVEL\", got {s:?}"
            ))
        }
    }
}

/// A Kubernetes label key: an optional DNS subdomain prefix and '/', then a name of at most 63
/// alphanumerics, '-', '_' or '.', starting and ending alphanumeric.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(try_from = "String")]
pub struct LabelKey(pub String);

/// A Kubernetes label value: empty, or a label name (see [`LabelKey`]).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct LabelValue(pub String);

fn is_label_name(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"-_.".contains(c))
        && b[0].is_ascii_alphanumeric()
        && b[b.len() - 1].is_ascii_alphanumeric()
}

/// Whether `s` is a label key, `[prefix/]name`.
pub fn is_label_key(s: &str) -> bool {
    match s.split_once('/') {
        Some((prefix, name)) => is_dns1123_subdomain(prefix) && is_label_name(name),
        None => is_label_name(s),
    }
}

impl TryFrom<String> for LabelKey {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if is_label_key(&s) {
            Ok(LabelKey(s))
        } else {
            Err(format!(
                "{s:?} is not a label key ([prefix/]name, name at most 63 alphanumerics, '-', '_', '.')"
            ))
        }
    }
}

impl TryFrom<String> for LabelValue {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if s.is_empty() || is_label_name(&s) {
            Ok(LabelValue(s))
        } else {
            Err(format!(
                "{s:?} is not a label value (at most 63 alphanumerics, '-', '_', '.')"
            ))
        }
    }
}

/// An IANA time zone name such as `UTC` or `America/New_York` (the API server checks it exists).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct TimeZone(pub String);

/// Whether `s` is shaped like a tz database name: `/`-separated parts of letters, digits, `_`, `-`, `+`.
pub fn is_time_zone(s: &str) -> bool {
    !s.is_empty()
        && s.split('/').all(|part| {
            part.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "_-+".contains(c))
        })
}

impl TryFrom<String> for TimeZone {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if is_time_zone(&s) {
            Ok(TimeZone(s))
        } else {
            Err(format!(
                "expected an IANA time zone like \"Europe/Berlin\" or \"UTC\", got {s:?}"
            ))
        }
    }
}

impl Quantity {
    /// The quantity in bytes, for memory and storage sizes (binary or decimal suffix, or none).
    pub fn bytes(&self) -> Option<u128> {
        let s = self.0.as_str();
        let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
        let (number, suffix) = s.split_at(end);
        let number: u128 = number.parse().ok()?;
        let scale: u128 = match suffix {
            "" => 1,
            "Ki" => 1 << 10,
            "Mi" => 1 << 20,
            "Gi" => 1 << 30,
            "Ti" => 1 << 40,
            "Pi" => 1 << 50,
            "k" => 1_000,
            "M" => 1_000_000,
            "G" => 1_000_000_000,
            "T" => 1_000_000_000_000,
            _ => return None,
        };
        number.checked_mul(scale)
    }
}
