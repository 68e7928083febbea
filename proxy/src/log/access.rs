//! One access-log line per request, formatted straight into a reused per-thread buffer.

use super::json::{push_key, push_millis, push_str, push_u64};
use super::time;
use std::cell::RefCell;
use std::fmt::Write as _;
use std::net::IpAddr;
use std::time::Duration;

/// The fields of one line (the README lists them).
pub struct AccessLine<'a> {
    pub request_id: &'a str,
    pub client_ip: IpAddr,
    pub method: &'a str,
    pub path: &'a str,
    pub route: &'a str,
    pub endpoint: &'a str,
    pub status: u16,
    pub duration: Duration,
    pub bytes: usize,
    pub retries: usize,
    pub panic: bool,
    pub error: Option<&'a str>,
}

thread_local! {
    static LINE: RefCell<Vec<u8>> = RefCell::new(Vec::with_capacity(512));
}

impl AccessLine<'_> {
    /// Formats the line and hands it to `emit` (the buffer is reused by the thread's next line).
    pub fn with_line(&self, emit: impl FnOnce(&[u8])) {
        LINE.with_borrow_mut(|buf| {
            buf.clear();
            self.format(buf);
            emit(buf);
        });
    }

    /// `{"timestamp":…,"level":"INFO","target":"access",…}\n`: the keys and order the previous
    /// `tracing` formatter wrote, so log pipelines keep parsing them.
    pub fn format(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(b"{\"timestamp\":\"");
        time::push_now(out);
        out.extend_from_slice(b"\",\"level\":\"INFO\"");
        push_key(out, "request_id");
        push_str(out, self.request_id);
        push_key(out, "client_ip");
        let mut ip = IpText::default();
        let _ = write!(ip, "{}", self.client_ip);
        push_str(out, ip.as_str());
        push_key(out, "method");
        push_str(out, self.method);
        push_key(out, "path");
        push_str(out, self.path);
        push_key(out, "route");
        push_str(out, self.route);
        push_key(out, "endpoint");
        push_str(out, self.endpoint);
        push_key(out, "status");
        push_u64(out, u64::from(self.status));
        push_key(out, "duration_ms");
        push_millis(
            out,
            u64::try_from(self.duration.as_micros()).unwrap_or(u64::MAX),
        );
        push_key(out, "bytes");
        push_u64(out, self.bytes as u64);
        push_key(out, "retries");
        push_u64(out, self.retries as u64);
        push_key(out, "panic");
        out.extend_from_slice(if self.panic { b"true" } else { b"false" });
        if let Some(error) = self.error {
            push_key(out, "error");
            push_str(out, error);
        }
        out.extend_from_slice(b",\"target\":\"access\"}\n");
    }
}

/// An IP address's text on the stack (at most 45 bytes for IPv6 with an embedded IPv4).
struct IpText {
    buf: [u8; 48],
    len: usize,
}

impl Default for IpText {
    fn default() -> Self {
        Self {
            buf: [0; 48],
            len: 0,
        }
    }
}

impl IpText {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[..self.len]).unwrap_or_default()
    }
}

impl std::fmt::Write for IpText {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        let end = self.len + s.len();
        let slot = self.buf.get_mut(self.len..end).ok_or(std::fmt::Error)?;
        slot.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, reason = "tests")]
mod tests {
    use super::*;

    #[test]
    fn a_line_is_one_json_object_with_every_field() {
        let line = AccessLine {
            request_id: "0f3c9a7d",
            client_ip: "2001:db8::ffff:1.2.3.4".parse().unwrap(),
            method: "GET",
            path: "/api/\"quoted\"\\",
            route: "api",
            endpoint: "10.1.0.5:8001",
            status: 200,
            duration: Duration::from_micros(1_234),
            bytes: 512,
            retries: 1,
            panic: false,
            error: Some("ConnectTimedout"),
        };
        let mut out = Vec::new();
        line.format(&mut out);
        assert_eq!(out.last(), Some(&b'\n'));
        assert_eq!(out.iter().filter(|b| **b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["client_ip"], "2001:db8::ffff:102:304");
        assert_eq!(v["path"], "/api/\"quoted\"\\");
        assert_eq!(v["status"], 200);
        assert_eq!(v["duration_ms"], 1.234);
        assert_eq!(v["bytes"], 512);
        assert_eq!(v["retries"], 1);
        assert_eq!(v["panic"], false);
        assert_eq!(v["error"], "ConnectTimedout");
        assert_eq!(v["target"], "access");
        assert_eq!(v["level"], "INFO");
        assert!(v["timestamp"].as_str().unwrap().ends_with('Z'));
    }
}
