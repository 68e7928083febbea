//! Path normalisation: never panics; what it returns is normal (idempotent, no dot or empty
//! segments, no unreserved escapes).
#![no_main]

use libfuzzer_sys::fuzz_target;
use trinity_proxy::path::normalize;

fuzz_target!(|data: &[u8]| {
    let Ok(path) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(out) = normalize(path) else { return };
    assert!(out.starts_with('/'));
    assert!(!out.contains("//"), "{path:?} -> {out:?}");
    assert!(
        out[1..].split('/').all(|s| s != "." && s != ".."),
        "{path:?} -> {out:?}"
    );
    assert_eq!(
        normalize(&out).as_deref(),
        Ok(&*out),
        "{path:?} -> {out:?} is not normal"
    );
});
