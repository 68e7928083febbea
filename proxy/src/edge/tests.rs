#![allow(clippy::unwrap_used, reason = "tests")]

use super::head::{BodyFraming, Head, HeadLimits, Rejection, read};
use bytes::BytesMut;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

/// No budget to speak of for pending heads (tests of the budget make their own).
static PENDING: AtomicUsize = AtomicUsize::new(0);

fn limits(max_bytes: usize, max_headers: usize) -> HeadLimits<'static> {
    HeadLimits {
        max_bytes,
        max_headers,
        deadline: Instant::now() + Duration::from_secs(5),
        max_pending: usize::MAX,
        pending: &PENDING,
    }
}

/// Feeds `first` as already read and `rest` through a pipe, then closes it.
async fn head_of(
    first: &[u8],
    rest: &[u8],
    l: HeadLimits<'_>,
) -> (Result<Head, Rejection>, BytesMut) {
    let (mut client, mut server) = tokio::io::duplex(1 << 20);
    client.write_all(rest).await.unwrap();
    drop(client);
    let mut buf = BytesMut::from(first);
    let r = read(&mut server, &mut buf, l).await;
    (r, buf)
}

#[tokio::test]
async fn a_complete_head_is_framed_and_the_body_stays_behind_it() {
    let (r, buf) = head_of(
        b"\r\nPOST /x HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n\r\nabc",
        b"",
        limits(1024, 10),
    )
    .await;
    let head = r.unwrap();
    assert_eq!(head.body, BodyFraming::Length(3));
    assert_eq!(
        &buf[head.len..],
        b"abc",
        "the stray CRLF is dropped, the body kept"
    );
    assert!(!head.upgrade);
}

#[tokio::test]
async fn a_head_split_over_reads_is_put_together() {
    let (r, _) = head_of(
        b"GET / HTTP/1.1\r\nHo",
        b"st: a\r\nConnection: keep-alive, Upgrade\r\nUpgrade: websocket\r\n\r\n",
        limits(1024, 10),
    )
    .await;
    let head = r.unwrap();
    assert_eq!(head.body, BodyFraming::None);
    assert!(head.upgrade);
}

#[tokio::test]
async fn limits_are_decided_when_crossed() {
    let many: String = (0..11).map(|i| format!("X-{i}: v\r\n")).collect();
    let (r, _) = head_of(
        b"GET / HTTP/1.1\r\n",
        format!("Host: a\r\n{many}\r\n").as_bytes(),
        limits(4096, 10),
    )
    .await;
    assert_eq!(r, Err(Rejection::TooManyHeaders));

    // Never-ending: rejected at the limit, with no more than the limit buffered.
    let (r, buf) = head_of(
        b"GET / HTTP/1.1\r\n",
        &vec![b'a'; 100_000],
        limits(2048, 10),
    )
    .await;
    assert_eq!(r, Err(Rejection::TooLarge));
    assert!(buf.len() <= 2048, "{}", buf.len());
    assert!(buf.capacity() <= 4096, "{}", buf.capacity());

    let (r, _) = head_of(b"GET / HTT", b"", limits(2048, 10)).await;
    assert_eq!(r, Err(Rejection::Closed));
}

#[tokio::test(start_paused = true)]
async fn the_deadline_covers_the_whole_head() {
    let (mut client, mut server) = tokio::io::duplex(1024);
    let l = limits(4096, 10);
    let reader = tokio::spawn(async move {
        let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
        read(&mut server, &mut buf, l).await
    });
    // A line every second keeps each read short; the head as a whole still times out.
    for i in 0..10 {
        tokio::time::sleep(Duration::from_secs(1)).await;
        if client
            .write_all(format!("X-{i}: v\r\n").as_bytes())
            .await
            .is_err()
        {
            break;
        }
    }
    assert_eq!(reader.await.unwrap(), Err(Rejection::Timeout));
}

/// Each case's fields after `POST / HTTP/1.1`, and the framing (or rejection) it must get.
async fn assert_framing(cases: &[(&str, Result<BodyFraming, Rejection>)]) {
    for (fields, want) in cases {
        let text = format!("POST / HTTP/1.1\r\n{fields}\r\n\r\n");
        let (r, _) = head_of(text.as_bytes(), b"", limits(4096, 10)).await;
        assert_eq!(r.map(|h| h.body), *want, "{fields:?}");
    }
}

#[tokio::test]
async fn only_exactly_chunked_is_accepted_as_transfer_coding() {
    assert_framing(&[
        (
            "Host: a\r\nTransfer-Encoding: chunked",
            Ok(BodyFraming::Chunked),
        ),
        (
            "Host: a\r\nTransfer-Encoding: Chunked ",
            Ok(BodyFraming::Chunked),
        ),
        (
            "Host: a\r\nTransfer-Encoding: gzip, chunked",
            Err(Rejection::UnsupportedCoding),
        ),
        (
            "Host: a\r\nTransfer-Encoding: gzip\r\nTransfer-Encoding: chunked",
            Err(Rejection::UnsupportedCoding),
        ),
        (
            "Host: a\r\nTransfer-Encoding: identity",
            Err(Rejection::UnsupportedCoding),
        ),
    ])
    .await;
}

#[tokio::test]
async fn content_length_is_exactly_one_number() {
    assert_framing(&[
        (
            "Host: a\r\nContent-Length: 5, 5\r\nContent-Length: 5",
            Err(Rejection::BadRequest("invalid Content-Length")),
        ),
        (
            "Host: a\r\nContent-Length: 5\r\nContent-Length: 005",
            Err(Rejection::BadRequest("more than one Content-Length")),
        ),
        ("Host: a\r\nContent-Length: 005", Ok(BodyFraming::Length(5))),
        (
            "Host: a\r\nContent-Length: 3\r\nContent-Length: 4",
            Err(Rejection::BadRequest("more than one Content-Length")),
        ),
        (
            "Host: a\r\nContent-Length: +3",
            Err(Rejection::BadRequest("invalid Content-Length")),
        ),
        (
            "Host: a\r\nContent-Length: 0x3",
            Err(Rejection::BadRequest("invalid Content-Length")),
        ),
    ])
    .await;
}

#[tokio::test]
async fn framing_is_never_ambiguous() {
    assert_framing(&[(
        "Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3",
        Err(Rejection::BadRequest(
            "both Transfer-Encoding and Content-Length",
        )),
    )])
    .await;
    let (r, _) = head_of(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"",
        limits(4096, 10),
    )
    .await;
    assert!(matches!(r, Err(Rejection::BadRequest(_))), "{r:?}");
}

#[tokio::test]
async fn host_is_valid_and_given_once() {
    assert_framing(&[
        (
            "Host: x/admin",
            Err(Rejection::BadRequest("invalid Host header")),
        ),
        (
            "X: y",
            Err(Rejection::BadRequest(
                "an HTTP/1.1 request needs a Host header",
            )),
        ),
        (
            "Host: a\r\nHost: b",
            Err(Rejection::BadRequest("more than one Host header")),
        ),
    ])
    .await;
    let (r, _) = head_of(b"GET / HTTP/1.0\r\n\r\n", b"", limits(4096, 10)).await;
    assert_eq!(
        r.map(|h| h.body),
        Ok(BodyFraming::None),
        "HTTP/1.0 needs no Host"
    );
}

#[tokio::test]
async fn malformed_lines_are_bad_requests() {
    assert_framing(&[(
        "Host: a\r\n folded",
        Err(Rejection::BadRequest(
            "malformed request line or header field",
        )),
    )])
    .await;
    for line in [
        "GET  / HTTP/1.1",
        "GET / HTTP/1.1 ",
        "GET /a b HTTP/1.1",
        "GET / HTTP/2.0",
    ] {
        let text = format!("{line}\r\nHost: a\r\n\r\n");
        let (r, _) = head_of(text.as_bytes(), b"", limits(4096, 10)).await;
        assert!(
            matches!(r, Err(Rejection::BadRequest(_))),
            "{line:?}: {r:?}"
        );
    }
}

mod body {
    use crate::edge::body::{BodyGate, FramingError};
    use crate::edge::head::BodyFraming;

    /// Feeds `input` in pieces of `step` bytes; returns the body length found, or the error.
    fn body_len(input: &[u8], step: usize) -> Result<Option<usize>, FramingError> {
        let mut gate = BodyGate::new(BodyFraming::Chunked);
        let mut total = 0;
        for piece in input.chunks(step) {
            let used = gate.feed(piece)?;
            total += used;
            if gate.is_done() {
                return Ok(Some(total));
            }
            assert_eq!(used, piece.len(), "stopped early without finishing");
        }
        Ok(None)
    }

    #[test]
    fn chunked_bodies_end_where_their_framing_says_whatever_the_reads() {
        let body =
            b"5\r\nhello\r\n1a;name=\"v a\"\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-T: 1\r\n\r\n";
        for step in [1, 2, 3, 7, 64, 1024] {
            let mut input = body.to_vec();
            input.extend_from_slice(b"GET /next HTTP/1.1\r\n");
            assert_eq!(body_len(&input, step), Ok(Some(body.len())), "step {step}");
        }
        assert_eq!(body_len(b"0\r\n\r\n", 1), Ok(Some(5)));
        assert_eq!(body_len(b"A \r\n0123456789\r\n0\r\n\r\n", 4), Ok(Some(21)));
        assert_eq!(body_len(b"5\r\nhel", 2), Ok(None));
    }

    #[test]
    fn lenient_chunk_framing_is_refused() {
        for bad in [
            &b"\r\nhello"[..],        // empty size line
            b"5\nhello\r\n0\r\n\r\n", // bare LF after the size
            b"5;a\nb\r\nhello\r\n",   // bare LF inside an extension
            b"5;a\x01\r\nhello\r\n",  // control byte in an extension
            b"0x5\r\nhello\r\n",      // not hex
            b"+5\r\nhello\r\n",       // sign
            b"5\r\nhelloXX",          // data not followed by CRLF
            b"5\r\nhello\n0\r\n\r\n", // bare LF after data
            b"0\r\nX: 1\n\r\n",       // bare LF in a trailer
            b"11111111111111111\r\n", // 17 digits
            b" 5\r\nhello\r\n",       // leading space
        ] {
            for step in [1, 3, 100] {
                assert!(
                    body_len(bad, step).is_err(),
                    "{:?} step {step}",
                    String::from_utf8_lossy(bad)
                );
            }
        }
        let mut huge_trailer = b"0\r\n".to_vec();
        huge_trailer.extend(std::iter::repeat_n(b'a', 40_000));
        assert!(body_len(&huge_trailer, 4096).is_err());
    }

    #[test]
    fn length_bodies_stop_at_their_length() {
        let mut gate = BodyGate::new(BodyFraming::Length(5));
        assert_eq!(gate.read_limit(), 5);
        assert_eq!(gate.feed(b"abc"), Ok(3));
        assert_eq!(gate.read_limit(), 2);
        assert_eq!(gate.feed(b"de\r\nGET"), Ok(2));
        assert!(gate.is_done());
        assert!(BodyGate::new(BodyFraming::None).is_done());
    }
}

#[tokio::test]
async fn only_heads_that_wait_are_charged_to_the_budget_and_they_give_it_back() {
    let pending = AtomicUsize::new(0);
    let with_budget = |max_pending| HeadLimits {
        max_pending,
        pending: &pending,
        ..limits(32 * 1024, 100)
    };
    // Whole in the first read, or the rest already waiting: never charged, even with no budget.
    let (r, _) = head_of(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n", b"", with_budget(0)).await;
    assert!(r.is_ok(), "{r:?}");
    let (r, _) = head_of(b"GET / HTTP/1.1\r\n", b"Host: a\r\n\r\n", with_budget(0)).await;
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(pending.load(Ordering::Relaxed), 0);

    // A head that has to wait: charged while it waits, given back once complete.
    let (mut client, mut server) = tokio::io::duplex(1 << 16);
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
    let (r, ()) = tokio::join!(read(&mut server, &mut buf, with_budget(1 << 20)), async {
        while pending.load(Ordering::Relaxed) == 0 {
            tokio::task::yield_now().await;
        }
        client.write_all(b"Host: a\r\n\r\n").await.unwrap();
    });
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(pending.load(Ordering::Relaxed), 0);

    // One that would wait past what is left of the budget: 503, and nothing stays charged.
    let (_client, mut server) = tokio::io::duplex(1 << 16);
    let mut buf = BytesMut::from(&b"GET / HTTP/1.1\r\n"[..]);
    let r = read(&mut server, &mut buf, with_budget(1024)).await;
    assert_eq!(r, Err(Rejection::Busy));
    assert_eq!(Rejection::Busy.status(), Some(503));
    assert_eq!(pending.load(Ordering::Relaxed), 0);
}
