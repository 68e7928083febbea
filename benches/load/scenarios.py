"""Two scenarios of a load run: errors across config reloads under load, and the latency of
server-sent events through each proxy.

Reloads: wrk drives one proxy while its config is rewritten and reloaded every RELOAD_INTERVAL_S
(trinity-proxy: file rewritten by rename, then SIGHUP; nginx: SIGHUP to the master, i.e.
`nginx -s reload`; HAProxy in master-worker mode: SIGUSR2 to the master). Every reload really
changes the config: generation G adds a route /reload-gen-G (prefix stripped, to the same
backend) in place of generation G-1's, so GET /reload-gen-G/api/v1/items answers 200 only once
generation G serves — which confirms each reload and times it.

SSE: one client reads N timestamped events (sse.py) directly and through each proxy; latency per
event = CLOCK_MONOTONIC at receipt − CLOCK_MONOTONIC just before the backend's write.
"""

import math
import re
import socket
import subprocess
import time

import measure
import servers
from servers import HOST, SMALL_PATH

RELOAD_INTERVAL_S = 0.4
RELOADS_METRIC = "trinity_proxy_config_reloads_total"
SSE_INTERVAL_MS = 10


# ---------------------------------------------------------------------------------------------
# reloads under load


def generation_routes(gen):
    """The 5 Trinity routes plus /reload-gen-GEN (stripped) to its own upstream, before `/`."""
    assert servers.ROUTES[-1][1] == "/"
    probe = ("reload-probe", f"/reload-gen-{gen}", "reload-probe", True, False)
    return servers.ROUTES[:-1] + [probe] + servers.ROUTES[-1:]


def trinity_metric(admin_port, name):
    """{label set: value} of one metric on trinity-proxy's /metrics ({} when unreachable)."""
    return measure.metric_values(measure.metrics_text(admin_port), name)


def _confirm(port, gen, deadline):
    """Polls (new connection each time, every 5 ms) until generation `gen` serves or deadline.
    Returns (seconds until it did or None, connection errors meanwhile)."""
    start = time.monotonic()
    errors = 0
    while time.monotonic() < deadline:
        try:
            if servers.http_get(port, f"/reload-gen-{gen}{SMALL_PATH}", timeout=1.0) == 200:
                return time.monotonic() - start, errors
        except OSError:
            errors += 1
        time.sleep(0.005)
    return None, errors


def reloads_under_load(proc, port, count, connections, admin_port=None):
    """wrk for count × RELOAD_INTERVAL_S + 2 s; `count` reloads evenly spaced from 1 s in.

    Returns wrk's figures over the whole run, the reloads sent and confirmed (the new generation
    served within the interval), the time each took to serve, probe connection errors, RSS
    before and after, and (trinity-proxy) the change of its reload counters.
    """
    rss_before = measure.memory_kib(proc.pids())[0]
    before = trinity_metric(admin_port, RELOADS_METRIC) if admin_port else {}
    seconds = math.ceil(count * RELOAD_INTERVAL_S + 2)
    load = subprocess.Popen(measure.wrk_argv(port, SMALL_PATH, seconds, connections),
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    t0 = time.monotonic()
    sent, took, probe_errors = 0, [], 0
    for gen in range(1, count + 1):
        at = t0 + 1.0 + (gen - 1) * RELOAD_INTERVAL_S
        time.sleep(max(0.0, at - time.monotonic()))
        if not proc.alive() or load.poll() is not None:
            break
        servers.reload(proc, generation_routes(gen))
        sent += 1
        secs, errs = _confirm(port, gen, at + 0.9 * RELOAD_INTERVAL_S)
        probe_errors += errs
        if secs is not None:
            took.append(secs)
    try:
        out, _ = load.communicate(timeout=seconds + 30)
    except subprocess.TimeoutExpired:
        load.kill()
        out, _ = load.communicate()
    time.sleep(1.0)  # old nginx/HAProxy workers finish
    result = measure.parse_wrk(out)
    m = measure.SOCKET_ERRORS.search(out)
    took.sort()
    result.update({
        "seconds": seconds,
        "interval_s": RELOAD_INTERVAL_S,
        "socket_error_kinds": m.group(1) if m else "",
        "reloads_sent": sent,
        "reloads_confirmed": len(took),
        "reload_p50_ms": took[len(took) // 2] * 1e3 if took else None,
        "reload_max_ms": took[-1] * 1e3 if took else None,
        "probe_errors": probe_errors,
        "alive": proc.alive(),
        "rss_before_kib": rss_before,
        "rss_after_kib": measure.memory_kib(proc.pids())[0],
    })
    if admin_port:
        after = trinity_metric(admin_port, RELOADS_METRIC)
        for result_label in ("success", "failure"):
            key = f'{{result="{result_label}"}}'
            result[f"counter_{result_label}"] = int(after.get(key, 0) - before.get(key, 0))
    return result


# ---------------------------------------------------------------------------------------------
# server-sent events


class _Dechunk:
    """Incremental decoder of an HTTP/1.1 chunked body."""

    def __init__(self):
        self.buf = b""
        self.left = 0  # data bytes of the current chunk still to come
        self.trailer = False  # the CRLF after a chunk's data is still to come
        self.done = False

    def feed(self, data):
        self.buf += data
        out = b""
        while not self.done:
            if self.left:
                take = self.buf[: self.left]
                out += take
                self.buf = self.buf[len(take):]
                self.left -= len(take)
                if self.left:
                    break
                self.trailer = True
            if self.trailer:
                if len(self.buf) < 2:
                    break
                self.buf, self.trailer = self.buf[2:], False
            line_end = self.buf.find(b"\r\n")
            if line_end < 0:
                break
            size = int(self.buf[:line_end].split(b";")[0], 16)
            self.buf = self.buf[line_end + 2:]
            self.left = size
            self.done = size == 0
        return out


def read_events(port, count, interval_ms=SSE_INTERVAL_MS):
    """Reads `count` events of GET /api/events from port. Per event: the latency (receipt minus
    the backend's send stamp, both CLOCK_MONOTONIC); per read, how many events it completed."""
    deadline = time.monotonic() + count * interval_ms / 1000 + 10
    latencies, per_read = [], []
    head, status, framing, body = None, "no answer", "", b""
    dechunk = None
    with socket.create_connection((HOST, port), timeout=5) as s:
        s.sendall(f"GET /api/events?n={count}&ms={interval_ms} HTTP/1.1\r\nHost: trinity.example.com\r\n"
                  "Accept: text/event-stream\r\nConnection: close\r\n\r\n".encode())
        raw = b""
        while time.monotonic() < deadline and len(latencies) < count:
            try:
                data = s.recv(65536)
            except OSError:
                break
            now = time.monotonic_ns()
            if not data:
                break
            if head is None:
                raw += data
                if b"\r\n\r\n" not in raw:
                    continue
                head, data = raw.split(b"\r\n\r\n", 1)
                status = head.split(b"\r\n", 1)[0].decode(errors="replace")
                chunked = re.search(rb"(?im)^transfer-encoding:.*chunked", head) is not None
                framing = "chunked" if chunked else (
                    "content-length" if re.search(rb"(?im)^content-length:", head) else "close-delimited")
                dechunk = _Dechunk() if chunked else None
            body += dechunk.feed(data) if dechunk else data
            events, _, body = body.rpartition(b"\n\n")
            stamps = re.findall(rb"^data: (\d+)$", events, re.M)
            latencies += [now - int(t) for t in stamps]
            if stamps:
                per_read.append(len(stamps))
    latencies.sort()

    def pct(p):
        return latencies[min(len(latencies) - 1, math.ceil(p * len(latencies)) - 1)] / 1e6 if latencies else None

    return {
        "status": status,
        "framing": framing,
        "events": count,
        "received": len(latencies),
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": latencies[-1] / 1e6 if latencies else None,
        "reads": len(per_read),
        "max_events_per_read": max(per_read, default=0),
    }
