//! The edge's own limits and client timeouts (`limits:`, `timeouts:`), and reading a byte size
//! with its problem (the parser is `units.rs`).

use super::convert::Checker;
use super::file::{FileClientTimeouts, FileLimits};
use super::units::parse_size;
use super::{ClientTimeouts, Limits};

/// Largest `limits.max_header_bytes` accepted (Pingora's own hard limit is about 1 MiB).
const MAX_HEADER_BYTES_CEILING: usize = 1 << 20;
/// Largest `limits.max_headers` accepted.
const MAX_HEADERS_CEILING: usize = 1000;

impl Checker {
    pub(super) fn limits(&mut self, f: FileLimits) -> Limits {
        let d = Limits::default();
        let max_header_bytes = f
            .max_header_bytes
            .as_ref()
            .and_then(|v| self.size("limits.max_header_bytes", v))
            .map_or(d.max_header_bytes, |n| {
                self.bounded("limits.max_header_bytes", n, 256, MAX_HEADER_BYTES_CEILING)
            });
        let max_headers = f.max_headers.map_or(d.max_headers, |n| {
            self.bounded("limits.max_headers", n, 1, MAX_HEADERS_CEILING)
        });
        let max_connections = f.max_connections.map_or(d.max_connections, |n| {
            self.bounded("limits.max_connections", n, 1, usize::MAX)
        });
        let max_pending_header_bytes = f
            .max_pending_header_bytes
            .as_ref()
            .and_then(|v| self.size("limits.max_pending_header_bytes", v))
            .map_or(d.max_pending_header_bytes, |n| {
                self.bounded("limits.max_pending_header_bytes", n, 1 << 20, usize::MAX)
            });
        let h2c = f.h2c.unwrap_or(d.h2c);
        Limits {
            max_header_bytes,
            max_headers,
            max_connections,
            max_pending_header_bytes,
            h2c,
        }
    }

    pub(super) fn client_timeouts(&mut self, f: FileClientTimeouts) -> ClientTimeouts {
        let d = ClientTimeouts::default();
        ClientTimeouts {
            client_header: self
                .duration("timeouts.client_header", f.client_header.as_deref())
                .unwrap_or(d.client_header),
            client_write: self
                .duration("timeouts.client_write", f.client_write.as_deref())
                .unwrap_or(d.client_write),
            client_body: self
                .duration("timeouts.client_body", f.client_body.as_deref())
                .unwrap_or(d.client_body),
        }
    }

    fn bounded(&mut self, path: &str, n: usize, min: usize, max: usize) -> usize {
        if n < min {
            self.problem(path, format!("must be at least {min}"));
        } else if n > max {
            self.problem(path, format!("must be at most {max}"));
        }
        n.clamp(min, max)
    }

    /// A byte size: a plain number of bytes or a string like `512B`, `32KiB`, `10MiB`, `1GB`.
    pub(super) fn size(&mut self, path: &str, v: &serde_yaml::Value) -> Option<usize> {
        let parsed = match v {
            serde_yaml::Value::Number(n) => n.as_u64().and_then(|n| usize::try_from(n).ok()),
            serde_yaml::Value::String(s) => parse_size(s),
            _ => None,
        };
        if parsed.is_none() {
            self.problem(
                path,
                format!(
                    "expected a size like \"32KiB\", \"10MiB\" or a number of bytes, got {}",
                    serde_yaml::to_string(v).unwrap_or_default().trim()
                ),
            );
        }
        parsed
    }
}
