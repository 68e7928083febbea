//! Reading one request head (request line + header fields) under the edge limits, before
//! Pingora sees a byte of it.
//!
//! Pingora buffers up to about 1 MiB of header per connection and bounds only each read, not the
//! whole header (its limits are hard-coded: cloudflare/pingora#993). Here the connection loop
//! reads the head itself: at most `max_header_bytes` are ever buffered (the read size shrinks as
//! the limit nears), header lines are counted as they arrive, and one deadline covers the whole
//! head. Pingora then gets a complete head and parses it without reading.
//!
//! Every connection's head buffer is also charged to one process-wide budget while the head is
//! unfinished (`limits.max_pending_header_bytes`): many connections that each trickle a long
//! head cannot together take more memory than that (503 past it). A head that arrives whole in
//! the first read is never charged, so ordinary requests go on while the budget is spent.
//!
//! The head is also checked for what Pingora is lenient about or decides too late: a missing,
//! repeated or malformed `Host` (400, `host.rs`), ambiguous framing (`Transfer-Encoding` with
//! `Content-Length`, a `Content-Length` that is not exactly one number: 400), and transfer
//! codings other than exactly `chunked` (501).

use bytes::BytesMut;
use std::future::{Future, poll_fn};
use std::pin::pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::task::Poll;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::time::Instant;

/// Below this much free room in the head's buffer, it grows before the next read.
const MIN_SPARE: usize = 512;

/// What one client may send as a request head.
#[derive(Debug, Clone, Copy)]
pub struct HeadLimits<'a> {
    pub max_bytes: usize,
    pub max_headers: usize,
    /// From the head's first byte to its end.
    pub deadline: Instant,
    /// Bytes all unfinished heads together may hold, and what they hold now.
    pub max_pending: usize,
    pub pending: &'a AtomicUsize,
}

/// The share of the pending-heads budget one head's buffer holds; given back when dropped.
struct Charge<'a> {
    pending: &'a AtomicUsize,
    bytes: usize,
}

impl Charge<'_> {
    /// Charges the buffer's capacity not yet charged; `false` when that spends the budget.
    fn cover(&mut self, capacity: usize, max: usize) -> bool {
        let more = capacity.saturating_sub(self.bytes);
        if more == 0 {
            return true;
        }
        self.bytes += more;
        self.pending.fetch_add(more, Ordering::Relaxed) + more <= max
    }
}

impl Drop for Charge<'_> {
    fn drop(&mut self) {
        if self.bytes > 0 {
            self.pending.fetch_sub(self.bytes, Ordering::Relaxed);
        }
    }
}

/// How the request's body is delimited (RFC 9112 §6.3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyFraming {
    None,
    Length(u64),
    Chunked,
}

/// A complete, admissible request head at the start of the buffer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Head {
    /// Bytes of the head, its blank line included.
    pub len: usize,
    pub body: BodyFraming,
    /// `Connection: upgrade` with an `Upgrade` header: only such a request may become a tunnel.
    pub upgrade: bool,
}

/// Why a head was not admitted, and the answer it gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// The client closed (or the read failed) before the head was complete: nothing to answer.
    Closed,
    /// 408: the head did not arrive before the deadline.
    Timeout,
    /// 431: more than `max_bytes` without the end of the head.
    TooLarge,
    /// 431: more than `max_headers` header fields.
    TooManyHeaders,
    /// 400, with the reason given to the client.
    BadRequest(&'static str),
    /// 501: a transfer coding other than exactly `chunked`.
    UnsupportedCoding,
    /// 503: unfinished heads of all connections together hold `max_pending_header_bytes`.
    Busy,
}

impl Rejection {
    /// The status answered, `None` when nothing is.
    pub fn status(self) -> Option<u16> {
        match self {
            Self::Closed => None,
            Self::Timeout => Some(408),
            Self::TooLarge | Self::TooManyHeaders => Some(431),
            Self::BadRequest(_) => Some(400),
            Self::UnsupportedCoding => Some(501),
            Self::Busy => Some(503),
        }
    }

    /// The `reason` label of `requests_rejected_total` / `connections_rejected_total`.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Closed => "closed",
            Self::Timeout => "header_timeout",
            Self::TooLarge => "header_size",
            Self::TooManyHeaders => "header_count",
            Self::BadRequest(_) => "bad_request",
            Self::UnsupportedCoding => "transfer_coding",
            Self::Busy => "pending_headers",
        }
    }

    /// What the JSON answer says.
    pub fn message(self) -> (&'static str, Option<&'static str>) {
        match self {
            Self::Closed => ("closed", None),
            Self::Timeout => ("request header timeout", None),
            Self::TooLarge => ("request header too large", None),
            Self::TooManyHeaders => ("too many request header fields", None),
            Self::BadRequest(reason) => ("bad request", Some(reason)),
            Self::UnsupportedCoding => (
                "unsupported transfer coding",
                Some("only \"Transfer-Encoding: chunked\" is accepted"),
            ),
            Self::Busy => (
                "server busy",
                Some("too many unfinished request headers are waiting; try again"),
            ),
        }
    }
}

/// Where the scan of a partial head stands, so each read scans only its new bytes.
#[derive(Default)]
struct Scan {
    /// Bytes already scanned.
    pos: usize,
    /// Start of the current line.
    line_start: usize,
    /// Complete lines seen (the request line included).
    lines: usize,
}

impl Scan {
    /// Scans new bytes: `Ok(Some(len))` once the blank line ending the head is found.
    fn advance(&mut self, buf: &[u8], max_headers: usize) -> Result<Option<usize>, Rejection> {
        while let Some(i) = memchr::memchr(b'\n', &buf[self.pos..]) {
            let lf = self.pos + i;
            self.pos = lf + 1;
            let line = &buf[self.line_start..lf];
            self.line_start = lf + 1;
            if line.is_empty() || line == b"\r" {
                return Ok(Some(lf + 1));
            }
            self.lines += 1;
            if self.lines > max_headers + 1 {
                return Err(Rejection::TooManyHeaders);
            }
        }
        self.pos = buf.len();
        Ok(None)
    }
}

/// Reads until `buf` (which holds the first bytes already read) contains a complete head, then
/// checks it. Leading empty lines (a stray CRLF after the previous body, RFC 9112 §2.2) are
/// dropped. Bytes after the head stay in `buf`.
pub async fn read<S: AsyncRead + Unpin + ?Sized>(
    stream: &mut S,
    buf: &mut BytesMut,
    limits: HeadLimits<'_>,
) -> Result<Head, Rejection> {
    let mut scan = Scan::default();
    let mut charge = Charge {
        pending: limits.pending,
        bytes: 0,
    };
    loop {
        if scan.pos == 0 {
            let blank = buf
                .iter()
                .take_while(|b| matches!(b, b'\r' | b'\n'))
                .count();
            let _ = buf.split_to(blank);
        }
        if let Some(len) = scan.advance(buf, limits.max_headers)? {
            if len > limits.max_bytes {
                return Err(Rejection::TooLarge);
            }
            return check(&buf[..len]);
        }
        if buf.len() >= limits.max_bytes {
            return Err(Rejection::TooLarge);
        }
        // Never buffer past the limit: a head must end within `max_bytes`. Grow only when little
        // room is left: a head that has sent a few bytes keeps its first buffer.
        let room = limits.max_bytes - buf.len();
        if buf.capacity() - buf.len() < MIN_SPARE {
            buf.reserve(room.min(4096));
        }
        let capacity = buf.capacity();
        let mut limited = (&mut *stream).take(room as u64);
        let mut read = pin!(tokio::time::timeout_at(
            limits.deadline,
            limited.read_buf(buf)
        ));
        // Bytes already waiting are taken without a charge: only a head that has to wait for
        // more holds its buffer for long, and only that one is charged.
        let read = match poll_fn(|cx| Poll::Ready(read.as_mut().poll(cx))).await {
            Poll::Ready(r) => r,
            Poll::Pending if !charge.cover(capacity, limits.max_pending) => {
                return Err(Rejection::Busy);
            }
            Poll::Pending => read.await,
        };
        match read {
            Err(_) => return Err(Rejection::Timeout),
            Ok(Ok(0) | Err(_)) => return Err(Rejection::Closed),
            Ok(Ok(_)) => {}
        }
    }
}

/// Parses a complete head and decides its framing.
fn check(head: &[u8]) -> Result<Head, Rejection> {
    // One slot per line is enough (the scan already bounded the count); most heads fit the stack.
    let lines = memchr::memchr_iter(b'\n', head).count();
    let mut storage = [httparse::EMPTY_HEADER; 32];
    let mut large;
    let slots: &mut [httparse::Header] = if lines <= storage.len() {
        &mut storage
    } else {
        large = vec![httparse::EMPTY_HEADER; lines];
        &mut large
    };
    let mut req = httparse::Request::new(slots);
    match req.parse(head) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) | Err(_) => {
            return Err(Rejection::BadRequest(
                "malformed request line or header field",
            ));
        }
    }
    let http11 = req.version == Some(1);
    let fields = Fields::scan(req.headers)?;
    fields.check_host(http11)?;
    Ok(Head {
        len: head.len(),
        body: fields.framing(http11)?,
        upgrade: fields.connection_upgrade && fields.upgrade,
    })
}

/// What the header fields of one head say about its Host, framing and upgrade.
#[derive(Default)]
struct Fields {
    hosts: usize,
    length: Option<u64>,
    /// Every `Transfer-Encoding` value, joined with commas.
    codings: Option<Vec<u8>>,
    connection_upgrade: bool,
    upgrade: bool,
}

impl Fields {
    /// Reads the fields in order; an invalid `Host` or `Content-Length` is refused where it is.
    fn scan(headers: &[httparse::Header<'_>]) -> Result<Self, Rejection> {
        let mut f = Self::default();
        for h in headers {
            let name = h.name.as_bytes();
            if name.eq_ignore_ascii_case(b"host") {
                f.hosts += 1;
                if !super::host::valid(h.value) {
                    return Err(Rejection::BadRequest("invalid Host header"));
                }
            } else if name.eq_ignore_ascii_case(b"content-length") {
                // Exactly one value (as nginx): a list or a repeated field, even of equal values,
                // is refused rather than forwarded as sent for the upstream to read its own way.
                if f.length.is_some() {
                    return Err(Rejection::BadRequest("more than one Content-Length"));
                }
                f.length = Some(content_length(h.value.trim_ascii())?);
            } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
                let all = f.codings.get_or_insert_with(Vec::new);
                if !all.is_empty() {
                    all.push(b',');
                }
                all.extend_from_slice(h.value);
            } else if name.eq_ignore_ascii_case(b"connection") {
                f.connection_upgrade |= h
                    .value
                    .split(|b| *b == b',')
                    .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"upgrade"));
            } else if name.eq_ignore_ascii_case(b"upgrade") {
                f.upgrade = true;
            }
        }
        Ok(f)
    }

    /// Exactly one `Host`; HTTP/1.0 may have none.
    fn check_host(&self, http11: bool) -> Result<(), Rejection> {
        if http11 && self.hosts == 0 {
            return Err(Rejection::BadRequest(
                "an HTTP/1.1 request needs a Host header",
            ));
        }
        if self.hosts > 1 {
            return Err(Rejection::BadRequest("more than one Host header"));
        }
        Ok(())
    }

    /// How the body is delimited: one unambiguous way, chunked as the only transfer coding.
    fn framing(&self, http11: bool) -> Result<BodyFraming, Rejection> {
        match (&self.codings, self.length) {
            (None, None | Some(0)) => Ok(BodyFraming::None),
            (None, Some(n)) => Ok(BodyFraming::Length(n)),
            (Some(_), _) if !http11 => Err(Rejection::BadRequest(
                "HTTP/1.0 requests cannot use Transfer-Encoding",
            )),
            (Some(_), Some(_)) => Err(Rejection::BadRequest(
                "both Transfer-Encoding and Content-Length",
            )),
            (Some(c), None) if c.trim_ascii().eq_ignore_ascii_case(b"chunked") => {
                Ok(BodyFraming::Chunked)
            }
            (Some(_), None) => Err(Rejection::UnsupportedCoding),
        }
    }
}

/// One `Content-Length` value: 1 to 19 digits.
fn content_length(v: &[u8]) -> Result<u64, Rejection> {
    const BAD: Rejection = Rejection::BadRequest("invalid Content-Length");
    if v.is_empty() || v.len() > 19 || !v.iter().all(u8::is_ascii_digit) {
        return Err(BAD);
    }
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or(BAD)
}
