//! Properties of request admission at the edge: how the bytes of a head or a chunked body are
//! split over reads never changes the decision, and a head's framing is decided as RFC 9112 says.
#![allow(clippy::unwrap_used, reason = "tests")]

use bytes::BytesMut;
use proptest::prelude::*;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use trinity_proxy::edge::body::BodyGate;
use trinity_proxy::edge::head::{BodyFraming, Head, HeadLimits, Rejection, read};

static PENDING: AtomicUsize = AtomicUsize::new(0);

/// Hands out `data` in reads of the given sizes (the last size repeats), then EOF.
struct Pieces {
    data: Vec<u8>,
    sizes: Vec<usize>,
}

impl AsyncRead for Pieces {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let size = if self.sizes.len() > 1 {
            self.sizes.remove(0)
        } else {
            self.sizes[0]
        };
        let n = size.max(1).min(self.data.len()).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data.drain(..n);
        Poll::Ready(Ok(()))
    }
}

fn admit(bytes: &[u8], sizes: Vec<usize>) -> (Result<Head, Rejection>, Vec<u8>) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let limits = HeadLimits {
            max_bytes: 2048,
            max_headers: 16,
            deadline: tokio::time::Instant::now() + Duration::from_secs(60),
            max_pending: usize::MAX,
            pending: &PENDING,
        };
        let mut stream = Pieces {
            data: bytes.to_vec(),
            sizes,
        };
        let mut buf = BytesMut::new();
        let r = read(&mut stream, &mut buf, limits).await;
        let rest = match r {
            Ok(h) => buf[h.len..].to_vec(),
            Err(_) => Vec::new(),
        };
        (r, rest)
    })
}

fn field() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("Host: a.example".to_owned()),
        Just("Host: b".to_owned()),
        "Content-Length: [0-9]{1,3}".prop_map(|s| s),
        Just("Content-Length: 1, 1".to_owned()),
        Just("Content-Length: +5".to_owned()),
        Just("Transfer-Encoding: chunked".to_owned()),
        Just("Transfer-Encoding: gzip, chunked".to_owned()),
        Just("transfer-encoding: Chunked".to_owned()),
        Just("Connection: keep-alive, Upgrade".to_owned()),
        Just("Upgrade: websocket".to_owned()),
        Just("X-Pad: abc".to_owned()),
        Just("Bad Name: x".to_owned()),
        Just(" folded".to_owned()),
    ]
}

fn head() -> impl Strategy<Value = Vec<u8>> {
    (
        prop::sample::select(vec!["GET", "POST", "PUT"]),
        prop::sample::select(vec!["/", "/api/x?q=1", "*", "/a b"]),
        prop::sample::select(vec!["HTTP/1.1", "HTTP/1.0", "HTTP/2.0"]),
        proptest::collection::vec(field(), 0..6),
        prop::sample::select(vec!["\r\n", "\n"]),
        prop::sample::select(vec!["", "\r\n", "abc", "GET / HTTP/1.1\r\n"]),
    )
        .prop_map(|(m, t, v, fields, eol, after)| {
            let mut s = format!("{m} {t} {v}{eol}");
            for f in fields {
                s.push_str(&f);
                s.push_str(eol);
            }
            s.push_str(eol);
            s.push_str(after);
            s.into_bytes()
        })
}

/// What RFC 9112 decides for a head made of these fields (the reference for the property below).
fn expected_framing(text: &str) -> Option<BodyFraming> {
    let lines: Vec<&str> = text.split('\n').map(|l| l.trim_end_matches('\r')).collect();
    let http11 = lines[0].ends_with("HTTP/1.1");
    let fields: Vec<(String, String)> = lines[1..]
        .iter()
        .take_while(|l| !l.is_empty())
        .filter_map(|l| {
            l.split_once(':')
                .map(|(n, v)| (n.to_ascii_lowercase(), v.trim().to_owned()))
        })
        .collect();
    let get = |name: &str| {
        fields
            .iter()
            .filter(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .collect::<Vec<_>>()
    };
    let (te, cl) = (get("transfer-encoding"), get("content-length"));
    match (te.is_empty(), cl.is_empty()) {
        (true, true) => Some(BodyFraming::None),
        // Exactly one Content-Length field with one value (a list or a repeat is refused).
        (true, false) if cl.len() == 1 && !cl[0].contains(',') => {
            Some(match cl[0].parse().unwrap() {
                0 => BodyFraming::None,
                n => BodyFraming::Length(n),
            })
        }
        (false, true) if http11 && te.len() == 1 && te[0].eq_ignore_ascii_case("chunked") => {
            Some(BodyFraming::Chunked)
        }
        _ => None,
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn a_head_is_decided_the_same_however_it_is_split(
        bytes in head(),
        sizes in proptest::collection::vec(1usize..40, 1..8),
    ) {
        // The decision is the same; what was read past the head differs (and is kept, in order).
        let (whole, _) = admit(&bytes, vec![bytes.len().max(1)]);
        let (split, rest) = admit(&bytes, sizes);
        prop_assert_eq!(&whole, &split, "{}", String::from_utf8_lossy(&bytes));
        if let Ok(head) = split {
            prop_assert!(bytes[head.len..].starts_with(&rest));
        }
    }

    #[test]
    fn an_admitted_head_has_the_framing_the_rfc_gives(bytes in head()) {
        let (r, rest) = admit(&bytes, vec![7]);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        if let Ok(head) = r {
            prop_assert_eq!(Some(head.body), expected_framing(&text), "{}", text);
            prop_assert!(text[..head.len].ends_with('\n'));
            prop_assert!(bytes[head.len..].starts_with(&rest));
            let hosts = text[..head.len].matches("Host:").count();
            prop_assert!(hosts == 1 || (hosts == 0 && text.contains("HTTP/1.0")), "{}", text);
        }
    }

    #[test]
    fn no_bytes_make_admission_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600), size in 1usize..64) {
        let _ = admit(&bytes, vec![size]);
    }
}

/// A chunked body (chunks of 1-39 bytes, extensions, a trailer), well-formed or not, and what
/// follows it; with the length of the body when it is well-formed.
fn chunked() -> impl Strategy<Value = (Vec<u8>, Option<usize>)> {
    (
        proptest::collection::vec(
            (
                1usize..40,
                prop::sample::select(vec!["", ";a=b", " ", ";x"]),
            ),
            0..5,
        ),
        prop::sample::select(vec!["", "T: v\r\n", "T: v\n"]),
        prop::sample::select(vec!["\r\n", "\n", "x\r\n"]),
        prop::sample::select(vec!["", "GET / HTTP/1.1\r\n"]),
    )
        .prop_map(|(chunks, trailer, data_end, after)| {
            let well_formed = (chunks.is_empty() || data_end == "\r\n") && trailer != "T: v\n";
            let mut s = Vec::new();
            for (n, ext) in chunks {
                s.extend_from_slice(format!("{n:x}{ext}\r\n").as_bytes());
                s.extend(std::iter::repeat_n(b'd', n));
                s.extend_from_slice(data_end.as_bytes());
            }
            s.extend_from_slice(b"0\r\n");
            s.extend_from_slice(trailer.as_bytes());
            s.extend_from_slice(b"\r\n");
            let end = well_formed.then_some(s.len());
            s.extend_from_slice(after.as_bytes());
            (s, end)
        })
}

/// Feeds `bytes` in pieces of `sizes`: the bytes taken as body, or the framing error.
fn feed(bytes: &[u8], sizes: &[usize]) -> Result<usize, String> {
    let mut gate = BodyGate::new(BodyFraming::Chunked);
    let (mut at, mut taken, mut i) = (0, 0, 0);
    while at < bytes.len() && !gate.is_done() {
        let n = sizes[i % sizes.len()].min(bytes.len() - at);
        i += 1;
        let used = gate.feed(&bytes[at..at + n]).map_err(|e| e.to_string())?;
        taken += used;
        at += n;
        if used < n {
            break;
        }
    }
    Ok(taken)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1024))]

    #[test]
    fn a_chunked_body_ends_at_the_same_byte_however_it_is_split(
        (body, end) in chunked(),
        sizes in proptest::collection::vec(1usize..17, 1..6),
    ) {
        let whole = feed(&body, &[body.len().max(1)]);
        prop_assert_eq!(&whole, &feed(&body, &sizes), "{}", String::from_utf8_lossy(&body));
        match end {
            Some(end) => prop_assert_eq!(whole, Ok(end), "{}", String::from_utf8_lossy(&body)),
            None => prop_assert!(whole.is_err(), "{}", String::from_utf8_lossy(&body)),
        }
    }
}
