"""Writes benches/RESULTS.md from one run's results; keeps the hand-written notes below MARKER."""

import glob
import json
import os
import platform
import statistics
import subprocess

MARKER = "<!-- Hand-written notes below this line are kept when run.py rewrites this file. -->"

# Scenarios a run can skip: (results key, figure, why it is missing).
SKIPPABLE = [
    ("reloads", "errors across config reloads under load", "not measured in this run (`--reloads 0` skips it)"),
    ("sse", "SSE event latency through the proxy", "not measured in this run (`--sse-events 0` skips it)"),
    ("header_flood", "RSS and answers under connections sending never-ending request heads",
     "not measured in this run (`--header-flood 0` skips it)"),
]
# Configurations of the load rounds (run.py CONFIGS): name -> label. Runs without one are "1t".
CONFIG_LABELS = {"1t": "1 thread, log off", "2t": "2 threads, log off", "1t-log": "1 thread, log on",
                 "2t-log": "2 threads, log on"}
# Issue 12: trinity-proxy's CPU per request at threads: 2 within 5 % of threads: 1.
THREADS_GOAL = 1.05
LOG_ON = (" Access log on, to a file in the run's directory (truncated between runs; log B/req = the file's growth "
          "over the run ÷ requests): trinity `RUST_LOG=info`, stdout redirected to the file (JSON lines, written in "
          "64 KiB batches at least once a second by a thread of the proxy); nginx `access_log FILE trinity "
          "buffer=64k flush=1s` (a JSON `log_format` with trinity's main fields); HAProxy `log stdout format raw` + "
          "`option httplog`, stdout redirected to the file (one write per line, by the worker thread); Caddy "
          "`log { output file FILE; format json }` (zap, one write per line). Every writer is a thread of the "
          "proxy's own processes, so its CPU counts.")
WITHOUT_HEALTH = ("trinity-proxy with active health checks on",
                  "run with `--health` (needs a binary that knows `health_check`: commit f95862a or later)")


def _cmd(argv):
    try:
        r = subprocess.run(argv, capture_output=True, text=True, timeout=10)
        return (r.stdout + r.stderr).strip().splitlines()[0]
    except (OSError, IndexError, subprocess.TimeoutExpired):
        return "?"


def machine_notes(trinity, rev=None):
    model = "?"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo") as f:
        mem_kib = int(f.readline().split()[1])
    if rev is None:
        here = os.path.dirname(os.path.abspath(__file__))
        rev = _cmd(["git", "-C", here, "rev-parse", "--short", "HEAD"])
        if _cmd(["git", "-C", here, "status", "--porcelain", "--", "../../proxy"]) not in ("", "?"):
            rev += " + uncommitted changes under proxy/"
    return {
        "cpu": f"{os.cpu_count()} × {model}",
        "memory": f"{mem_kib / 1048576:.1f} GiB",
        "kernel": platform.release(),
        "nginx": _cmd(["nginx", "-v"]),
        "haproxy": _cmd(["haproxy", "-v"]),
        "caddy": "Caddy " + _cmd(["caddy", "version"]),
        "wrk": _cmd(["wrk", "-v"]),
        "trinity-proxy": f"{trinity} (built from {rev})",
    }


def criterion_summary(directory):
    rows = []
    for bench in sorted(glob.glob(os.path.join(directory, "**", "new", "benchmark.json"), recursive=True)):
        try:
            with open(bench) as f:
                meta = json.load(f)
            with open(os.path.join(os.path.dirname(bench), "estimates.json")) as f:
                est = json.load(f)
        except (OSError, ValueError):
            continue
        rows.append((meta.get("full_id", bench), est["median"]["point_estimate"],
                     est["median"]["confidence_interval"]["lower_bound"],
                     est["median"]["confidence_interval"]["upper_bound"]))
    return rows


def _ns(v):
    return f"{v:.1f} ns" if v < 1000 else f"{v / 1000:.2f} µs"


def _med(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def _f(v, fmt="{:.1f}"):
    return "–" if v is None else fmt.format(v)


def _table(header, rows):
    """A Markdown table: the header cells, the separator line, then one line per row of cells."""
    return ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)] + [
        "| " + " | ".join(str(cell) for cell in row) + " |" for row in rows]


def _config(r):
    return r.get("config", "1t")


def _pair(runs, body, a, b, key, op):
    """Median over rounds of op(a's key, b's key), a and b being (proxy, configuration) measured in
    the same round with the same body."""
    out = []
    for r in runs:
        if (r["proxy"], _config(r)) != a or r["body"] != body:
            continue
        base = [n for n in runs if (n["proxy"], _config(n)) == b and n["body"] == body and n["round"] == r["round"]]
        if base and r.get(key) is not None and base[0].get(key):
            out.append(op(r[key], base[0][key]))
    return _med(out)


def _ratio(runs, proxy, body, key, config="1t"):
    """Median over rounds of proxy/nginx for `key` in one configuration, each ratio taken within one round."""
    return _pair(runs, body, (proxy, config), ("nginx", config), key, lambda x, y: x / y)


def _configs(runs):
    return list(dict.fromkeys(_config(r) for r in runs))


def _proxies(runs):
    return list(dict.fromkeys(r["proxy"] for r in runs))


def write(path, res):
    notes = ""
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
        if MARKER in text:
            notes = text.split(MARKER, 1)[1]
    m, s = res["machine"], res["settings"]
    runs = res["runs"]
    configs = _configs(runs) or list(s.get("configs") or ["1t"])
    out = [
        "# Benchmark results",
        "",
        f"Generated by `benches/load/run.py` ({res['started']} – {res.get('finished', '?')}). "
        "Figures, not pass/fail tests. Questions and method: `benches/README.md`.",
        "",
        "## How",
        "",
        f"- Command: `{res['command']}` (via `make bench`: Criterion first, then this harness).",
        f"- Load average (1/5/15 min) before: {res['load_before']}; after: {res.get('load_after', '?')}.",
        f"- Machine: {m['cpu']}, {m['memory']}, Linux {m['kernel']}; {m['nginx']}; {m['haproxy']}; "
        + (f"{m['caddy']}; " if m.get("caddy") else "") + f"{m['wrk']}.",
        f"- trinity-proxy: {m['trinity-proxy']}.",
        (f"- Load: `wrk -t1 -c{s['connections']} -d{s['seconds']}s --latency`, {s['rounds']} interleaved rounds "
         f"(in each round, per configuration {', '.join(f'`{c}`' for c in configs)}: "
         f"{', '.join(_proxies(runs))}; then the next round), each run after a {s['warmup']} s "
         "unmeasured warm-up. " if runs else "- Load rounds: none in this run (`--rounds 0`). ")
        + "Client, proxy and backend share the 2 cores; nothing is pinned.",
        "- Backend: nginx 1 process, static files (open_file_cache): small = 90-byte JSON, 64KiB = 65,536 bytes.",
        "- Configurations of the load rounds: " + "; ".join(f"`{c}` = {CONFIG_LABELS.get(c, c)}" for c in configs)
        + ". N threads = trinity `threads: N` (N single-threaded worker runtimes + a control thread); nginx "
        "`worker_processes N`; HAProxy `nbthread N`; Caddy `GOMAXPROCS=N`. Access log off: trinity `RUST_LOG=warn`, "
        "nginx `access_log off`, HAProxy no `log`, Caddy no `log` directive."
        + (LOG_ON if any(c.endswith("-log") for c in configs) else ""), 
        "- Each proxy: the 5 Trinity routes, keep-alive to the backend (idle pool 128), X-Forwarded-For/-Proto/-Host, "
        "X-Real-IP, X-Request-Id (request and response), prefix strip on /minio-console, responses streamed "
        "(nginx `proxy_buffering off`; Caddy `reverse_proxy` at its defaults: streamed, flushed as its buffer fills). "
        "trinity-proxy's metrics are on"
        + ("; active health checks on (trinity-proxy: HTTP GET of the small body every 2 s per upstream, outlier "
           "detection at its defaults; HAProxy: `check inter 2s`; Caddy: `health_interval 2s`; nginx: passive only)."
           if s.get("health") else "; no active health checks.")
        + (" Caddy (`caddy run`, Caddyfile, `admin off`, `auto_https off`) is in the load rounds and the idle "
           "scenario only." if "caddy" in _proxies(runs) else ""),
        "- CPU per request = Δ(utime+stime) of /proc/PID/stat over the measured run (all threads; nginx master + "
        "workers) ÷ requests wrk completed. Tick = 10 ms, so ±0.1 % per 10 s run.",
        "- RSS = VmRSS summed over the proxy's processes after the run; PSS from smaps_rollup splits shared pages.",
        "- Ratios are taken to nginx in the same configuration **within the same round**, then the median over "
        "rounds.",
    ]
    for mr in res.get("merged", []):
        out.append(f"- Re-measured later and merged in (`--merge-into`): {', '.join(mr['keys'])}, by "
                   f"`{mr['command']}` ({mr['started']} – {mr.get('finished', '?')}; load {mr['load_before']} → "
                   f"{mr.get('load_after', '?')}; trinity-proxy {mr['trinity-proxy']}).")
    out += [
        "",
    ]
    for body in sorted({r["body"] for r in runs}, key=lambda b: b != "small"):
        rows = []
        for config in configs:
            for proxy in _proxies(runs):
                rs = [r for r in runs if r["proxy"] == proxy and r["body"] == body and _config(r) == config]
                if not rs:
                    continue
                rows.append([
                    CONFIG_LABELS.get(config, config), proxy, _f(_med([r['rps'] for r in rs]), '{:,.0f}'),
                    _f(_med([r['p50_ms'] for r in rs]), '{:.2f}'), _f(_med([r['p99_ms'] for r in rs]), '{:.2f}'),
                    f"{_f(_med([r['cpu_us'] for r in rs]))} ({_f(_med([r['cpu_user_us'] for r in rs]))} + "
                    f"{_f(_med([r['cpu_sys_us'] for r in rs]))})",
                    _f(max(r['rss_kib'] for r in rs) / 1024), _f(max(r['pss_kib'] for r in rs) / 1024),
                    _f(_med([r.get('log_bytes_per_req') for r in rs]), '{:.0f}'),
                    _f(_ratio(runs, proxy, body, 'cpu_us', config), '{:.2f}'),
                    _f(_ratio(runs, proxy, body, 'rps', config), '{:.2f}'),
                    _f(_ratio(runs, proxy, body, 'p99_ms', config), '{:.2f}')])
        out += [f"## Load: {body} body", ""]
        out += _table(["configuration", "proxy", "req/s", "p50 ms", "p99 ms", "CPU µs/req (user + sys)", "RSS MiB",
                       "PSS MiB", "log B/req", "CPU × nginx", "req/s × nginx", "p99 × nginx"], rows)
        out += ["", "Medians over rounds; RSS/PSS the largest after any round; × nginx = to nginx in the same "
                "configuration and round.", ""]
        out += threads_and_log(runs, body, configs)
    for name, env in res.get("variants", {}).items():
        out += [f"`{name}` is trinity-proxy with " + ", ".join(f"`{k}={v}`" for k, v in env.items()) + ".", ""]
    if runs:
        out += every_run(runs)
    idle_cfg = res.get("idle_rss_config")
    out += ["", "Idle RSS right after start (one request served"
            + (f"; configuration {CONFIG_LABELS.get(idle_cfg, idle_cfg)}" if idle_cfg else "") + "): " + ", ".join(
        f"{k} {v[0] / 1024:.1f} MiB (PSS {v[1] / 1024:.1f})" for k, v in res["idle_rss"].items()) + ".", ""]

    if res["idle"]:
        out += ["## Idle keep-alive connections", "",
                "Each connection sends one request, reads the response, then stays open and idle for 2 s; then all "
                "close. Same proxy processes as the load runs"
                + (f" of the first configuration ({CONFIG_LABELS.get(idle_cfg, idle_cfg)})" if idle_cfg else "")
                + " (so 'before' is after load). Per connection = (held − before) ÷ N.", ""]
        out += _table(["N", "proxy", "RSS before MiB", "RSS held MiB", "KiB / connection", "RSS 2 s after close MiB",
                       "failed"],
                      ([f"{r['count']:,}", r['proxy'], f"{r['rss_before_kib'] / 1024:.1f}",
                        f"{r['rss_held_kib'] / 1024:.1f}",
                        f"{(r['rss_held_kib'] - r['rss_before_kib']) / max(r['count'] - r['failed'], 1):.1f}",
                        f"{r['rss_after_kib'] / 1024:.1f}", r['failed']] for r in res["idle"]))
        out.append("")

    if res["failover"]:
        out += ["## A replica killed under load", "",
                "Two backend replicas behind each proxy (round-robin; "
                + ("active health checks in trinity-proxy (HTTP probe every 2 s) and HAProxy (`check inter 2s fall 3`), "
                   "none in nginx (not in its open-source build); " if s.get("health") else
                   "no active health checks in any of the three; ")
                + "trinity-proxy's outlier detection, where the binary has it, at its defaults); "
                f"wrk -c{s['connections']} for 12 s plus 4 timestamped probe clients; one replica is SIGKILLed at 4 s. "
                "Recovery = time from the kill to the end of the last failed probe request (0 = no probe failed). nginx: "
                "defaults (`max_fails=1 fail_timeout=10s`, `proxy_next_upstream error timeout`); HAProxy: "
                "`retries 2`, `option redispatch 1`; trinity-proxy: retry on connect failure (2 retries). Ejected/unhealthy "
                "= when trinity-proxy's /metrics first showed the killed replica ejected (outlier detection) or unhealthy "
                "(active checks, with `--health`), polled every 50 ms; – = not within the 8 s after the kill.", ""]
        out += _table(["proxy", "wrk requests", "wrk non-2xx", "wrk socket errors", "probe failures / requests",
                       "kinds", "recovery s", "trinity: ejected after s", "trinity: unhealthy after s"],
                      ([r['proxy'], f"{r['requests']:,}", r['non2xx'], r['socket_errors'],
                        f"{r['probe_failures']} / {r['probe_requests']:,}",
                        ', '.join(r['probe_failure_kinds']) or '–', f"{r['recovery_s']:.3f}",
                        _f(r.get('ejected_s'), '{:.2f}'), _f(r.get('unhealthy_s'), '{:.2f}')]
                       for r in res["failover"]))
        out.append("")

    if res.get("upload"):
        out += ["## RSS during a large upload", "",
                "One POST with Content-Length, sent in 1 MiB writes, through each proxy to a Python backend that reads "
                "and discards it (`load/sink.py`); RSS sampled every 50 ms. nginx with `proxy_request_buffering off` "
                "(streams like the others instead of spooling the body to disk first).", ""]
        out += _table(["proxy", "bytes", "answer", "seconds", "MiB/s", "RSS before MiB", "RSS peak MiB", "growth MiB"],
                      ([r['proxy'], f"{r['bytes']:,}", r['status'], f"{r['seconds']:.1f}",
                        f"{r['bytes'] / 1048576 / max(r['seconds'], 1e-9):.0f}", f"{r['rss_before_kib'] / 1024:.1f}",
                        f"{r['rss_peak_kib'] / 1024:.1f}", f"{(r['rss_peak_kib'] - r['rss_before_kib']) / 1024:.1f}"]
                       for r in res["upload"]))
        out.append("")

    out += scenario_sections(res)

    if res.get("criterion"):
        out += ["## Micro-benchmarks (Criterion, `cargo bench -p trinity-benches`)", "",
                "Median time per iteration with its 95 % confidence interval.", ""]
        out += _table(["benchmark", "median", "interval"],
                      ([f"`{name}`", _ns(med), f"{_ns(lo)} – {_ns(hi)}"] for name, med, lo, hi in res["criterion"]))
        out.append("")

    if res.get("perf"):
        p = res["perf"]
        out += ["## Profile of trinity-proxy under load (`perf record --call-graph dwarf`, small body)", ""]
        if "error" in p:
            out += [p["error"], ""]
        else:
            if p.get("attribution"):
                out += ["Inclusive share of trinity-proxy's CPU (a frame and everything it calls; the rows "
                        "overlap):", ""]
                out += _table(["where", "share of CPU"],
                              ([label, f"{share:.1f} %"] for label, share in p["attribution"])) + [""]
            out += ["Self time by shared object:", "", "```", *p["dsos"], "```", "",
                    "Top symbols by self time:", "", "```", *p["symbols"], "```", ""]

    pending = [] if s.get("health") else [WITHOUT_HEALTH]
    pending += [(figure, why) for key, figure, why in SKIPPABLE if not res.get(key)]
    if pending:
        out += ["## Pending", ""] + _table(["figure", "why not yet"], pending) + [""]
    out += [MARKER]
    text = "\n".join(out) + (notes if notes else "\n")
    with open(path, "w") as f:
        f.write(text)


def threads_and_log(runs, body, configs):
    """Per proxy, from runs of one round: CPU per request at 2 threads ÷ 1 thread (log off, log on)
    and the access log's CPU per request (log on − log off, at 1 and 2 threads); medians over rounds."""
    pairs = [("2t", "1t"), ("2t-log", "1t-log")]
    logs = [("1t-log", "1t"), ("2t-log", "2t")]
    ratio_cols = [(a, b) for a, b in pairs if a in configs and b in configs]
    log_cols = [(a, b) for a, b in logs if a in configs and b in configs]
    if not ratio_cols and not log_cols:
        return []
    rows = []
    for proxy in _proxies(runs):
        row = [proxy]
        row += [_f(_pair(runs, body, (proxy, a), (proxy, b), "cpu_us", lambda x, y: x / y), "{:.2f}")
                for a, b in ratio_cols]
        row += [_f(_pair(runs, body, (proxy, a), (proxy, b), "cpu_us", lambda x, y: x - y), "{:+.1f}")
                for a, b in log_cols]
        rows.append(row)
    header = ["proxy"]
    header += [f"CPU/req 2 threads ÷ 1 ({'log on' if a.endswith('-log') else 'log off'})" for a, _ in ratio_cols]
    header += [f"access log µs/req ({'2 threads' if a.startswith('2t') else '1 thread'}: on − off)"
               for a, _ in log_cols]
    out = [f"### {body} body: threads: 2 vs threads: 1, and the access log's cost", "",
           "Each figure is taken between runs of the same proxy in the same round, then the median over rounds. "
           "With client, backend and proxy on 2 cores, a second thread cannot raise throughput much: the CPU per "
           "request is the figure to compare.", ""]
    out += _table(header, rows)
    out.append("")
    if ("2t", "1t") in ratio_cols:
        v = _pair(runs, body, ("trinity-proxy", "2t"), ("trinity-proxy", "1t"), "cpu_us", lambda x, y: x / y)
        if v is not None:
            verdict = "within" if v <= THREADS_GOAL else "**not within**"
            out += [f"trinity-proxy's CPU per request at `threads: 2` is **{v:.3f}×** that at `threads: 1` "
                    f"({verdict} issue 12's goal, ≤ {THREADS_GOAL:.2f}×).", ""]
    return out


def every_run(runs):
    out = ["### Every run", "",
           "Page faults = minor faults of the proxy per request. Other CPU = what the rest of the machine used during "
           "the run (all CPU but the proxy, the backend, wrk and the harness), in % of both cores: interference. "
           "Log B/req = bytes the access log grew by per request (– = log off).", ""]
    return out + _table(
        ["body", "round", "configuration", "proxy", "req/s", "p50 ms", "p99 ms", "CPU µs/req", "user", "sys",
         "page faults/req", "errors", "RSS MiB", "log B/req", "other CPU %"],
        ([r['body'], r['round'], _config(r), r['proxy'], f"{r['rps']:,.0f}", _f(r['p50_ms'], '{:.2f}'),
          _f(r['p99_ms'], '{:.2f}'), f"{r['cpu_us']:.1f}", f"{r['cpu_user_us']:.1f}", f"{r['cpu_sys_us']:.1f}",
          f"{r.get('faults_per_req', 0):.2f}", r['non2xx'] + r['socket_errors'], f"{r['rss_kib'] / 1024:.1f}",
          _f(r.get('log_bytes_per_req'), '{:.0f}'), f"{r.get('other_cpu_pct', 0):.1f}"]
         for r in runs))


def _provenance(res, key):
    """(command, started, finished, trinity-proxy) of the run that measured `key`: the last run
    merged in with it, else the run the file comes from."""
    for mr in reversed(res.get("merged", [])):
        if key in mr["keys"]:
            return mr["command"], mr["started"], mr.get("finished", "?"), mr["trinity-proxy"]
    return res["command"], res["started"], res.get("finished", "?"), res["machine"]["trinity-proxy"]


def _normal(probe):
    """A normal request's outcome: status and latency, or why it got none."""
    if probe.get("status"):
        return f"{probe['status']} in {_f(probe.get('ms'), '{:.1f}')} ms"
    return f"**no answer** ({probe.get('error', 'closed')}, {_f(probe.get('ms'), '{:.0f}')} ms)"


def header_flood_section(res):
    rs = res["header_flood"]
    r0 = rs[0]
    cmd, started, finished, binary = _provenance(res, "header_flood")
    nginx = next((r for r in rs if r["proxy"] == "nginx"), None)

    def growth(r):
        return (r["rss_peak_kib"] - r["rss_before_kib"]) / 1024

    out = [f"## {r0['connections']:,} connections sending never-ending request heads", "",
           f"Measured by `{cmd}` ({started} – {finished}); trinity-proxy {binary}.", "",
           "A fresh instance of each proxy, header limits at their defaults (trinity-proxy "
           "`limits.max_header_bytes: 32KiB`, `limits.max_headers: 100`, `timeouts.client_header: 10s`; nginx "
           "`client_header_buffer_size 1k`, `large_client_header_buffers 4 8k`, `client_header_timeout 60s`; HAProxy "
           "`tune.bufsize 16384`, `timeout http-request` unset, so `timeout client 300s`). "
           f"{r0['connections']:,} connections at once (asyncio, raw sockets, at most {r0['connecting']} connects in "
           "flight), each sending `GET / HTTP/1.1\\r\\nHost: t\\r\\nX-Flood: ` and then `a` × 8 KiB writes, never "
           f"ending the header; each first sends {r0['hold_bytes'] // 1024} KiB and waits at a barrier until every "
           f"connection has (or has been answered or closed) and {_f(r0.get('settle_s'), '{:g}')} s more (for the "
           f"servers to read what was sent), then continues up to {r0['total_bytes'] // 1048576} MiB, stopping at the "
           "server's answer or close. At the barrier one normal request (GET /api/v1/items) goes out on a new "
           "connection from a separate process (held), the flood is released, and a second normal request goes out "
           "while it runs (during). VmRSS of all the proxy's processes is sampled every 20 ms from before the first "
           "connect to the last connection's end; growth = peak − before. Held open = connections still waiting for "
           "the rest of their head at the barrier (neither answered nor closed). An answer counts when its status line "
           "reaches the client, even after the client's writes failed (the server closed).", ""]

    def to_nginx(value):
        base = value(nginx) if nginx else None
        return lambda r: _f(value(r) / base if base and base > 0 else None, "{:.2f}")

    growth_x, peak_x = to_nginx(growth), to_nginx(lambda r: r["rss_peak_kib"])
    out += _table(["proxy", "RSS before MiB", "RSS at the barrier MiB", "RSS peak MiB", "growth MiB", "growth × nginx",
                   "peak × nginx", "RSS 2 s after MiB"],
                  ([r["proxy"], f"{r['rss_before_kib'] / 1024:.1f}", _f(r["rss_held_kib"] and r["rss_held_kib"] / 1024),
                    f"{r['rss_peak_kib'] / 1024:.1f}", f"**{growth(r):.1f}**", growth_x(r), peak_x(r),
                    f"{r['rss_after_kib'] / 1024:.1f}"] for r in rs))
    out.append("")
    known = ["431", "400", "408", "414", "closed", "no answer, still open"]
    out += _table(["proxy", "held open at the barrier", "431", "400", "408", "414", "other", "closed without an answer",
                   "no answer by the deadline", "KiB sent per connection (median / max)", "last answer after s",
                   "normal request: held", "normal request: during", "flood s"],
                  ([r["proxy"], f"{r['held_open']:,}", *(f"{r['outcomes'].get(k, 0):,}" for k in known[:4]),
                    ", ".join(f"{k}: {v:,}" for k, v in r["outcomes"].items() if k not in known) or 0,
                    f"{r['outcomes'].get('closed', 0):,}", f"{r['outcomes'].get('no answer, still open', 0):,}",
                    f"{_f(r['sent_median_kib'], '{:.0f}')} / {_f(r['sent_max_kib'], '{:.0f}')}",
                    _f(r["answer_max_s"], "{:.2f}"), _normal(r["normal_held"]), _normal(r["normal_during"]),
                    f"{r['seconds']:.1f}"] for r in rs))
    out.append("")
    for r in rs:
        if r.get("rejected"):
            out.append(f"{r['proxy']}'s `trinity_proxy_requests_rejected_total` rose by " + ", ".join(
                f"{v:,} `{k}`" for k, v in r["rejected"].items()) + ".")
        if not r["alive"]:
            out.append(f"**{r['proxy']} had exited by the end of the flood.**")
    out += ["", "KiB sent counts the bytes the client handed to its socket: the kernel's buffers on both sides hold "
            "some of them, so it exceeds what a server read before answering.", ""]
    return out


def scenario_sections(res):
    """The sections of scenarios.py: config reloads under load, SSE event latency, header flood."""
    out = []
    if res.get("reloads"):
        rs = res["reloads"]
        gap = rs[0]["interval_s"]
        out += [f"## Errors across {rs[0]['reloads_sent']} config reloads under load", "",
                f"wrk -c{res['settings']['connections']} for {rs[0]['seconds']} s through a fresh instance of each proxy; "
                f"from 1 s in, its config is rewritten and reloaded every {gap} s: trinity-proxy's YAML replaced by "
                "rename, then SIGHUP (it also watches the file); nginx SIGHUP to the master (`nginx -s reload`); "
                "HAProxy started in master-worker mode (`-W`, unlike the load rounds) and sent SIGUSR2. Each reload "
                "really changes the config: generation G adds a route `/reload-gen-G` (prefix stripped) in place of "
                "G−1's. Confirmed = a probe (new connection every 5 ms) got 200 from `/reload-gen-G/api/v1/items` "
                f"within {0.9 * gap:.2f} s of the signal; apply ms = signal to that 200. Probe errors = probe connections that "
                "failed. trinity counter = change of `trinity_proxy_config_reloads_total{result}` on its admin "
                "/metrics: each reload may count twice, once for the file change and once for SIGHUP.", ""]
        out += _table(["proxy", "requests", "non-2xx", "socket errors (kinds)", "reloads confirmed / sent",
                       "apply ms p50 / max", "probe errors", "trinity counter success / failure",
                       "RSS before → after MiB"],
                      ([r['proxy'], f"{r['requests']:,}", r['non2xx'],
                        f"{r['socket_errors']} ({r['socket_error_kinds'] or '–'})",
                        f"{r['reloads_confirmed']} / {r['reloads_sent']}",
                        f"{_f(r['reload_p50_ms'])} / {_f(r['reload_max_ms'])}", r['probe_errors'],
                        f"+{r['counter_success']} / +{r['counter_failure']}" if "counter_success" in r else "–",
                        f"{r['rss_before_kib'] / 1024:.1f} → {r['rss_after_kib'] / 1024:.1f}"] for r in rs))
        out.append("")
    if res.get("sse"):
        out += ["## SSE event latency", "",
                "One client reads `text/event-stream` events from a Python backend (`load/sse.py`: chunked, one event "
                "every 10 ms, each a write of its own with TCP_NODELAY) directly and through a fresh instance of each "
                "proxy (`/api` route). Latency per event = CLOCK_MONOTONIC when the client's read returned − "
                "CLOCK_MONOTONIC just before the backend's write (one clock for all processes). Events per read > 1 "
                "means the events were held back and arrived together. HAProxy as in the load rounds, and with "
                "`option http-no-delay` (without it, HAProxy sends partial bodies with MSG_MORE, which the kernel may "
                "hold for up to 200 ms).", ""]
        out += _table(["path", "events received", "p50 ms", "p99 ms", "max ms", "reads", "most events in one read",
                       "answer"],
                      ([r['proxy'], f"{r['received']} / {r['events']}", _f(r['p50_ms'], '{:.3f}'),
                        _f(r['p99_ms'], '{:.3f}'), _f(r['max_ms'], '{:.3f}'), r['reads'], r['max_events_per_read'],
                        f"{r['status']}, {r['framing']}"] for r in res["sse"]))
        out.append("")
    if res.get("header_flood"):
        out += header_flood_section(res)
    return out
