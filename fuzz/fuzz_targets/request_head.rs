//! Request admission: any bytes, in reads of any size, are admitted with a framing or refused
//! with an answer; never a panic, and the decision never depends on how the bytes were split.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use std::pin::Pin;
use std::sync::atomic::AtomicUsize;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, ReadBuf};
use trinity_proxy::edge::head::{HeadLimits, read};

static PENDING: AtomicUsize = AtomicUsize::new(0);

struct Pieces<'a> {
    data: &'a [u8],
    size: usize,
}

impl AsyncRead for Pieces<'_> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        let n = self.size.min(self.data.len()).min(buf.remaining());
        buf.put_slice(&self.data[..n]);
        self.data = &self.data[n..];
        Poll::Ready(Ok(()))
    }
}

fn admit(data: &[u8], size: usize) -> String {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .build()
        .unwrap();
    rt.block_on(async {
        let limits = HeadLimits {
            max_bytes: 4096,
            max_headers: 32,
            deadline: tokio::time::Instant::now() + Duration::from_secs(60),
            max_pending: usize::MAX,
            pending: &PENDING,
        };
        let mut buf = BytesMut::new();
        let r = read(&mut Pieces { data, size }, &mut buf, limits).await;
        if let Ok(h) = &r {
            assert!(h.len <= 4096 && buf[..h.len].ends_with(b"\n"));
        }
        format!("{r:?}")
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    assert_eq!(
        admit(data, data.len().max(1)),
        admit(data, usize::from(split % 32) + 1)
    );
});
