//! Routing of any Host and request target through the shipped Trinity config: normalise, then
//! look up; never a panic, and a normalised path always finds a route (`/` catches all).
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::sync::OnceLock;
use trinity_proxy::config::Config;
use trinity_proxy::metrics::Metrics;
use trinity_proxy::path::normalize;
use trinity_proxy::routing::RouteTable;

fn table() -> &'static RouteTable {
    static TABLE: OnceLock<RouteTable> = OnceLock::new();
    TABLE.get_or_init(|| {
        let config =
            Config::parse(include_str!("../../config/trinity.yaml"), "trinity.yaml").unwrap();
        RouteTable::build(&config, &Metrics::new().unwrap())
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let (host, target) = text.split_once('\n').unwrap_or(("", text));
    let path = target.split_once('?').map_or(target, |(p, _)| p);
    let Ok(path) = normalize(path) else { return };
    let host = (!host.is_empty()).then_some(host);
    assert!(
        table().find(host, &path).is_some(),
        "{host:?} {path:?} found no route"
    );
});
