//! The public listening sockets of the worker threads, in one of two ways:
//! - **shared** (default): one socket, registered in every worker's reactor. A new connection
//!   wakes the workers waiting on it and the first to `accept` takes it;
//! - **reuse_port**: one `SO_REUSEPORT` socket per worker on the same address. The kernel hashes
//!   each new connection to one worker's queue, so only that worker wakes.
//!
//! Either way [`crate::workers::Workers::pick`] still balances long-lived connections at accept.
//!
//! With `reuse_port`, another process of the same user that also sets `SO_REUSEPORT` can bind the
//! same address and take a share of the connections (an old proxy left running, say): the bind
//! does not fail as it does with the shared socket.

use std::io;
use std::net::SocketAddr;
use tokio::net::{TcpListener, TcpSocket};

/// The kernel's accept queue length asked for (capped by `net.core.somaxconn`), as tokio's
/// `TcpListener::bind` and nginx's default on Linux.
const BACKLOG: u32 = 1024;

/// Which of the two ways. Measured alike on 2 cores (benches/RESULTS.md), so the shared socket
/// stays the default; `TRINITY_LISTENER=reuse_port` selects the other, to measure it elsewhere.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Mode {
    #[default]
    Shared,
    ReusePort,
}

impl Mode {
    pub fn from_env() -> Self {
        match std::env::var("TRINITY_LISTENER").as_deref() {
            Ok("reuse_port") => Mode::ReusePort,
            _ => Mode::Shared,
        }
    }
}

/// `workers` listening sockets on `addr` (port 0: one port picked by the kernel for all), with
/// the address they listen on.
pub async fn bind(
    addr: SocketAddr,
    workers: usize,
    mode: Mode,
) -> io::Result<(Vec<std::net::TcpListener>, SocketAddr)> {
    let mut out = Vec::with_capacity(workers);
    match mode {
        Mode::Shared => {
            let listener = TcpListener::bind(addr).await?;
            let local = listener.local_addr()?;
            let listener = listener.into_std()?;
            for _ in 1..workers {
                out.push(listener.try_clone()?);
            }
            out.push(listener);
            Ok((out, local))
        }
        Mode::ReusePort => {
            let first = reuse_port(addr)?;
            let local = first.local_addr()?;
            out.push(first.into_std()?);
            for _ in 1..workers {
                out.push(reuse_port(local)?.into_std()?);
            }
            Ok((out, local))
        }
    }
}

fn reuse_port(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = match addr {
        SocketAddr::V4(_) => TcpSocket::new_v4()?,
        SocketAddr::V6(_) => TcpSocket::new_v6()?,
    };
    socket.set_reuseaddr(true)?;
    socket.set_reuseport(true)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}
