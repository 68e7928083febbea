//! The config file's units: durations and byte sizes parsed from their strings (re-exported as
//! `config::parse_duration` and `config::parse_size` for anything that reads the same notation).

/// `500ms`, `2s`, `5m`, `1h 30m` (humantime's units; surrounding spaces ignored).
pub fn parse_duration(s: &str) -> Option<std::time::Duration> {
    humantime::parse_duration(s.trim()).ok()
}

/// `123`, `512B`, `32KiB`/`32K`/`32k` (×1024), `32KB` (×1000), likewise M and G.
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim();
    let digits = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    if digits == 0 {
        return None;
    }
    let n: u64 = s[..digits].parse().ok()?;
    let unit: u64 = match s[digits..].trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "kb" => 1_000,
        "m" | "mib" => 1 << 20,
        "mb" => 1_000_000,
        "g" | "gib" => 1 << 30,
        "gb" => 1_000_000_000,
        _ => return None,
    };
    usize::try_from(n.checked_mul(unit)?).ok()
}

#[cfg(test)]
mod tests {
    use super::parse_size;

    #[test]
    fn sizes_take_binary_and_decimal_units() {
        assert_eq!(parse_size("32KiB"), Some(32 * 1024));
        assert_eq!(parse_size("32k"), Some(32 * 1024));
        assert_eq!(parse_size("10MB"), Some(10_000_000));
        assert_eq!(parse_size("1 GiB"), Some(1 << 30));
        assert_eq!(parse_size("512"), Some(512));
        for bad in [
            "",
            "KiB",
            "12 parsecs",
            "-1",
            "1.5MiB",
            "99999999999999999999GiB",
        ] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}
