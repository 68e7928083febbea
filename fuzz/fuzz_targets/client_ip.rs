//! Client-IP resolution from `X-Forwarded-For` and a client-IP header a trusted hop may set: any
//! header values give the peer or an address they name, never a panic.
#![no_main]

use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;
use trinity_proxy::config::ClientIpConfig;
use trinity_proxy::headers::{client_ip, is_trusted};

fuzz_target!(|data: &[u8]| {
    let policy = ClientIpConfig {
        trusted_proxies: vec![
            "10.0.0.0/8".parse().unwrap(),
            "2001:db8::/32".parse().unwrap(),
        ],
        header: Some(http::HeaderName::from_static("cf-connecting-ip")),
        trust_forwarded_host: false,
    };
    let mut headers = HeaderMap::new();
    for (i, part) in data.split(|b| *b == b'\n').enumerate() {
        let Ok(value) = HeaderValue::from_bytes(part) else {
            continue;
        };
        let name = if i % 4 == 3 {
            "cf-connecting-ip"
        } else {
            "x-forwarded-for"
        };
        headers.append(name, value);
    }
    let peer: IpAddr = "10.1.2.3".parse().unwrap();
    let got = client_ip(peer, is_trusted(peer, &policy), &policy, &headers);
    let named = data.split(|b| matches!(b, b'\n' | b',')).any(|p| {
        let p = String::from_utf8_lossy(p);
        let p = p.trim();
        let ip = p
            .parse::<IpAddr>()
            .ok()
            .or_else(|| p.parse::<std::net::SocketAddr>().ok().map(|a| a.ip()));
        ip.is_some_and(|ip| ip.to_canonical() == got)
    });
    assert!(got == peer || named, "{got} appears nowhere in the headers");
});
