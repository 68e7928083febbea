//! `Location` rewriting for `strip_prefix` routes.

/// Puts a `Location` that points at the upstream's root back under `prefix`:
/// `/x` → `/prefix/x`, and `http://HOST/x` → `http://HOST/prefix/x` when HOST is the request's host.
/// Locations already under the prefix, relative references and other hosts are left alone.
pub fn rewrite_location(loc: &str, prefix: &str, request_host: Option<&str>) -> Option<String> {
    let under = |p: &str| {
        p == prefix || p.starts_with(prefix) && p[prefix.len()..].starts_with(['/', '?', '#'])
    };
    if loc.starts_with('/') && !loc.starts_with("//") {
        return (!under(loc)).then(|| format!("{prefix}{loc}"));
    }
    let (scheme, rest) = loc.split_once("://")?;
    let (authority, path) = rest.find('/').map_or((rest, "/"), |i| rest.split_at(i));
    if !request_host.is_some_and(|h| h.eq_ignore_ascii_case(authority)) || under(path) {
        return None;
    }
    Some(format!("{scheme}://{authority}{prefix}{path}"))
}

#[cfg(test)]
mod tests {
    use super::rewrite_location as r;

    #[test]
    fn location_rewrites() {
        assert_eq!(
            r("/login?next=/", "/minio-console", None).as_deref(),
            Some("/minio-console/login?next=/")
        );
        assert_eq!(
            r("/", "/minio-console", None).as_deref(),
            Some("/minio-console/")
        );
        assert_eq!(r("/minio-console/x", "/minio-console", None), None);
        assert_eq!(
            r("/minio-consoles", "/minio-console", None).as_deref(),
            Some("/minio-console/minio-consoles")
        );
        assert_eq!(r("//evil.example/x", "/p", None), None);
        assert_eq!(r("relative/x", "/p", None), None);
        assert_eq!(
            r("http://h.example:8080/x", "/p", Some("h.example:8080")).as_deref(),
            Some("http://h.example:8080/p/x")
        );
        assert_eq!(
            r("https://h.example", "/p", Some("h.example")).as_deref(),
            Some("https://h.example/p/")
        );
        assert_eq!(r("https://other.example/x", "/p", Some("h.example")), None);
    }
}
