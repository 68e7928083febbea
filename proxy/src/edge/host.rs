//! The grammar of a `Host` value (RFC 9112 §3.2, RFC 3986 §3.2.2): `uri-host [ ":" port ]`.
//!
//! A value outside it (`x/admin`, `a b`, `x?y`, `x#y`, `h:abc`, userinfo, empty) would reach the
//! upstream in `Host` and `X-Forwarded-Host`, where frameworks build URLs and make routing or
//! cache decisions from it: such a request gets 400. One pass over the value's bytes, no
//! allocation (this runs for every HTTP/1 request).

/// Bytes of a `reg-name` (unreserved, sub-delims and the `%` of pct-encoding).
const REG_NAME: [bool; 256] = {
    let mut t = [false; 256];
    let allowed = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=%";
    let mut i = 0;
    while i < allowed.len() {
        t[allowed[i] as usize] = true;
        i += 1;
    }
    t
};

/// Whether `value` is `uri-host [ ":" port ]` with a non-empty host and, when a `:` is present,
/// a port of 1 to 5 digits. An IP literal is `[` hex digits, `:` and `.` `]` (IPv6, with an
/// embedded IPv4 tail allowed); `%` in a reg-name must start a `%HH` escape.
pub fn valid(value: &[u8]) -> bool {
    let (host, port) = match value.first() {
        None => return false,
        Some(b'[') => {
            let Some(end) = memchr::memchr(b']', value) else {
                return false;
            };
            let literal = &value[1..end];
            if literal.is_empty()
                || !literal
                    .iter()
                    .all(|b| b.is_ascii_hexdigit() || matches!(b, b':' | b'.'))
            {
                return false;
            }
            match &value[end + 1..] {
                [] => return true,
                [b':', port @ ..] => (&value[..0], Some(port)),
                _ => return false,
            }
        }
        Some(_) => match memchr::memchr(b':', value) {
            Some(colon) => (&value[..colon], Some(&value[colon + 1..])),
            None => (value, None),
        },
    };
    if let Some(port) = port
        && (port.is_empty() || port.len() > 5 || !port.iter().all(u8::is_ascii_digit))
    {
        return false;
    }
    if value[0] == b'[' {
        return true;
    }
    !host.is_empty() && reg_name(host)
}

fn reg_name(host: &[u8]) -> bool {
    let mut i = 0;
    while i < host.len() {
        let b = host[i];
        if !REG_NAME[b as usize] {
            return false;
        }
        if b == b'%' {
            match host.get(i + 1..i + 3) {
                Some([h, l]) if h.is_ascii_hexdigit() && l.is_ascii_hexdigit() => i += 2,
                _ => return false,
            }
        }
        i += 1;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::valid;

    #[test]
    fn hosts_in_the_grammar_pass_and_others_do_not() {
        for ok in [
            "a",
            "example.com",
            "example.com:8080",
            "127.0.0.1",
            "127.0.0.1:80",
            "[::1]",
            "[::1]:443",
            "[::ffff:127.0.0.1]",
            "xn--bcher-kva.example",
            "a_b.example",
            "caf%C3%A9.example",
        ] {
            assert!(valid(ok.as_bytes()), "{ok:?} was refused");
        }
        for bad in [
            "", "x/admin", "a b", "x?y", "x#y", "h:abc", "h:", ":80", "u@h", "h:123456", "[::1",
            "[]", "[::1]x", "[::1]:", "[g::1]", "h\\x", "h%2", "h%zz", "a:1:2", "\"h\"",
        ] {
            assert!(!valid(bad.as_bytes()), "{bad:?} was accepted");
        }
    }
}
