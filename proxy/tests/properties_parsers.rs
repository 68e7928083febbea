//! Properties of the pure parsers an anonymous client reaches: path normalisation and client-IP
//! resolution; and of the config's duration and size values.
#![allow(clippy::unwrap_used, reason = "tests")]

use http::{HeaderMap, HeaderValue};
use ipnet::IpNet;
use proptest::prelude::*;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;
use trinity_proxy::config::{ClientIpConfig, parse_duration, parse_size};
use trinity_proxy::headers::{client_ip, is_trusted};
use trinity_proxy::path::{NormalizeError, normalize};

fn unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

fn hex(c: u8) -> Option<u8> {
    (c as char).to_digit(16).map(|d| d as u8)
}

/// Decodes every `%XX` escape (the reference for "the same bytes, however escaped").
fn decode_all(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            out.push(hex(b[i + 1]).unwrap() << 4 | hex(b[i + 2]).unwrap());
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    out
}

/// Paths of a hostile client: dot segments plain and escaped, doubled slashes, escapes of
/// reserved and unreserved bytes, bad escapes, backslashes.
fn hostile_path() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        Just("/".to_owned()),
        Just(".".to_owned()),
        Just("..".to_owned()),
        Just("%2e".to_owned()),
        Just("%2E".to_owned()),
        Just("%".to_owned()),
        Just("\\".to_owned()),
        "[a-zA-Z0-9~_-]{1,3}",
        "%[0-9a-fA-F]{2}",
        "%[0-9a-zA-Z]{1,2}",
    ];
    proptest::collection::vec(token, 0..16).prop_map(|t| format!("/{}", t.concat()))
}

/// One segment the model below understands: names, dot segments plainly or escaped, empty.
fn segment() -> impl Strategy<Value = &'static str> {
    prop::sample::select(vec![
        "a", "b", "api", "c%20d", "...", "x.y", ".", "..", "%2e", "%2E%2e", ".%2e", "",
    ])
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    #[test]
    fn normalising_twice_changes_nothing(path in hostile_path()) {
        if let Ok(once) = normalize(&path) {
            let twice = normalize(&once).unwrap();
            prop_assert_eq!(&*twice, &*once);
        }
    }

    #[test]
    fn the_output_has_no_dot_segments_empty_segments_or_unreserved_escapes(path in hostile_path()) {
        let Ok(out) = normalize(&path) else { return Ok(()) };
        prop_assert!(out.starts_with('/'));
        prop_assert!(!out.contains("//"), "{out}");
        for seg in out[1..].split('/') {
            prop_assert!(seg != "." && seg != "..", "{out}");
        }
        prop_assert!(!out.contains('\\'));
        let b = out.as_bytes();
        for (i, _) in out.match_indices('%') {
            let (h, l) = (b.get(i + 1).copied().and_then(hex), b.get(i + 2).copied().and_then(hex));
            prop_assert!(h.is_some() && l.is_some(), "broken escape in {out}");
            let c = h.unwrap() << 4 | l.unwrap();
            prop_assert!(!unreserved(c) && c != b'/' && c != b'\\', "{out}: %{c:02x} should be gone");
        }
    }

    /// A small model of the segment walk: a path that climbs above the root is refused, never
    /// clamped; any other comes out as its resolved segments.
    #[test]
    fn never_above_the_root(segs in proptest::collection::vec(segment(), 0..10)) {
        let path = format!("/{}", segs.join("/"));
        let mut stack: Vec<String> = Vec::new();
        let mut climbs = false;
        let mut trailing = segs.is_empty();
        for s in &segs {
            let s = s.replace("%2e", ".").replace("%2E", ".");
            trailing = matches!(s.as_str(), "" | "." | "..");
            match s.as_str() {
                "" | "." => {}
                ".." => climbs |= stack.pop().is_none(),
                _ => stack.push(s),
            }
        }
        let got = normalize(&path);
        if climbs {
            prop_assert_eq!(got, Err(NormalizeError::EscapesRoot), "{}", path);
        } else {
            let mut want = format!("/{}", stack.join("/"));
            if trailing && !stack.is_empty() {
                want.push('/');
            }
            prop_assert_eq!(got.map(|c| c.into_owned()), Ok(want), "{}", path);
        }
    }

    /// Without dot segments, normalising only changes how bytes are escaped (never which bytes).
    #[test]
    fn decoding_keeps_the_bytes(
        segs in proptest::collection::vec(
            proptest::collection::vec(prop_oneof![
                "[a-zA-Z0-9~_-]".prop_map(|s| s.to_owned()),
                any::<u8>()
                    .prop_filter("not a separator or dot", |c| !matches!(c, b'/' | b'\\' | b'.'))
                    .prop_map(|c| format!("%{c:02X}")),
            ], 1..6).prop_map(|t| t.concat()),
            1..6,
        )
    ) {
        let path = format!("/{}", segs.join("/"));
        // Escaped bytes >= 0x80 may not form UTF-8: refusing those is allowed, garbling is not.
        if let Ok(out) = normalize(&path) {
            prop_assert_eq!(decode_all(&out), decode_all(&path));
        }
    }

    #[test]
    fn no_path_makes_normalise_panic(path in "\\PC{0,64}") {
        let _ = normalize(&path);
    }
}

/// Addresses from trusted and untrusted networks, both families, and IPv4-mapped IPv6.
fn address() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 2]>().prop_map(|[a, b]| IpAddr::V4(Ipv4Addr::new(10, a, b, 1))),
        any::<u8>().prop_map(|d| IpAddr::V4(Ipv4Addr::new(192, 168, 1, d))),
        any::<u8>().prop_map(|d| IpAddr::V4(Ipv4Addr::new(203, 0, 113, d))),
        any::<u16>().prop_map(|d| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, d))),
        any::<u16>().prop_map(|d| IpAddr::V6(Ipv6Addr::new(0x2a00, 0, 0, 0, 0, 0, 0, d))),
        any::<u8>().prop_map(|d| IpAddr::V6(Ipv4Addr::new(10, 0, 0, d).to_ipv6_mapped())),
    ]
}

#[derive(Debug, Clone)]
enum Hop {
    Ip(IpAddr, u8),
    Garbage(&'static str),
}

impl Hop {
    fn render(&self) -> String {
        match self {
            Hop::Ip(ip, style) => match (style % 3, ip) {
                (1, IpAddr::V4(v4)) => format!("{v4}:4711"),
                (1, IpAddr::V6(v6)) => format!("[{v6}]:4711"),
                (2, ip) => format!("  {ip} "),
                (_, ip) => ip.to_string(),
            },
            Hop::Garbage(g) => (*g).to_owned(),
        }
    }
}

fn hop() -> impl Strategy<Value = Hop> {
    prop_oneof![
        8 => (address(), any::<u8>()).prop_map(|(ip, s)| Hop::Ip(ip, s)),
        1 => prop::sample::select(vec!["unknown", "", "10.0.0.1.2", "[::1]", "_hidden"])
            .prop_map(Hop::Garbage),
    ]
}

fn policy() -> impl Strategy<Value = ClientIpConfig> {
    let nets = prop::sample::subsequence(
        vec![
            "10.0.0.0/8",
            "192.168.1.0/24",
            "2001:db8::/32",
            "203.0.113.128/25",
        ],
        0..=4,
    );
    nets.prop_map(|n| ClientIpConfig {
        trusted_proxies: n.iter().map(|s| s.parse::<IpNet>().unwrap()).collect(),
        header: None,
        trust_forwarded_host: false,
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2048))]

    /// The right-most untrusted `X-Forwarded-For` hop is the client: never a trusted hop when an
    /// untrusted one exists, never a hop beyond (left of) an entry that cannot be parsed.
    #[test]
    fn client_ip_never_skips_an_untrusted_hop(
        policy in policy(),
        peer in address(),
        lines in proptest::collection::vec(proptest::collection::vec(hop(), 1..4), 0..3),
    ) {
        let mut headers = HeaderMap::new();
        for line in &lines {
            let value = line.iter().map(Hop::render).collect::<Vec<_>>().join(",");
            headers.append("x-forwarded-for", HeaderValue::from_str(&value).unwrap());
        }
        let trusted_peer = is_trusted(peer, &policy);
        let got = client_ip(peer, trusted_peer, &policy, &headers);
        let peer = peer.to_canonical();
        if !trusted_peer {
            prop_assert_eq!(got, peer);
            return Ok(());
        }
        // The hops a client could not have forged: right to left, up to the first unparsable one.
        let hops: Vec<&Hop> = lines.iter().flatten().collect();
        let believable: Vec<IpAddr> = hops
            .iter()
            .rev()
            .map_while(|h| match h {
                Hop::Ip(ip, _) => Some(ip.to_canonical()),
                Hop::Garbage(_) => None,
            })
            .collect();
        match believable.iter().find(|ip| !is_trusted(**ip, &policy)) {
            Some(first_untrusted) => prop_assert_eq!(got, *first_untrusted),
            None => {
                prop_assert!(got == peer || believable.contains(&got));
                prop_assert!(is_trusted(got, &policy), "{got} is untrusted but an earlier hop was chosen");
            }
        }
    }

    /// A configured client-IP header is believed from a trusted peer only.
    #[test]
    fn client_ip_header_is_believed_only_from_trusted_peers(
        mut policy in policy(),
        peer in address(),
        claimed in address(),
    ) {
        policy.header = Some(http::HeaderName::from_static("cf-connecting-ip"));
        let mut headers = HeaderMap::new();
        headers.insert("cf-connecting-ip", HeaderValue::from_str(&claimed.to_string()).unwrap());
        let trusted = is_trusted(peer, &policy);
        let got = client_ip(peer, trusted, &policy, &headers);
        prop_assert_eq!(got, if trusted { claimed.to_canonical() } else { peer.to_canonical() });
    }
}

const SIZE_UNITS: &[(&str, u64)] = &[
    ("", 1),
    ("B", 1),
    ("k", 1024),
    ("K", 1024),
    ("KiB", 1024),
    ("kib", 1024),
    ("KB", 1000),
    ("M", 1 << 20),
    ("MiB", 1 << 20),
    ("MB", 1_000_000),
    ("G", 1 << 30),
    ("GiB", 1 << 30),
    ("GB", 1_000_000_000),
];

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn sizes_parse_to_their_value_or_refuse_overflow(
        n in prop_oneof![0u64..100_000, any::<u64>()],
        unit in prop::sample::select(SIZE_UNITS),
        space in prop::sample::select(vec!["", " ", "  "]),
    ) {
        let text = format!(" {n}{space}{} ", unit.0);
        let want = n.checked_mul(unit.1).and_then(|b| usize::try_from(b).ok());
        prop_assert_eq!(parse_size(&text), want, "{}", text);
    }

    #[test]
    fn sizes_are_digits_and_a_unit_or_nothing(s in "[0-9 .+-]{0,6}[kKmMgGiIbBe]{0,3}|\\PC{0,24}") {
        if let Some(n) = parse_size(&s) {
            let t = s.trim();
            let digits = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
            prop_assert!(digits > 0, "{s:?} gave {n}");
            let unit = t[digits..].trim().to_ascii_lowercase();
            prop_assert!(SIZE_UNITS.iter().any(|(u, _)| u.to_ascii_lowercase() == unit), "{s:?} gave {n}");
        }
    }

    #[test]
    fn durations_parse_to_their_value(
        n in 0u64..1_000_000,
        unit in prop::sample::select(vec![("ms", 1u64), ("s", 1000), ("m", 60_000), ("h", 3_600_000)]),
    ) {
        let text = format!(" {n}{} ", unit.0);
        prop_assert_eq!(parse_duration(&text), Some(Duration::from_millis(n * unit.1)));
    }

    #[test]
    fn compound_durations_add_up(h in 0u64..100, m in 0u64..60, s in 0u64..60, ms in 0u64..1000) {
        let text = format!("{h}h {m}m {s}s {ms}ms");
        let want = Duration::from_millis(((h * 60 + m) * 60 + s) * 1000 + ms);
        prop_assert_eq!(parse_duration(&text), Some(want));
    }

    #[test]
    fn durations_never_panic(s in "\\PC{0,24}") {
        let _ = parse_duration(&s);
    }
}
