//! Values that name places: the public URL browsers use and the route prefixes of the proxy.

use serde::Deserialize;

/// The address browsers use, `http(s)://host[:port]`, no path (a trailing `/` is dropped).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct PublicUrl {
    /// `http` or `https`.
    pub scheme: String,
    /// Host name or IP address (IPv6 in brackets), lower-case.
    pub host: String,
    pub port: Option<u16>,
}

impl Default for PublicUrl {
    fn default() -> Self {
        PublicUrl {
            scheme: "http".into(),
            host: "localhost".into(),
            port: Some(8080),
        }
    }
}

impl PublicUrl {
    /// `scheme://host[:port]`: what a browser sends as `Origin`.
    pub fn origin(&self) -> String {
        match self.port {
            Some(p) => format!("{}://{}:{p}", self.scheme, self.host),
            None => format!("{}://{}", self.scheme, self.host),
        }
    }

    /// Parses `http(s)://host[:port][/]`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let expected = || format!("expected a URL like \"https://trinity.example.com\", got {s:?}");
        let (scheme, rest) = s.split_once("://").ok_or_else(expected)?;
        if scheme != "http" && scheme != "https" {
            return Err(format!("the scheme must be http or https, got {s:?}"));
        }
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.contains(['/', '?', '#', '@']) {
            return Err(format!(
                "give the origin only (no path, query or user), got {s:?}"
            ));
        }
        let (host, port) = match authority.rsplit_once(':') {
            // An IPv6 literal's own colons sit inside the brackets.
            Some((h, p)) if !p.contains(']') => {
                let port = p
                    .parse::<u16>()
                    .ok()
                    .filter(|p| *p > 0)
                    .ok_or_else(expected)?;
                (h, Some(port))
            }
            _ => (authority, None),
        };
        let valid_host = if let Some(v6) = host.strip_prefix('[').and_then(|h| h.strip_suffix(']'))
        {
            v6.parse::<std::net::Ipv6Addr>().is_ok()
        } else {
            // Host names are case-insensitive.
            super::is_dns1123_subdomain(&host.to_ascii_lowercase())
        };
        if !valid_host {
            return Err(expected());
        }
        Ok(PublicUrl {
            scheme: scheme.to_owned(),
            host: host.to_ascii_lowercase(),
            port,
        })
    }
}

impl TryFrom<String> for PublicUrl {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        PublicUrl::parse(&s)
    }
}

/// A path prefix of a proxy route: starts with `/`, no trailing `/`, not `/` alone, no `..` or
/// `//`, no query or fragment.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(try_from = "String")]
pub struct Prefix(pub String);

/// Whether `s` is a route prefix the proxy matches on segment boundaries.
pub fn is_prefix(s: &str) -> bool {
    s.len() > 1
        && s.starts_with('/')
        && !s.ends_with('/')
        && s[1..]
            .split('/')
            .all(|seg| !seg.is_empty() && seg != "." && seg != "..")
        && s.chars()
            .all(|c| c.is_ascii_graphic() && !matches!(c, '?' | '#' | '%' | '\\'))
}

impl TryFrom<String> for Prefix {
    type Error = String;

    fn try_from(s: String) -> Result<Self, String> {
        if is_prefix(&s) {
            Ok(Prefix(s))
        } else {
            Err(format!(
                "expected a path prefix like \"/static/admin\" (leading '/', no trailing '/'), got {s:?}"
            ))
        }
    }
}
