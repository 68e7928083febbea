//! The few JSON pieces a log line needs, appended to a byte buffer without building a value tree.

/// Appends `"s"` with `"`, `\` and control characters escaped (everything else is UTF-8 already).
pub fn push_str(out: &mut Vec<u8>, s: &str) {
    out.push(b'"');
    let bytes = s.as_bytes();
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        if b >= 0x20 && b != b'"' && b != b'\\' {
            continue;
        }
        out.extend_from_slice(&bytes[start..i]);
        match b {
            b'"' => out.extend_from_slice(b"\\\""),
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            _ => {
                const HEX: &[u8; 16] = b"0123456789abcdef";
                out.extend_from_slice(b"\\u00");
                out.push(HEX[usize::from(b >> 4)]);
                out.push(HEX[usize::from(b & 0xf)]);
            }
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

/// Appends `,"key":` (keys are constants that need no escaping).
pub fn push_key(out: &mut Vec<u8>, key: &str) {
    out.extend_from_slice(b",\"");
    out.extend_from_slice(key.as_bytes());
    out.extend_from_slice(b"\":");
}

pub fn push_u64(out: &mut Vec<u8>, v: u64) {
    out.extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
}

/// Writes `v` as decimal digits right-aligned in `slot` (zero-padded; higher digits dropped).
pub fn put_digits(slot: &mut [u8], mut v: u64) {
    for b in slot.iter_mut().rev() {
        *b = b'0' + (v % 10) as u8;
        v /= 10;
    }
}

/// Appends `micros` as milliseconds with three decimals (`12.345`).
pub fn push_millis(out: &mut Vec<u8>, micros: u64) {
    push_u64(out, micros / 1000);
    let mut frac = *b".000";
    put_digits(&mut frac[1..], micros % 1000);
    out.extend_from_slice(&frac);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn string(s: &str) -> String {
        let mut out = Vec::new();
        push_str(&mut out, s);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn escaped_strings_parse_back_to_themselves() {
        for s in [
            "",
            "/plain/path",
            "quote\" back\\slash",
            "ctl\n\r\t\u{1}\u{1f}",
            "ünïcode ✓",
        ] {
            let json = string(s);
            let back: String = serde_json::from_str(&json).unwrap_or_default();
            assert_eq!(back, s, "{json}");
        }
        assert_eq!(string("a\u{7}b"), "\"a\\u0007b\"");
    }

    #[test]
    fn millis_keep_three_decimals() {
        for (micros, text) in [
            (0, "0.000"),
            (7, "0.007"),
            (12_345, "12.345"),
            (1_000_000, "1000.000"),
        ] {
            let mut out = Vec::new();
            push_millis(&mut out, micros);
            assert_eq!(out, text.as_bytes());
        }
    }
}
