//! Live heap bytes, for telling a leak from an allocator that keeps freed pages.
//!
//! RSS cannot tell them apart: mimalloc keeps freed pages a while and gives them back later, so
//! a process's RSS moves by megabytes at moments that have nothing to do with its live data. A
//! build with the `heap-stats` feature (the soak's) wraps the global allocator in a counter of
//! the bytes allocated and not yet freed, and `/metrics` shows it as
//! `trinity_proxy_heap_live_bytes`, as Envoy shows `server.memory_allocated`. The shipped binary
//! leaves the feature off: the counter is an atomic add on every allocation and free.

use prometheus::Registry;

#[cfg(feature = "heap-stats")]
mod counted {
    use prometheus::core::{Collector, Desc};
    use prometheus::proto::MetricFamily;
    use prometheus::{IntGauge, Registry};

    #[global_allocator]
    static GLOBAL: cap::Cap<mimalloc::MiMalloc> = cap::Cap::new(mimalloc::MiMalloc, usize::MAX);

    /// Reads the counter when the registry is gathered, so no task keeps it up to date.
    struct LiveBytes(IntGauge);

    impl Collector for LiveBytes {
        fn desc(&self) -> Vec<&Desc> {
            self.0.desc()
        }

        fn collect(&self) -> Vec<MetricFamily> {
            self.0
                .set(i64::try_from(GLOBAL.allocated()).unwrap_or(i64::MAX));
            self.0.collect()
        }
    }

    pub fn register(registry: &Registry) -> prometheus::Result<()> {
        let gauge = IntGauge::new(
            crate::metrics::HEAP_LIVE_BYTES,
            "Heap bytes allocated and not yet freed (a heap-stats build only).",
        )?;
        registry.register(Box::new(LiveBytes(gauge)))
    }
}

/// Registers `trinity_proxy_heap_live_bytes` in a `heap-stats` build; nothing otherwise.
pub fn register(registry: &Registry) -> prometheus::Result<()> {
    #[cfg(feature = "heap-stats")]
    counted::register(registry)?;
    #[cfg(not(feature = "heap-stats"))]
    let _ = registry;
    Ok(())
}
