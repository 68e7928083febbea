#![allow(clippy::unwrap_used, reason = "tests")]

use super::head::{BodyFraming, Head, HeadLimits, Rejection, read};
use bytes::BytesMut;
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::time::Instant;

fn limits(max_bytes: usize, max_headers: usize) -> HeadLimits {
    HeadLimits {
        max_bytes,
        max_headers,
        deadline: Instant::now() + Duration::from_secs(5),
    }
}

/// Feeds `first` as already read and `rest` through a pipe, then closes it.
async fn head_of(first: &[u8], rest: &[u8], l: HeadLimits) -> (Result<Head, Rejection>, BytesMut) {
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

#[tokio::test]
async fn framing_and_host_are_checked() {
    let cases: &[(&str, Result<BodyFraming, Rejection>)] = &[
        (
            "Host: a\r\nTransfer-Encoding: chunked",
            Ok(BodyFraming::Chunked),
        ),
        (
            "Host: a\r\nTransfer-Encoding: Chunked ",
            Ok(BodyFraming::Chunked),
        ),
        (
            "Host: a\r\nContent-Length: 5, 5\r\nContent-Length: 5",
            Ok(BodyFraming::Length(5)),
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
        (
            "Host: a\r\nTransfer-Encoding: chunked\r\nContent-Length: 3",
            Err(Rejection::BadRequest(
                "both Transfer-Encoding and Content-Length",
            )),
        ),
        (
            "Host: a\r\nContent-Length: 3\r\nContent-Length: 4",
            Err(Rejection::BadRequest("conflicting Content-Length values")),
        ),
        (
            "Host: a\r\nContent-Length: +3",
            Err(Rejection::BadRequest("invalid Content-Length")),
        ),
        (
            "Host: a\r\nContent-Length: 0x3",
            Err(Rejection::BadRequest("invalid Content-Length")),
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
        (
            "Host: a\r\n folded",
            Err(Rejection::BadRequest(
                "malformed request line or header field",
            )),
        ),
    ];
    for (fields, want) in cases {
        let text = format!("POST / HTTP/1.1\r\n{fields}\r\n\r\n");
        let (r, _) = head_of(text.as_bytes(), b"", limits(4096, 10)).await;
        assert_eq!(r.map(|h| h.body), *want, "{fields:?}");
    }
    let (r, _) = head_of(b"GET / HTTP/1.0\r\n\r\n", b"", limits(4096, 10)).await;
    assert_eq!(
        r.map(|h| h.body),
        Ok(BodyFraming::None),
        "HTTP/1.0 needs no Host"
    );
    let (r, _) = head_of(
        b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n",
        b"",
        limits(4096, 10),
    )
    .await;
    assert!(matches!(r, Err(Rejection::BadRequest(_))), "{r:?}");
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
