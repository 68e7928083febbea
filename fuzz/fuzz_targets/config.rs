//! The config loader: any text gives a config or errors that say FILE:LINE:COL, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trinity_proxy::config::Config;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errors) = Config::parse(text, "fuzz.yaml") {
        for e in &errors.0 {
            assert!(e.position.is_some(), "no position: {e}");
        }
    }
});
