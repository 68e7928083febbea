"""What a load run measures: wrk figures, a process's CPU time and memory from /proc, idle
keep-alive connections, and a replica killed under load.

CPU time is utime + stime of /proc/PID/stat, which for a process sums all its threads; nginx's
master and worker processes are summed. Memory is VmRSS of /proc/PID/status (summed over the same
processes) and PSS from /proc/PID/smaps_rollup (shared pages split between the processes sharing
them, so nginx's master and worker are not double-counted).
"""

import http.client
import os
import re
import resource
import socket
import subprocess
import threading
import time

from servers import HOST, SMALL_PATH

TICKS = os.sysconf("SC_CLK_TCK")


def stat_counters(pids):
    """(user ticks, system ticks, minor page faults) of the given processes, all threads included,
    from one read of each /proc/PID/stat."""
    user = system = faults = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        fields = stat[stat.rfind(")") + 2 :].split()
        faults += int(fields[7])
        user += int(fields[11])
        system += int(fields[12])
    return user, system, faults


def machine_busy_ticks():
    """user + nice + system ticks of all CPUs (irq/softirq left out: they run in any context)."""
    with open("/proc/stat") as f:
        fields = f.readline().split()
    return int(fields[1]) + int(fields[2]) + int(fields[3])


def children_ticks():
    """CPU ticks of this process's waited-for children (wrk) plus this process itself."""
    c = resource.getrusage(resource.RUSAGE_CHILDREN)
    me = resource.getrusage(resource.RUSAGE_SELF)
    return (c.ru_utime + c.ru_stime + me.ru_utime + me.ru_stime) * TICKS


def memory_kib(pids):
    """(RSS, PSS) in KiB summed over the given processes."""
    rss = pss = 0
    for pid in pids:
        try:
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
            with open(f"/proc/{pid}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1])
        except OSError:
            continue
    return rss, pss


_UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}
# wrk's socket error line; group 1 is the whole breakdown, "connect N, read N, write N, timeout N".
SOCKET_ERRORS = re.compile(r"Socket errors: (connect (\d+), read (\d+), write (\d+), timeout (\d+))")


def parse_wrk(text):
    out = {"requests": 0, "rps": 0.0, "p50_ms": None, "p99_ms": None, "non2xx": 0, "socket_errors": 0}
    for pct, value, unit in re.findall(r"^\s+(50|99)(?:\.0+)?%\s+([\d.]+)(us|ms|s|m)\s*$", text, re.M):
        out[f"p{pct}_ms"] = float(value) * _UNITS[unit]
    m = re.search(r"^\s+(\d+) requests in", text, re.M)
    if m:
        out["requests"] = int(m.group(1))
    m = re.search(r"^Requests/sec:\s+([\d.]+)", text, re.M)
    if m:
        out["rps"] = float(m.group(1))
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    if m:
        out["non2xx"] = int(m.group(1))
    m = SOCKET_ERRORS.search(text)
    if m:
        out["socket_errors"] = sum(int(g) for g in m.groups()[1:])
    return out


def wrk_argv(port, path, seconds, connections, headers=()):
    """headers: more request headers, e.g. ("Connection: close",) for a new connection per request."""
    return [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{seconds}s",
        "--timeout",
        "5s",
        "--latency",
        "-H",
        "Host: trinity.example.com",
        *(arg for h in headers for arg in ("-H", h)),
        f"http://{HOST}:{port}{path}",
    ]


def wrk(port, path, seconds, connections, headers=()):
    run = subprocess.run(
        wrk_argv(port, path, seconds, connections, headers),
        capture_output=True,
        text=True,
        timeout=seconds + 30,
    )
    if run.returncode != 0:
        raise RuntimeError(f"wrk failed: {run.stderr}{run.stdout}")
    return parse_wrk(run.stdout), run.stdout


def load_run(proc, port, path, seconds, connections, helpers=(), headers=()):
    """One measured wrk run against proc: throughput, latency, CPU and page faults per request,
    memory after, and how busy the rest of the machine was (`other_cpu_pct`: CPU of everything but
    proc, `helpers` (the backend), wrk and this script, in % of all cores).
    """
    pids = proc.pids()
    helper_pids = [p for h in helpers for p in h.pids()]
    u0, s0, f0 = stat_counters(pids)
    busy0, mine0, help0 = machine_busy_ticks(), children_ticks(), sum(stat_counters(helper_pids)[:2])
    t0 = time.monotonic()
    result, raw = wrk(port, path, seconds, connections, headers)
    elapsed = time.monotonic() - t0
    u1, s1, f1 = stat_counters(pids)
    busy1, mine1, help1 = machine_busy_ticks(), children_ticks(), sum(stat_counters(helper_pids)[:2])
    n = max(result["requests"], 1)
    result["cpu_user_us"] = (u1 - u0) / TICKS * 1e6 / n
    result["cpu_sys_us"] = (s1 - s0) / TICKS * 1e6 / n
    result["cpu_us"] = result["cpu_user_us"] + result["cpu_sys_us"]
    result["faults_per_req"] = (f1 - f0) / n
    other = (busy1 - busy0) - (u1 - u0) - (s1 - s0) - (mine1 - mine0) - (help1 - help0)
    result["other_cpu_pct"] = max(0.0, 100.0 * other / (elapsed * TICKS * (os.cpu_count() or 1)))
    result["rss_kib"], result["pss_kib"] = memory_kib(pids)
    result["raw"] = raw
    return result


# ---------------------------------------------------------------------------------------------
# idle keep-alive connections


def _read_response(sock):
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        data += chunk
    head, body = data.split(b"\r\n\r\n", 1)
    m = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
    want = int(m.group(1)) if m else 0
    while len(body) < want:
        chunk = sock.recv(65536)
        if not chunk:
            return False
        body += chunk
    return head.startswith(b"HTTP/1.1 200")


def idle_connections(proc, port, count, hold_s=2.0):
    """Opens `count` keep-alive connections, each sending one request, then holds them idle.

    Returns memory before, while held and after they closed, and how many failed.
    """
    pids = proc.pids()
    before = memory_kib(pids)
    socks = []
    failed = 0
    request = f"GET {SMALL_PATH} HTTP/1.1\r\nHost: trinity.example.com\r\n\r\n".encode()
    try:
        for _ in range(count):
            try:
                s = socket.create_connection((HOST, port), timeout=5)
                s.sendall(request)
                if _read_response(s):
                    socks.append(s)
                else:
                    failed += 1
                    s.close()
            except OSError:
                failed += 1
        time.sleep(hold_s)
        alive = proc.alive()
        held = memory_kib(pids)
    finally:
        for s in socks:
            s.close()
    time.sleep(hold_s)
    after = memory_kib(pids)
    return {
        "count": count,
        "failed": failed,
        "alive": alive,
        "rss_before_kib": before[0],
        "rss_held_kib": held[0],
        "rss_after_kib": after[0],
        "pss_before_kib": before[1],
        "pss_held_kib": held[1],
        "pss_after_kib": after[1],
    }


# ---------------------------------------------------------------------------------------------
# a replica killed under load


def _probe(port, until, events):
    conn = None
    while time.monotonic() < until:
        t = time.monotonic()
        try:
            if conn is None:
                conn = http.client.HTTPConnection(HOST, port, timeout=3)
            conn.request("GET", SMALL_PATH, headers={"Host": "trinity.example.com"})
            r = conn.getresponse()
            r.read()
            ok = r.status == 200
            events.append((t, time.monotonic(), ok, str(r.status)))
            if r.will_close:
                conn.close()
                conn = None
        except (OSError, http.client.HTTPException) as e:
            events.append((t, time.monotonic(), False, type(e).__name__))
            if conn is not None:
                conn.close()
            conn = None
    if conn is not None:
        conn.close()


def metrics_text(admin_port, timeout=2.0):
    """trinity-proxy's /metrics exposition, or "" when unreachable."""
    try:
        conn = http.client.HTTPConnection(HOST, admin_port, timeout=timeout)
        conn.request("GET", "/metrics")
        text = conn.getresponse().read().decode(errors="replace")
        conn.close()
        return text
    except (OSError, http.client.HTTPException):
        return ""


def metric_values(text, name):
    """{label set: value} of one metric of a /metrics exposition."""
    return {m.group(1) or "": float(m.group(2))
            for m in re.finditer(rf"^{name}(\{{[^}}]*\}})?\s+(\S+)$", text, re.M)}


def _watch_endpoint(admin_port, victim_addr, until, since, seen):
    """Polls trinity-proxy's /metrics every 50 ms; records when any upstream first reports the
    victim unhealthy (active checks) or ejected (outlier detection), in seconds after `since`."""
    label = f'endpoint="{victim_addr}"'
    while time.monotonic() < until and len(seen) < 2:
        text = metrics_text(admin_port, timeout=1)
        now = time.monotonic() - since
        for key, name, value in (("unhealthy_s", "trinity_proxy_endpoint_healthy", 0),
                                 ("ejected_s", "trinity_proxy_endpoint_ejected", 1)):
            if any(label in labels and v == value for labels, v in metric_values(text, name).items()):
                seen.setdefault(key, now)
        time.sleep(0.05)


def replica_killed(proc, port, victim, seconds, connections, kill_after_s, probes=4,
                   admin_port=None, victim_addr=None):
    """wrk load plus `probes` timestamped probe clients; SIGKILLs `victim` after kill_after_s.

    Returns wrk's errors over the whole run, the probes' failures, and the time from the kill to
    the end of the last failed probe request (0 when none failed).
    """
    end = time.monotonic() + seconds
    events = []
    threads = [threading.Thread(target=_probe, args=(port, end, events)) for _ in range(probes)]
    load = subprocess.Popen(
        wrk_argv(port, SMALL_PATH, seconds, connections),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    for t in threads:
        t.start()
    time.sleep(kill_after_s)
    killed_at = time.monotonic()
    victim.stop(sig=9)
    seen = {}
    watcher = None
    if admin_port:
        watcher = threading.Thread(target=_watch_endpoint, args=(admin_port, victim_addr, end, killed_at, seen))
        watcher.start()
    out, _ = load.communicate(timeout=seconds + 30)
    for t in threads:
        t.join(timeout=10)
    if watcher:
        watcher.join(timeout=10)
    result = parse_wrk(out)
    result.update(seen)
    failures = [e for e in events if not e[2]]
    after_kill = [e for e in failures if e[1] >= killed_at]
    result.update(
        {
            "probe_requests": len(events),
            "probe_failures": len(failures),
            "probe_failure_kinds": sorted({e[3] for e in failures}),
            # A request in flight at the kill that fails ends after it: count to its end.
            "recovery_s": (max(e[1] for e in after_kill) - killed_at) if after_kill else 0.0,
            "alive": proc.alive(),
        }
    )
    return result


# ---------------------------------------------------------------------------------------------
# a large upload


def upload(proc, port, total_bytes, deadline_s=120.0):
    """POSTs total_bytes (Content-Length, sent in 1 MiB writes) through the proxy while sampling
    its RSS every 50 ms. Returns the RSS before, the peak while uploading, the time and the status.
    """
    pids = proc.pids()
    before = memory_kib(pids)[0]
    peak = [before]
    done = threading.Event()

    def sample():
        while not done.is_set():
            peak[0] = max(peak[0], memory_kib(pids)[0])
            done.wait(0.05)

    sampler = threading.Thread(target=sample)
    sampler.start()
    start = time.monotonic()
    status = "error"
    try:
        with socket.create_connection((HOST, port), timeout=30) as s:
            s.sendall(
                f"POST /api/upload HTTP/1.1\r\nHost: trinity.example.com\r\n"
                f"Content-Type: application/octet-stream\r\nContent-Length: {total_bytes}\r\n\r\n".encode()
            )
            chunk = bytes(1 << 20)
            left = total_bytes
            while left > 0 and time.monotonic() - start < deadline_s:
                n = min(left, len(chunk))
                s.sendall(chunk[:n])
                left -= n
            head = s.recv(4096).split(b"\r\n", 1)[0].decode(errors="replace")
            status = head if left == 0 else f"stopped at the {deadline_s:.0f} s deadline"
    except OSError as e:
        status = f"{type(e).__name__}: {e}"
    elapsed = time.monotonic() - start
    done.set()
    sampler.join(timeout=5)
    return {
        "bytes": total_bytes,
        "status": status,
        "seconds": elapsed,
        "rss_before_kib": before,
        "rss_peak_kib": peak[0],
        "rss_after_kib": memory_kib(pids)[0],
    }
