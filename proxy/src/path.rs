//! Request path normalisation, done once before routing.
//!
//! - `%XX` escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) are decoded (so `%2e%2e` is `..`);
//!   other escapes are kept as sent.
//! - Dot-segments are resolved and duplicate slashes merged; a trailing slash is kept.
//! - Rejected: encoded `/` or `\` (`%2F`, `%5C`), a literal `\`, a path climbing above the root,
//!   a malformed escape, and anything not starting with `/`.
//!
//! The upstream receives the normalised path, so the proxy and the upstream agree on what was routed.

use std::borrow::Cow;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NormalizeError {
    EncodedSeparator,
    Backslash,
    EscapesRoot,
    BadEncoding,
    NotOriginForm,
}

impl NormalizeError {
    pub fn reason(self) -> &'static str {
        match self {
            Self::EncodedSeparator => "encoded '/' or '\\' in path",
            Self::Backslash => "'\\' in path",
            Self::EscapesRoot => "path climbs above the root",
            Self::BadEncoding => "malformed %-escape in path",
            Self::NotOriginForm => "path must start with '/'",
        }
    }
}

/// Normalises `path` (the part before `?`). Borrowed when already normal.
pub fn normalize(path: &str) -> Result<Cow<'_, str>, NormalizeError> {
    let bytes = path.as_bytes();
    if bytes.first() != Some(&b'/') {
        return Err(NormalizeError::NotOriginForm);
    }
    if is_normal(bytes) {
        return Ok(Cow::Borrowed(path));
    }
    let decoded = decode_unreserved(bytes)?;
    let mut segments: Vec<&str> = Vec::new();
    let mut trailing_slash = false;
    for seg in decoded[1..].split('/') {
        trailing_slash = false;
        match seg {
            "" | "." => trailing_slash = true,
            ".." => {
                if segments.pop().is_none() {
                    return Err(NormalizeError::EscapesRoot);
                }
                trailing_slash = true;
            }
            s => segments.push(s),
        }
    }
    let mut out = String::with_capacity(decoded.len());
    for s in &segments {
        out.push('/');
        out.push_str(s);
    }
    if trailing_slash || segments.is_empty() {
        out.push('/');
    }
    Ok(Cow::Owned(out))
}

/// Fast check: no escapes, no backslash, no empty or dot segments.
fn is_normal(b: &[u8]) -> bool {
    let mut prev_slash = false;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'%' | b'\\' => return false,
            b'/' => {
                if prev_slash {
                    return false;
                }
                prev_slash = true;
            }
            b'.' if prev_slash => {
                // "/." or "/.." followed by '/' or end is a dot-segment
                let rest = &b[i..];
                let dots = rest.iter().take_while(|&&c| c == b'.').count();
                if dots <= 2 && rest.get(dots).is_none_or(|&c| c == b'/') {
                    return false;
                }
                prev_slash = false;
            }
            _ => prev_slash = false,
        }
        i += 1;
    }
    true
}

fn decode_unreserved(b: &[u8]) -> Result<String, NormalizeError> {
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => return Err(NormalizeError::Backslash),
            b'%' => {
                let (Some(h), Some(l)) = (b.get(i + 1).and_then(hex), b.get(i + 2).and_then(hex))
                else {
                    return Err(NormalizeError::BadEncoding);
                };
                let c = h << 4 | l;
                match c {
                    b'/' | b'\\' => return Err(NormalizeError::EncodedSeparator),
                    c if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~') => {
                        out.push(c)
                    }
                    _ => out.extend_from_slice(&b[i..i + 3]),
                }
                i += 3;
                continue;
            }
            c => out.push(c),
        }
        i += 1;
    }
    // Only ASCII bytes were substituted, so the result is as valid UTF-8 as the input was.
    String::from_utf8(out).map_err(|_| NormalizeError::BadEncoding)
}

fn hex(c: &u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    fn n(p: &str) -> Result<String, NormalizeError> {
        normalize(p).map(Cow::into_owned)
    }

    #[test]
    fn normal_paths_are_borrowed() {
        for p in [
            "/",
            "/api",
            "/api/",
            "/api/v1/x",
            "/a.b/c..d/.e",
            "/...",
            "/a-b_c~d",
        ] {
            assert!(matches!(normalize(p), Ok(Cow::Borrowed(_))), "{p}");
        }
    }

    #[test]
    fn dot_segments_and_duplicate_slashes() {
        assert_eq!(n("//api//v1").unwrap(), "/api/v1");
        assert_eq!(n("/api/./v1/").unwrap(), "/api/v1/");
        assert_eq!(n("/api/v1/..").unwrap(), "/api/");
        assert_eq!(n("/api/../admin").unwrap(), "/admin");
        assert_eq!(n("/api/.").unwrap(), "/api/");
        assert_eq!(n("/./").unwrap(), "/");
        assert_eq!(n("/a/b/../../").unwrap(), "/");
    }

    #[test]
    fn unreserved_escapes_are_decoded() {
        assert_eq!(n("/api/%2e%2e/admin").unwrap(), "/admin");
        assert_eq!(n("/%61pi").unwrap(), "/api");
        assert_eq!(n("/a%20b").unwrap(), "/a%20b");
        assert_eq!(n("/a%3fb").unwrap(), "/a%3fb");
    }

    #[test]
    fn rejections() {
        assert_eq!(n("/api/..%2fadmin"), Err(NormalizeError::EncodedSeparator));
        assert_eq!(n("/a%2Fb"), Err(NormalizeError::EncodedSeparator));
        assert_eq!(n("/a%5cb"), Err(NormalizeError::EncodedSeparator));
        assert_eq!(n("/a\\b"), Err(NormalizeError::Backslash));
        assert_eq!(n("/.."), Err(NormalizeError::EscapesRoot));
        assert_eq!(n("/a/../../b"), Err(NormalizeError::EscapesRoot));
        assert_eq!(n("/%2e%2e/"), Err(NormalizeError::EscapesRoot));
        assert_eq!(n("/a%zz"), Err(NormalizeError::BadEncoding));
        assert_eq!(n("/a%2"), Err(NormalizeError::BadEncoding));
        assert_eq!(n("api"), Err(NormalizeError::NotOriginForm));
        assert_eq!(n("*"), Err(NormalizeError::NotOriginForm));
    }
}
