//! Client IP resolution, request ids and the forwarding headers sent upstream.
//!
//! Trust model: from a peer inside `client_ip.trusted_proxies`, only what that hop sets is believed:
//! `client_ip.header`, `X-Forwarded-For` and `X-Forwarded-Proto` (and `X-Forwarded-Host` /
//! `X-Forwarded-Prefix` with `client_ip.trust_forwarded_host`). From any other peer they are
//! replaced. Every other header that some framework reads as the client's address, scheme, host
//! or URL is removed from every request, so a client can never choose what an application sees.

use crate::config::ClientIpConfig;
use http::{HeaderMap, HeaderValue, header::HeaderName};
use pingora::http::RequestHeader;
use std::fmt::Write;
use std::net::IpAddr;

pub const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
pub const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
pub const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
pub const X_FORWARDED_PREFIX: HeaderName = HeaderName::from_static("x-forwarded-prefix");
pub const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// The same names as written on the wire. Pingora's header maps keep the case they are given, and
/// a `&'static str` name is stored as is, while a `HeaderName` of a non-standard header is copied
/// into a new allocation on every insert (and written in lower case).
pub const X_REQUEST_ID_WIRE: &str = "X-Request-Id";
const X_FORWARDED_FOR_WIRE: &str = "X-Forwarded-For";
const X_FORWARDED_PROTO_WIRE: &str = "X-Forwarded-Proto";
const X_FORWARDED_HOST_WIRE: &str = "X-Forwarded-Host";
const X_FORWARDED_PREFIX_WIRE: &str = "X-Forwarded-Prefix";
const X_REAL_IP_WIRE: &str = "X-Real-IP";

/// Headers that some framework, proxy or CDN reads as the client's address, the scheme, the host
/// or the URL, which this proxy does not set and no trusted hop is believed for (its
/// `client_ip.header` excepted): removed from every request. `X-Original-URL` / `X-Rewrite-URL`
/// would let a client choose another path than the one routing (and an `allow` list) decided on.
/// A name with `_` is removed too (as nginx ignores it by default): CGI-style servers (WSGI, Rack,
/// PHP) read `X_Forwarded_For` as `X-Forwarded-For`, which would slip past every name here.
/// A `match` on the lower-case name: one pass over the request's names, nothing hashed.
fn is_spoofable(name: &str) -> bool {
    name.contains('_') || is_spoofable_name(name)
}

fn is_spoofable_name(name: &str) -> bool {
    matches!(
        name,
        // The client's address.
        "forwarded"
            | "forwarded-for"
            | "x-forwarded"
            | "x-client-ip"
            | "true-client-ip"
            | "client-ip"
            | "x-cluster-client-ip"
            | "x-original-forwarded-for"
            | "x-originating-ip"
            | "x-remote-ip"
            | "x-remote-addr"
            | "x-proxyuser-ip"
            | "fastly-client-ip"
            | "cf-connecting-ip"
            | "cf-connecting-ipv6"
            | "x-envoy-external-address"
            // The scheme and port.
            | "x-forwarded-scheme"
            | "x-forwarded-protocol"
            | "x-forwarded-ssl"
            | "x-forwarded-port"
            | "x-forwarded-server"
            | "x-scheme"
            | "x-url-scheme"
            | "front-end-https"
            | "cf-visitor"
            // The host and the URL.
            | "x-original-host"
            | "x-host"
            | "x-original-url"
            | "x-original-uri"
            | "x-rewrite-url"
            | "x-forwarded-uri"
            | "x-forwarded-path"
            | "x-envoy-original-path"
            // A client certificate or an authenticated user: this proxy neither terminates TLS
            // nor authenticates, so no such header can be true here.
            | "x-forwarded-client-cert"
            | "ssl-client-cert"
            | "x-arr-clientcert"
            | "x-client-cert"
            | "x-forwarded-user"
            | "x-forwarded-email"
            | "x-forwarded-preferred-username"
            | "x-remote-user"
            | "x-webauth-user"
            | "remote-user"
    ) || name.starts_with("x-ssl-client-")
        || name.starts_with("x-auth-request-")
}

pub fn is_trusted(peer: IpAddr, policy: &ClientIpConfig) -> bool {
    let peer = peer.to_canonical();
    policy.trusted_proxies.iter().any(|net| net.contains(&peer))
}

/// The client's address: the TCP peer, unless the peer is a trusted proxy; then
/// `client_ip.header` if set and valid, else the right-most untrusted `X-Forwarded-For` hop.
pub fn client_ip(
    peer: IpAddr,
    trusted_peer: bool,
    policy: &ClientIpConfig,
    headers: &HeaderMap,
) -> IpAddr {
    let peer = peer.to_canonical();
    if !trusted_peer {
        return peer;
    }
    if let Some(name) = &policy.header
        && let Some(ip) = headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .and_then(|s| s.trim().parse::<IpAddr>().ok())
    {
        return ip.to_canonical();
    }
    let mut client = peer;
    for value in headers.get_all(X_FORWARDED_FOR).iter().rev() {
        let Ok(list) = value.to_str() else {
            return client;
        };
        for hop in list.rsplit(',') {
            let Some(ip) = parse_hop(hop.trim()) else {
                return client;
            };
            client = ip;
            if !is_trusted(ip, policy) {
                return ip;
            }
        }
    }
    client
}

/// An `X-Forwarded-For` entry: a bare IP, optionally `ip:port` or `[ipv6]:port`.
fn parse_hop(s: &str) -> Option<IpAddr> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    s.parse::<std::net::SocketAddr>()
        .ok()
        .map(|a| a.ip().to_canonical())
}

/// HTTP/2 may split `cookie` into one field per crumb (RFC 9113 §8.2.3; Go's client does); an
/// HTTP/1.1 upstream must get them as one field joined with `; ` (Django reads one Cookie line).
pub fn join_cookie_crumbs(req: &mut RequestHeader) {
    let mut crumbs = req.headers.get_all(http::header::COOKIE).iter();
    let (Some(_), Some(_)) = (crumbs.next(), crumbs.next()) else {
        return;
    };
    let mut joined = Vec::new();
    for crumb in &req.headers.get_all(http::header::COOKIE) {
        if !joined.is_empty() {
            joined.extend_from_slice(b"; ");
        }
        joined.extend_from_slice(crumb.as_bytes());
    }
    if let Ok(value) = HeaderValue::from_bytes(&joined) {
        let _ = req.insert_header(http::header::COOKIE, value);
    }
}

/// 128 random bits as 32 lower-case hex digits.
pub fn new_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut out = [0u8; 32];
    let r = fastrand::u128(..);
    for (i, slot) in out.iter_mut().enumerate() {
        *slot = HEX[((r >> (i * 4)) & 0xf) as usize];
    }
    // Hex digits are always a valid header value.
    HeaderValue::from_bytes(&out).unwrap_or(HeaderValue::from_static("0"))
}

/// Appends `ip` as text: an IPv4 address digit by digit (most clients; `core::fmt` costs about a
/// thousand instructions per address, a tenth of this module's per-request work), IPv6 by `fmt`.
fn push_ip(out: &mut String, ip: IpAddr) {
    let IpAddr::V4(v4) = ip else {
        let _ = write!(out, "{ip}");
        return;
    };
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            out.push('.');
        }
        if octet >= 100 {
            out.push(char::from(b'0' + octet / 100));
        }
        if octet >= 10 {
            out.push(char::from(b'0' + octet / 10 % 10));
        }
        out.push(char::from(b'0' + octet % 10));
    }
}

/// What the forwarding headers are built from.
pub struct Forwarding<'a> {
    pub peer: IpAddr,
    pub trusted_peer: bool,
    pub client: IpAddr,
    pub request_id: &'a HeaderValue,
    /// `X-Forwarded-Prefix` for `strip_prefix` routes.
    pub prefix: Option<&'a str>,
    /// The client-IP header of the policy; removed when the peer is not trusted.
    pub client_ip_header: Option<&'a HeaderName>,
    /// `client_ip.trust_forwarded_host`: a trusted peer's `X-Forwarded-Host` / `-Prefix` are kept.
    pub trust_forwarded_host: bool,
}

impl Forwarding<'_> {
    /// Sets X-Forwarded-For/-Proto/-Host/-Prefix, X-Real-IP and X-Request-Id; `Host` is kept.
    pub fn apply(&self, req: &mut RequestHeader) -> pingora::Result<()> {
        // First, so that a policy header the proxy also writes (`X-Real-IP`, say) is replaced,
        // not removed after being written.
        self.remove_spoofable(req);
        let mut xff = String::with_capacity(64);
        if self.trusted_peer {
            for v in req.headers.get_all(X_FORWARDED_FOR) {
                if let Ok(s) = v.to_str()
                    && !s.trim().is_empty()
                {
                    xff.push_str(s.trim());
                    xff.push_str(", ");
                }
            }
        }
        push_ip(&mut xff, self.peer.to_canonical());
        req.insert_header(X_FORWARDED_FOR_WIRE, xff)?;

        if !(self.trusted_peer && req.headers.contains_key(X_FORWARDED_PROTO)) {
            req.insert_header(X_FORWARDED_PROTO_WIRE, HeaderValue::from_static("http"))?;
        }
        let trust_host = self.trusted_peer && self.trust_forwarded_host;
        if !(trust_host && req.headers.contains_key(X_FORWARDED_HOST)) {
            let host = req.headers.get(http::header::HOST).cloned().or_else(|| {
                req.uri
                    .authority()
                    .and_then(|a| HeaderValue::from_str(a.as_str()).ok())
            });
            match host {
                Some(h) => req.insert_header(X_FORWARDED_HOST_WIRE, h)?,
                None => {
                    req.remove_header(&X_FORWARDED_HOST);
                }
            }
        }
        let outer_prefix = req
            .headers
            .get(X_FORWARDED_PREFIX)
            .filter(|_| trust_host)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.trim().trim_end_matches('/').to_owned())
            .filter(|v| !v.is_empty());
        match (outer_prefix, self.prefix) {
            // An outer proxy stripped its prefix before ours: the application lives below both.
            (Some(outer), Some(p)) => {
                let both = format!("{outer}{p}");
                req.insert_header(X_FORWARDED_PREFIX_WIRE, both)?;
            }
            (None, Some(p)) => req.insert_header(X_FORWARDED_PREFIX_WIRE, p)?,
            (Some(_), None) => {}
            (None, None) => {
                req.remove_header(&X_FORWARDED_PREFIX);
            }
        }
        let mut ip = String::with_capacity(40);
        push_ip(&mut ip, self.client);
        req.insert_header(X_REAL_IP_WIRE, ip)?;
        req.insert_header(X_REQUEST_ID_WIRE, self.request_id.clone())?;
        Ok(())
    }

    /// Removes [`is_spoofable`] headers, and the policy's client-IP header unless the peer is
    /// trusted (then it is what the hop set, and kept).
    fn remove_spoofable(&self, req: &mut RequestHeader) {
        let mut found: Vec<HeaderName> = Vec::new();
        for name in req.headers.keys() {
            let remove = if self.client_ip_header == Some(name) {
                !self.trusted_peer
            } else {
                is_spoofable(name.as_str())
            };
            if remove {
                found.push(name.clone());
            }
        }
        for name in &found {
            req.remove_header(name);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
pub(crate) mod tests {
    use super::*;

    fn policy(header: Option<&str>) -> ClientIpConfig {
        ClientIpConfig {
            trusted_proxies: vec![
                "10.0.0.0/8".parse().unwrap(),
                "192.168.1.1/32".parse().unwrap(),
            ],
            header: header.map(|h| HeaderName::from_bytes(h.as_bytes()).unwrap()),
            trust_forwarded_host: false,
        }
    }

    /// A header map of `pairs`, in order (also for the balancers' hash key tests).
    pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(
                HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn untrusted_peer_is_the_client_whatever_it_says() {
        let p = policy(Some("cf-connecting-ip"));
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("cf-connecting-ip", "2.2.2.2"),
        ]);
        let peer = ip("203.0.113.9");
        assert!(!is_trusted(peer, &p));
        assert_eq!(client_ip(peer, false, &p, &h), peer);
    }

    #[test]
    fn trusted_peer_header_wins() {
        let p = policy(Some("cf-connecting-ip"));
        let h = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("cf-connecting-ip", " 2.2.2.2 "),
        ]);
        assert_eq!(client_ip(ip("10.1.2.3"), true, &p, &h), ip("2.2.2.2"));
    }

    #[test]
    fn right_most_untrusted_xff_hop() {
        let p = policy(None);
        let h = headers(&[
            ("x-forwarded-for", "6.6.6.6, 7.7.7.7"),
            ("x-forwarded-for", "10.0.0.5, 192.168.1.1"),
        ]);
        assert_eq!(client_ip(ip("10.9.9.9"), true, &p, &h), ip("7.7.7.7"));
        let all_trusted = headers(&[("x-forwarded-for", "10.0.0.7, 10.0.0.5")]);
        assert_eq!(
            client_ip(ip("10.9.9.9"), true, &p, &all_trusted),
            ip("10.0.0.7")
        );
        let garbage = headers(&[("x-forwarded-for", "nonsense, 10.0.0.5")]);
        assert_eq!(
            client_ip(ip("10.9.9.9"), true, &p, &garbage),
            ip("10.0.0.5")
        );
        let with_port = headers(&[("x-forwarded-for", "[2001:db8::1]:443")]);
        assert_eq!(
            client_ip(ip("10.9.9.9"), true, &p, &with_port),
            ip("2001:db8::1")
        );
    }

    #[test]
    fn spoofable_names_include_any_spelling_with_underscores() {
        for name in [
            "x-client-ip",
            "x_forwarded_for",
            "x_real_ip",
            "cf_connecting_ip",
            "x-ssl-client-verify",
            "x-auth-request-email",
            "x-forwarded-client-cert",
        ] {
            assert!(is_spoofable(name), "{name}");
        }
        for name in [
            "x-forwarded-for",
            "x-forwarded-proto",
            "x-real-ip",
            "cookie",
            "x-csrftoken",
        ] {
            assert!(!is_spoofable(name), "{name}");
        }
    }

    #[test]
    fn mapped_ipv4_peers_match_ipv4_cidrs() {
        assert!(is_trusted(ip("::ffff:10.1.1.1"), &policy(None)));
    }

    #[test]
    fn addresses_are_written_as_std_writes_them() {
        for text in [
            "0.0.0.0",
            "9.10.99.100",
            "127.0.0.1",
            "203.0.113.255",
            "255.255.255.255",
            "2001:db8::1",
            "::ffff:1.2.3.4",
        ] {
            let mut out = String::from("x, ");
            push_ip(&mut out, ip(text));
            assert_eq!(out, format!("x, {}", ip(text)));
        }
    }

    #[test]
    fn request_ids_are_new_each_time() {
        assert_ne!(new_request_id(), new_request_id());
    }
}
