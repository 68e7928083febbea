//! The edge in front of Pingora: what an anonymous client may make the proxy hold, decided in
//! our own code before Pingora reads a request (Pingora's header limits are hard-coded and its
//! header read has only a per-read timeout).
//!
//! - `head.rs`: one request head under `limits.max_header_bytes`, `limits.max_headers` and the
//!   `timeouts.client_header` deadline, with its framing checked.
//! - `body.rs`: where a request's body ends, from its framing, as the transport reads it
//!   (`BodyGate`): bytes past it are held back for the next request.
//! - `host.rs`: the grammar of a `Host` value.
//! - `reject.rs`: the JSON answer (408, 431, 400, 501) and a lingering close.
//! - `tests.rs`: unit tests of the head reader and the body gate.

pub mod body;
pub mod head;
pub mod host;
pub mod reject;

#[cfg(test)]
mod tests;
