//! Live heap bytes, for telling a leak from an allocator that keeps freed pages.
//!
//! RSS cannot tell them apart: mimalloc keeps freed pages a while and gives them back later, so
//! a process's RSS moves by megabytes at moments that have nothing to do with its live data. A
//! build with the `heap-stats` feature (the soak's) wraps the global allocator in a counter of
//! the bytes allocated and not yet freed, and `/metrics` shows it as
//! `trinity_proxy_heap_live_bytes` (registered by `metrics`), as Envoy shows
//! `server.memory_allocated`. The shipped binary leaves the feature off: the counter is an atomic
//! add on every allocation and free.

#[cfg(feature = "heap-stats")]
#[global_allocator]
static GLOBAL: cap::Cap<mimalloc::MiMalloc> = cap::Cap::new(mimalloc::MiMalloc, usize::MAX);

/// Heap bytes allocated and not yet freed, in a `heap-stats` build.
#[cfg(feature = "heap-stats")]
pub fn live_bytes() -> Option<usize> {
    Some(GLOBAL.allocated())
}

/// Heap bytes allocated and not yet freed: not counted without the `heap-stats` feature.
#[cfg(not(feature = "heap-stats"))]
pub fn live_bytes() -> Option<usize> {
    None
}
