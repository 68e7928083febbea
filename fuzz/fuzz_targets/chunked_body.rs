//! Chunked framing: any bytes end the body at the same byte (or fail the same way) however they
//! are split over reads.
#![no_main]

use libfuzzer_sys::fuzz_target;
use trinity_proxy::edge::body::BodyGate;
use trinity_proxy::edge::head::BodyFraming;

fn feed(bytes: &[u8], size: usize) -> Result<usize, String> {
    let mut gate = BodyGate::new(BodyFraming::Chunked);
    let (mut at, mut taken) = (0, 0);
    while at < bytes.len() && !gate.is_done() {
        let n = size.min(bytes.len() - at);
        let used = gate.feed(&bytes[at..at + n]).map_err(|e| e.to_string())?;
        taken += used;
        at += n;
        if used < n {
            break;
        }
    }
    Ok(taken)
}

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else {
        return;
    };
    assert_eq!(
        feed(data, data.len().max(1)),
        feed(data, usize::from(split % 16) + 1)
    );
});
