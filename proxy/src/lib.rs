//! trinity-proxy: the Trinity ingress data plane on Pingora.
//!
//! Data flow (see `proxy/mod.rs`): listener → request id, client IP, path normalisation → route
//! lookup in an `ArcSwap` snapshot of the [`routing::RouteTable`] → endpoint selection in the
//! route's [`upstream::Pool`] → forwarding headers → Pingora proxies → metrics + access log.

pub mod admin;
pub mod app;
pub mod config;
mod connections;
pub mod demo;
pub mod discovery;
pub mod downstream;
pub mod edge;
pub mod h2c;
pub mod headers;
pub mod health;
pub mod heap;
mod keepalive;
pub mod listen;
pub mod log;
pub mod metrics;
pub mod path;
pub mod proxy;
pub mod rate_limit;
pub mod reload;
pub mod respond;
pub mod retry;
pub mod routing;
pub mod server;
pub mod sources;
pub mod state;
pub mod stats;
pub mod status_cmd;
pub mod upstream;
pub mod workers;
