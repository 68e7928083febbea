"""Three scenarios of a load run: errors across config reloads under load, the latency of
server-sent events through each proxy, and a flood of never-ending request heads.

Reloads: wrk drives one proxy while its config is rewritten and reloaded every RELOAD_INTERVAL_S
(trinity-proxy: file rewritten by rename, then SIGHUP; nginx: SIGHUP to the master, i.e.
`nginx -s reload`; HAProxy in master-worker mode: SIGUSR2 to the master). Every reload really
changes the config: generation G adds a route /reload-gen-G (prefix stripped, to the same
backend) in place of generation G-1's, so GET /reload-gen-G/api/v1/items answers 200 only once
generation G serves — which confirms each reload and times it.

SSE: one client reads N timestamped events (sse.py) directly and through each proxy; latency per
event = CLOCK_MONOTONIC at receipt − CLOCK_MONOTONIC just before the backend's write.

Header flood: N connections at once, each sending a request head that never ends (one header
line growing by 8 KiB writes up to 1 MiB), all held open together at a barrier first; RSS of the
proxy sampled throughout, each connection's answer (431, 400, 408, …) or close counted, and a
normal request on a new connection meanwhile (from a process of its own).
"""

import asyncio
import json
import math
import re
import select
import socket
import subprocess
import sys
import threading
import time

import measure
import servers
from servers import HOST, SMALL_PATH

RELOAD_INTERVAL_S = 0.4
RELOADS_METRIC = "trinity_proxy_config_reloads_total"
REJECTED_METRIC = "trinity_proxy_requests_rejected_total"
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


# ---------------------------------------------------------------------------------------------
# a flood of never-ending request heads

FLOOD_PREFIX = b"GET / HTTP/1.1\r\nHost: t\r\nX-Flood: "
FLOOD_WRITE = 8 * 1024  # bytes per write
FLOOD_HOLD = 24 * 1024  # bytes each connection sends before the barrier
FLOOD_TOTAL = 1 << 20  # bytes each connection sends at most (the head never ends)
FLOOD_DEADLINE_S = 60.0  # the whole scenario, connects included
FLOOD_CONNECTING = 100  # connects in flight at once (stays under every listen backlog)
FLOOD_SAMPLE_S = 0.02  # RSS sampling period
FLOOD_SETTLE_S = 1.0  # at the barrier, time for the servers to read what was sent before counting

# The normal request, from a process of its own (not slowed by this one's event loop or GIL):
# one request on a new connection per line read from stdin, one JSON line per answer.
_PROBE = r"""
import json, socket, sys, time
port, path = int(sys.argv[1]), sys.argv[2]
request = ("GET %s HTTP/1.1\r\nHost: trinity.example.com\r\nConnection: close\r\n\r\n" % path).encode()
for _ in sys.stdin:
    t0, out, data = time.monotonic(), {}, b""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=10) as s:
            s.sendall(request)
            while b"\r\n\r\n" not in data:
                chunk = s.recv(65536)
                if not chunk:
                    break
                data += chunk
        line = data.split(b"\r\n", 1)[0].split()
        out["status"] = int(line[1]) if len(line) > 1 and line[1].isdigit() else None
    except OSError as e:
        out["status"], out["error"] = None, type(e).__name__
    out["ms"] = (time.monotonic() - t0) * 1e3
    print(json.dumps(out), flush=True)
"""


def rss_kib(pids):
    """VmRSS summed over pids (cheaper than measure.memory_kib, for sampling)."""
    total = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        total += int(line.split()[1])
                        break
        except OSError:
            continue
    return total


class _Flood:
    """Shared state of one flood: the barrier and every connection's outcome."""

    def __init__(self, count):
        self.count = count
        self.arrived = 0
        self.all_arrived = asyncio.Event()
        self.release = asyncio.Event()
        self.end = 0.0  # loop time after which every connection gives up
        self.outcomes = []  # per connection: (outcome, bytes sent, seconds from its connect to the outcome)

    def arrive(self):
        self.arrived += 1
        if self.arrived >= self.count:
            self.all_arrived.set()


async def _read_answer(sock):
    """The status of the server's answer ("431", …), "closed" (EOF or reset without an answer),
    or "unparsed" (bytes that are not a status line). Reads the raw socket, so a failed write
    (the server closed) does not lose an answer already in the receive queue."""
    loop = asyncio.get_running_loop()
    data = b""
    try:
        while b"\r\n" not in data and len(data) < 4096:
            chunk = await loop.sock_recv(sock, 4096)
            if not chunk:
                break
            data += chunk
    except OSError:
        pass
    if not data:
        return "closed"
    m = re.match(rb"HTTP/1\.[01] (\d{3})", data)
    return m.group(1).decode() if m else "unparsed"


async def _flood_one(port, flood, connecting, hold, total):
    """One connection: the head's start, then `hold` bytes, the barrier, then up to `total` bytes
    in FLOOD_WRITE writes, never ending the head; stops at the server's answer or close."""
    loop = asyncio.get_running_loop()
    sent = 0
    t0 = loop.time()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setblocking(False)
    answer = None
    arrived = False
    try:
        try:
            async with connecting:
                await asyncio.wait_for(loop.sock_connect(sock, (HOST, port)), max(0.1, flood.end - loop.time()))
        except (OSError, asyncio.TimeoutError):
            flood.outcomes.append(("connect failed", 0, loop.time() - t0))
            return
        answer = asyncio.ensure_future(_read_answer(sock))
        filler = b"a" * FLOOD_WRITE

        async def send_until(limit):
            nonlocal sent
            if sent == 0:
                await loop.sock_sendall(sock, FLOOD_PREFIX)
                sent = len(FLOOD_PREFIX)
            while sent < limit and not answer.done():
                n = min(FLOOD_WRITE, limit - sent)
                await loop.sock_sendall(sock, filler[:n])
                sent += n

        async def until_answer(coro):
            """Runs coro until it ends, the answer arrives, or the deadline."""
            step = asyncio.ensure_future(coro)
            await asyncio.wait({step, answer}, timeout=max(0.0, flood.end - loop.time()),
                               return_when=asyncio.FIRST_COMPLETED)
            if not step.done():
                step.cancel()
            await asyncio.gather(step, return_exceptions=True)  # a failed write: the server closed

        await until_answer(send_until(hold))
        flood.arrive()
        arrived = True
        await until_answer(flood.release.wait())
        if not answer.done():
            await until_answer(send_until(total))
        if not answer.done():  # all sent, a write failed or the deadline: the answer or the close
            await asyncio.wait({answer}, timeout=max(0.0, flood.end - loop.time()))
        outcome = answer.result() if answer.done() else "no answer, still open"
    except Exception as e:  # noqa: BLE001 - counted, never lost: every connection gets an outcome
        outcome = f"client error {type(e).__name__}"
    finally:
        if not arrived:
            flood.arrive()
        if answer is not None:
            if not answer.done():
                answer.cancel()
            await asyncio.gather(answer, return_exceptions=True)
        sock.close()
    flood.outcomes.append((outcome, sent, loop.time() - t0))


def _probe_once(probe):
    """One normal request by the probe process: its status (None = no answer) and latency."""
    probe.stdin.write("go\n")
    probe.stdin.flush()
    ready, _, _ = select.select([probe.stdout], [], [], 15.0)
    line = probe.stdout.readline() if ready else ""
    try:
        return json.loads(line)
    except ValueError:
        return {"status": None, "error": "no result within 15 s", "ms": None}


async def _flood(port, count, hold, total, probe, on_hold):
    loop = asyncio.get_running_loop()
    flood = _Flood(count)
    flood.end = loop.time() + FLOOD_DEADLINE_S
    connecting = asyncio.Semaphore(FLOOD_CONNECTING)
    t0 = loop.time()
    tasks = [asyncio.ensure_future(_flood_one(port, flood, connecting, hold, total)) for _ in range(count)]
    await asyncio.wait({asyncio.ensure_future(flood.all_arrived.wait())},
                       timeout=max(0.0, flood.end - loop.time()))
    held_at = loop.time() - t0
    await asyncio.sleep(FLOOD_SETTLE_S)
    # Still waiting for the rest of their head at the barrier: those the server holds open.
    held_open = count - len(flood.outcomes)
    on_hold()
    held_probe = await loop.run_in_executor(None, _probe_once, probe)
    flood.release.set()
    during_probe = await loop.run_in_executor(None, _probe_once, probe)
    await asyncio.wait(tasks, timeout=max(0.0, flood.end - loop.time()) + 5)
    for t in tasks:
        t.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    return flood.outcomes, held_at, held_open, held_probe, during_probe, loop.time() - t0


def header_flood(proc, port, count, hold=FLOOD_HOLD, total=FLOOD_TOTAL, admin_port=None):
    """`count` connections at once to proc, each sending `GET / HTTP/1.1`, a Host and `X-Flood: `
    followed by header bytes in FLOOD_WRITE writes up to `total`, never ending the head. Every
    connection first sends `hold` bytes and waits at a barrier until all have (or have been
    answered or closed) and FLOOD_SETTLE_S more; then one normal request on a new connection
    (`held`), the flood is released, and a second normal request goes out while it runs (`during`).

    Returns VmRSS (all of proc's processes) before, the peak while the flood ran (sampled every
    FLOOD_SAMPLE_S) and 2 s after; the count of each outcome (an answer's status, "closed" without
    an answer, "no answer, still open" at the deadline, "connect failed"); the normal requests'
    status and latency; and (trinity-proxy) the change of its requests_rejected_total per reason.
    """
    if not proc.alive():  # e.g. its port was taken: the answers would come from someone else
        raise RuntimeError(f"{proc.name} exited before the flood:\n{proc.log_tail()}")
    pids = proc.pids()
    rejected = (lambda: trinity_metric(admin_port, REJECTED_METRIC)) if admin_port else dict
    rejected_before = rejected()
    probe = subprocess.Popen([sys.executable, "-c", _PROBE, str(port), SMALL_PATH], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        _probe_once(probe)  # warm-up: the probe process is ready and the proxy has served it once
        time.sleep(0.5)
        before = rss_kib(pids)
        peak = [before, 0.0]
        at_hold = [None]

        def note_hold():
            at_hold[0] = rss_kib(pids)

        done = threading.Event()
        t0 = time.monotonic()

        def sample():
            while not done.is_set():
                rss = rss_kib(pids)
                if rss > peak[0]:
                    peak[0], peak[1] = rss, time.monotonic() - t0
                done.wait(FLOOD_SAMPLE_S)

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            outcomes, held_at, held_open, held_probe, during_probe, seconds = asyncio.run(
                _flood(port, count, hold, total, probe, note_hold))
        finally:
            done.set()
            sampler.join(timeout=5)
        alive = proc.alive()
        time.sleep(2.0)
        after = rss_kib(pids)
    finally:
        probe.stdin.close()
        try:
            probe.wait(timeout=5)
        except subprocess.TimeoutExpired:
            probe.kill()
            probe.wait()
    kinds = {"unfinished": count - len(outcomes)} if len(outcomes) < count else {}
    for outcome, _, _ in outcomes:
        kinds[outcome] = kinds.get(outcome, 0) + 1
    sent = sorted(s for _, s, _ in outcomes)
    rejected_after = rejected()
    result = {
        "connections": count,
        "hold_bytes": hold,
        "total_bytes": total,
        "connecting": FLOOD_CONNECTING,
        "settle_s": FLOOD_SETTLE_S,
        "outcomes": dict(sorted(kinds.items())),
        "held_open": held_open,
        "held_after_s": held_at,
        "seconds": seconds,
        "sent_median_kib": sent[len(sent) // 2] / 1024 if sent else None,
        "sent_max_kib": sent[-1] / 1024 if sent else None,
        "answer_max_s": max((t for o, _, t in outcomes if o.isdigit()), default=None),
        "normal_held": held_probe,
        "normal_during": during_probe,
        "alive": alive,
        "rss_before_kib": before,
        "rss_held_kib": at_hold[0],
        "rss_peak_kib": peak[0],
        "rss_peak_at_s": peak[1],
        "rss_after_kib": after,
    }
    if admin_port:
        result["rejected"] = {labels: int(v - rejected_before.get(labels, 0))
                              for labels, v in rejected_after.items() if v - rejected_before.get(labels, 0)}
    return result
