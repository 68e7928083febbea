//! The app each worker runs: Pingora's `HttpProxy` around [`TrinityProxy`], one per worker
//! (and so one upstream connection pool per worker), shared by that worker's connections.

use crate::proxy::TrinityProxy;
use crate::state::State;
use pingora::proxy::{HttpProxy, http_proxy};
use pingora::server::configuration::ServerConf;
use std::sync::Arc;

/// One worker's app, as its connections hold it.
pub type App = Arc<HttpProxy<TrinityProxy>>;

/// A new app serving `state` with Pingora settings `conf`.
pub fn new(conf: &Arc<ServerConf>, state: Arc<State>) -> App {
    Arc::new(http_proxy(conf, TrinityProxy::new(state)))
}
