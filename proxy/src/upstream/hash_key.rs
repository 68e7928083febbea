//! The `hash` balancing key of a request: the hash of a header's value, of a cookie's value or
//! of the client IP, fed to the consistent-hash ring of `balance`.

use super::hash_bytes;
use crate::config::HashKey;
use http::HeaderMap;
use std::net::IpAddr;

/// The key of a request with `headers` from `client`; `None` when the header or cookie is absent
/// (the pool then balances round-robin).
pub fn hash_key(key: &HashKey, headers: &HeaderMap, client: IpAddr) -> Option<u64> {
    match key {
        HashKey::Header(name) => headers.get(name).map(|v| hash_bytes(v.as_bytes())),
        HashKey::Cookie(name) => headers
            .get_all(http::header::COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(';'))
            .find_map(|pair| {
                let (k, v) = pair.trim().split_once('=')?;
                (k == name).then(|| hash_bytes(v.as_bytes()))
            }),
        HashKey::ClientIp => Some(match client {
            IpAddr::V4(ip) => hash_bytes(&ip.octets()),
            IpAddr::V6(ip) => hash_bytes(&ip.octets()),
        }),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;
    use crate::headers::tests::headers;
    use http::HeaderName;

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, 9));

    #[test]
    fn a_header_key_hashes_its_value_or_is_absent() {
        let key = HashKey::Header(HeaderName::from_static("x-user"));
        let h = headers(&[("x-user", "4711")]);
        assert_eq!(hash_key(&key, &h, CLIENT), Some(hash_bytes(b"4711")));
        assert_eq!(hash_key(&key, &headers(&[]), CLIENT), None);
    }

    #[test]
    fn a_cookie_key_finds_its_pair_in_any_crumb() {
        let key = HashKey::Cookie("session".into());
        let h = headers(&[("cookie", "a=1"), ("cookie", "sessions=no; session=abc")]);
        assert_eq!(hash_key(&key, &h, CLIENT), Some(hash_bytes(b"abc")));
        let other = headers(&[("cookie", "a=1; sessionid=abc")]);
        assert_eq!(hash_key(&key, &other, CLIENT), None);
    }

    #[test]
    fn the_client_ip_key_hashes_the_address_octets() {
        let h = headers(&[("x-user", "4711")]);
        assert_eq!(
            hash_key(&HashKey::ClientIp, &h, CLIENT),
            Some(hash_bytes(&[203, 0, 113, 9]))
        );
        let v6: IpAddr = "2001:db8::1".parse().unwrap();
        let IpAddr::V6(octets) = v6 else {
            unreachable!()
        };
        assert_eq!(
            hash_key(&HashKey::ClientIp, &h, v6),
            Some(hash_bytes(&octets.octets()))
        );
    }
}
