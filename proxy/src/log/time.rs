//! RFC 3339 UTC timestamps with microseconds (`2026-12-01T23:43:25.123456Z`), as the rest of
//! the log writes them. The date and time up to the second are formatted once per second and
//! thread; a line only adds its microseconds.

use super::json::put_digits as put;
use std::cell::RefCell;
use std::time::{SystemTime, UNIX_EPOCH};

/// `YYYY-MM-DDTHH:MM:SS` of one second.
struct Second {
    unix: u64,
    text: [u8; 19],
}

thread_local! {
    static SECOND: RefCell<Second> = const { RefCell::new(Second { unix: u64::MAX, text: [0; 19] }) };
}

/// Appends the current time.
pub fn push_now(out: &mut Vec<u8>) {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    push(out, since.as_secs(), since.subsec_micros());
}

/// Appends `unix` seconds and `micros` as RFC 3339 UTC.
pub fn push(out: &mut Vec<u8>, unix: u64, micros: u32) {
    SECOND.with_borrow_mut(|s| {
        if s.unix != unix {
            s.unix = unix;
            s.text = format_second(unix);
        }
        out.extend_from_slice(&s.text);
    });
    let mut frac = *b".000000Z";
    put(&mut frac[1..7], u64::from(micros.min(999_999)));
    out.extend_from_slice(&frac);
}

fn format_second(unix: u64) -> [u8; 19] {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let (y, mo, d) = civil_from_days(days);
    let mut t = *b"0000-00-00T00:00:00";
    put(&mut t[0..4], y);
    put(&mut t[5..7], mo);
    put(&mut t[8..10], d);
    put(&mut t[11..13], secs / 3600);
    put(&mut t[14..16], secs / 60 % 60);
    put(&mut t[17..19], secs % 60);
    t
}

/// Year, month, day of a day count since 1970-01-01 (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let z = days + 719_468;
    let era = z / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + u64::from(m <= 2);
    (y, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(unix: u64, micros: u32) -> String {
        let mut out = Vec::new();
        push(&mut out, unix, micros);
        String::from_utf8(out).unwrap_or_default()
    }

    #[test]
    fn known_instants() {
        assert_eq!(text(0, 0), "1970-01-01T00:00:00.000000Z");
        assert_eq!(text(951_782_400, 7), "2000-02-29T00:00:00.000007Z");
        assert_eq!(text(1_796_168_605, 123_456), "2026-12-01T23:43:25.123456Z");
        assert_eq!(text(4_107_542_399, 999_999), "2100-02-28T23:59:59.999999Z");
    }

    #[test]
    fn every_day_of_four_centuries_matches_a_day_by_day_count() {
        let (mut y, mut m, mut d) = (1970u64, 1u64, 1u64);
        for days in 0..146_097u64 {
            assert_eq!(civil_from_days(days), (y, m, d), "day {days}");
            let leap = y % 4 == 0 && (y % 100 != 0 || y % 400 == 0);
            let len = [
                31,
                if leap { 29 } else { 28 },
                31,
                30,
                31,
                30,
                31,
                31,
                30,
                31,
                30,
                31,
            ];
            d += 1;
            if d > len[(m - 1) as usize] {
                d = 1;
                m += 1;
                if m > 12 {
                    m = 1;
                    y += 1;
                }
            }
        }
    }
}
