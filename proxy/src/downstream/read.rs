//! The read side of a client connection: one request at a time, never past its body.
//!
//! Pingora's HTTP/1 session reads the body and then keeps reading to notice a client that goes
//! away; bytes that arrive there (the next request of a pipelining client, a stray CRLF after a
//! body) make it fail a request the upstream already processed. Pingora's own pipelining switch
//! hands those bytes on inside its private persistent settings, out of reach of the header limits
//! the connection loop enforces. So the transport decides instead:
//!
//! - while a request is in flight, reads stop where its body ends ([`BodyGate`], which also checks
//!   chunked framing strictly); bytes after it are held back, and Pingora's idle reads only see
//!   the client close;
//! - between requests (and in a tunnel after `101`), held-back bytes are read first, so the
//!   connection loop parses the next request from them under the same limits as any other.

use super::Downstream;
use crate::edge::body::BodyGate;
use bytes::BytesMut;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use tokio::io::{AsyncRead, ReadBuf};

/// Most bytes held back from a client while its request is still being answered; past it the
/// socket is not read until the connection loop takes them (TCP pushes back on the client).
const HELD_MAX: usize = 64 * 1024;

/// What reads are for.
#[derive(Debug)]
pub(super) enum ReadMode {
    /// Between requests, or a tunnel: held-back bytes first, then the socket.
    Stream,
    /// A request is in flight: reads end with its body.
    Request(BodyGate),
}

impl Downstream {
    /// A request's head was read: `body` frames what follows it, `held` holds bytes already read
    /// past its body (the next request's start), and `upgrade` says whether a `101` answer may
    /// turn the connection into a tunnel. The connection loop has taken every byte held before
    /// (`take_held`).
    pub fn begin_request(&mut self, body: BodyGate, held: BytesMut, upgrade: bool) {
        debug_assert!(self.held.is_empty(), "held bytes would be lost");
        self.mode = ReadMode::Request(body);
        self.held = held;
        self.upgrade_pending = upgrade;
    }

    /// The bytes still held back from earlier reads (a pipelining client sent more than the
    /// connection loop's first read took): the rest of this request's body, and the requests
    /// after it. Empty (and free) on every connection that does not pipeline.
    pub fn take_held(&mut self) -> BytesMut {
        std::mem::take(&mut self.held)
    }

    /// Puts bytes already read back in front of the socket (a protocol switch after sniffing).
    pub fn unread(&mut self, bytes: BytesMut) {
        self.mode = ReadMode::Stream;
        self.held = bytes;
    }

    /// The request was answered: the next read is the next request's.
    pub fn end_request(&mut self) {
        self.mode = ReadMode::Stream;
        self.upgrade_pending = false;
    }

    /// Called with each response write: a `101` to a request that asked to upgrade opens the
    /// tunnel (reads pass through); the first other final status ends the watch.
    pub(super) fn watch_upgrade(&mut self, data: &[u8]) {
        if !self.upgrade_pending || data.is_empty() {
            return;
        }
        if data.starts_with(b"HTTP/1.1 101 ") {
            self.mode = ReadMode::Stream;
            self.upgrade_pending = false;
        } else if !data.starts_with(b"HTTP/1.1 1") {
            self.upgrade_pending = false;
        }
    }

    fn read_held(&mut self, buf: &mut ReadBuf<'_>) {
        let n = self.held.len().min(buf.remaining());
        buf.put_slice(&self.held.split_to(n));
        if self.held.is_empty() {
            // Release the allocation: an idle connection holds no read buffer.
            self.held = BytesMut::new();
        }
    }

    /// A body read: from the socket, never past the body's end.
    fn poll_body(
        &mut self,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
        limit: usize,
    ) -> Poll<io::Result<()>> {
        let start = buf.filled().len();
        if limit < buf.remaining() {
            // The body's last bytes: a bounded read through a small copy (without `unsafe`, a
            // `ReadBuf::take` cannot hand its bytes back to `buf`).
            let mut space = [MaybeUninit::<u8>::uninit(); 4096];
            let mut limited = ReadBuf::uninit(&mut space[..limit.min(4096)]);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut limited))?;
            buf.put_slice(limited.filled());
        } else {
            ready!(Pin::new(&mut self.inner).poll_read(cx, buf))?;
        }
        let ReadMode::Request(gate) = &mut self.mode else {
            return Poll::Ready(Ok(()));
        };
        let new = &buf.filled()[start..];
        let used = gate
            .feed(new)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if used < new.len() {
            self.held.extend_from_slice(&new[used..]);
            buf.set_filled(start + used);
        }
        Poll::Ready(Ok(()))
    }

    /// The body is complete: watch for the client closing, holding back what it sends meanwhile.
    fn poll_after_body(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            if self.held.len() >= HELD_MAX {
                return Poll::Pending;
            }
            // Uninitialised: zeroing 4 KiB on every poll was the largest memset of a request.
            let mut space = [MaybeUninit::<u8>::uninit(); 4096];
            let mut read = ReadBuf::uninit(&mut space);
            ready!(Pin::new(&mut self.inner).poll_read(cx, &mut read))?;
            if read.filled().is_empty() {
                return Poll::Ready(Ok(())); // the client closed
            }
            self.held.extend_from_slice(read.filled());
        }
    }
}

impl AsyncRead for Downstream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        match &this.mode {
            ReadMode::Stream if !this.held.is_empty() => {
                this.read_held(buf);
                Poll::Ready(Ok(()))
            }
            ReadMode::Stream => Pin::new(&mut this.inner).poll_read(cx, buf),
            ReadMode::Request(gate) if gate.is_done() => this.poll_after_body(cx),
            ReadMode::Request(gate) => {
                let limit = gate.read_limit();
                this.poll_body(cx, buf, limit)
            }
        }
    }
}
