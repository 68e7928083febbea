//! The downstream (client-facing) transport: Pingora's l4 [`Stream`] with a small write buffer.
//!
//! Pingora's own listener service puts a write buffer (1460 bytes by default) in front of each
//! accepted socket, but `Stream::set_buffer` is crate-private and our accept loop
//! (`server.rs`) gets streams with no buffers at all. Without one, the HTTP/1 session sends the
//! response head and the body in separate `sendto` calls: one more loopback segment, softirq
//! and wake-up per request. [`Downstream`] coalesces writes with the same semantics as
//! Pingora's buffered stream: data is held until `poll_flush` / `poll_shutdown`, or goes out
//! when the buffer is full. Pingora flushes after a response head without Content-Length, after
//! every chunked / close-delimited / upgraded body write and at the end of a body, so SSE and
//! WebSocket frames still leave per chunk.
//!
//! Differences from Pingora's `BufWriter`:
//! - a write that does not fit next to buffered data goes out together with it in one
//!   `writev` (head + a large body chunk = one syscall, not two);
//! - the buffer is allocated on the first buffered write and released once flushed, so an idle
//!   keep-alive connection holds none;
//! - reads are unbuffered (the HTTP session has its own read buffer), and never go past the
//!   current request's body (`read.rs`).

use async_trait::async_trait;
use bytes::BytesMut;
use futures_util::FutureExt;
use pingora::protocols::l4::stream::Stream;
use pingora::protocols::raw_connect::ProxyDigest;
use pingora::protocols::{
    GetProxyDigest, GetSocketDigest, GetTimingDigest, Peek, Shutdown, SocketDigest, Ssl,
    TimingDigest, UniqueID, UniqueIDType,
};
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncWrite, AsyncWriteExt};

/// Default write buffer, Pingora's own default (one Ethernet MSS): a typical response head plus a
/// small body. A larger body chunk goes out together with the buffered head in one `writev`, so
/// a bigger buffer saves no syscall, only adds copying (4096 measured no better).
pub const DEFAULT_WRITE_BUFFER: usize = 1460;

/// An accepted client connection with write coalescing. See the module docs.
#[derive(Debug)]
pub struct Downstream {
    inner: Stream,
    /// Bytes not yet sent; `buf[pos..]` is pending. Empty (no allocation) when idle.
    buf: Vec<u8>,
    pos: usize,
    capacity: usize,
    mode: read::ReadMode,
    /// Bytes read past the current request's body: the next request's start.
    held: BytesMut,
    /// The request asked to upgrade and its final status has not been written yet.
    upgrade_pending: bool,
}

impl Downstream {
    /// Wraps `inner`; `capacity` 0 writes straight through (no coalescing).
    pub fn new(inner: Stream, capacity: usize) -> Self {
        Self {
            inner,
            buf: Vec::new(),
            pos: 0,
            capacity,
            mode: read::ReadMode::Stream,
            held: BytesMut::new(),
            upgrade_pending: false,
        }
    }

    pub fn get_ref(&self) -> &Stream {
        &self.inner
    }

    /// The client's address (the TCP peer).
    pub fn peer_ip(&self) -> Option<std::net::IpAddr> {
        let peer = self.inner.get_socket_digest()?.peer_addr()?.as_inet()?.ip();
        Some(peer)
    }

    fn pending(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn consumed(&mut self, n: usize) {
        self.pos += n;
        if self.pos >= self.buf.len() {
            // Release the allocation: idle keep-alive connections hold no write buffer.
            self.buf = Vec::new();
            self.pos = 0;
        }
    }

    /// Sends everything buffered.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.pending() > 0 {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.buf[self.pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.consumed(n);
        }
        Poll::Ready(Ok(()))
    }

    fn buffer(&mut self, data: &[u8]) {
        if self.buf.capacity() == 0 {
            self.buf.reserve_exact(self.capacity);
        }
        self.buf.extend_from_slice(data);
    }
}

impl AsyncWrite for Downstream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        this.watch_upgrade(data);
        if this.pending() + data.len() <= this.capacity {
            this.buffer(data);
            return Poll::Ready(Ok(data.len()));
        }
        // Does not fit: send what is buffered together with `data` in one writev.
        while this.pending() > 0 {
            let slices = [IoSlice::new(&this.buf[this.pos..]), IoSlice::new(data)];
            let pending = this.pending();
            let n = ready!(Pin::new(&mut this.inner).poll_write_vectored(cx, &slices))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            if n > pending {
                this.consumed(pending);
                return Poll::Ready(Ok(n - pending));
            }
            // Only buffered bytes went out (perhaps all of them): never report Ok(0) for `data`,
            // which `write_all` would take for a closed connection.
            this.consumed(n);
        }
        if data.len() < this.capacity {
            this.buffer(data);
            return Poll::Ready(Ok(data.len()));
        }
        Pin::new(&mut this.inner).poll_write(cx, data)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = &mut *self;
        if let Some(first) = bufs.iter().find(|b| !b.is_empty()) {
            this.watch_upgrade(first);
        }
        let total: usize = bufs.iter().map(|b| b.len()).sum();
        if this.pending() + total <= this.capacity {
            for b in bufs {
                this.buffer(b);
            }
            return Poll::Ready(Ok(total));
        }
        ready!(this.poll_drain(cx))?;
        if total < this.capacity {
            for b in bufs {
                this.buffer(b);
            }
            return Poll::Ready(Ok(total));
        }
        Pin::new(&mut this.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_drain(cx))?;
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

impl Drop for Downstream {
    fn drop(&mut self) {
        // Best effort, as Pingora's buffered stream does: a write is usually ready.
        if self.pending() > 0 {
            let _ = self.flush().now_or_never();
        }
    }
}

mod read;
#[cfg(test)]
mod tests;

#[async_trait]
impl Shutdown for Downstream {
    async fn shutdown(&mut self) {
        if let Err(e) = AsyncWriteExt::shutdown(self).await {
            tracing::debug!(error = %e, "downstream shutdown failed");
        }
    }
}

impl UniqueID for Downstream {
    fn id(&self) -> UniqueIDType {
        self.inner.id()
    }
}

impl Ssl for Downstream {}

#[async_trait]
impl Peek for Downstream {
    async fn try_peek(&mut self, buf: &mut [u8]) -> io::Result<bool> {
        self.inner.try_peek(buf).await
    }
}

impl GetTimingDigest for Downstream {
    fn get_timing_digest(&self) -> Vec<Option<TimingDigest>> {
        self.inner.get_timing_digest()
    }

    fn get_read_pending_time(&self) -> Duration {
        self.inner.get_read_pending_time()
    }

    fn get_write_pending_time(&self) -> Duration {
        self.inner.get_write_pending_time()
    }
}

impl GetProxyDigest for Downstream {
    fn get_proxy_digest(&self) -> Option<Arc<ProxyDigest>> {
        self.inner.get_proxy_digest()
    }

    fn set_proxy_digest(&mut self, digest: ProxyDigest) {
        self.inner.set_proxy_digest(digest);
    }
}

impl GetSocketDigest for Downstream {
    fn get_socket_digest(&self) -> Option<Arc<SocketDigest>> {
        self.inner.get_socket_digest()
    }

    fn set_socket_digest(&mut self, digest: SocketDigest) {
        self.inner.set_socket_digest(digest);
    }
}
