#!/usr/bin/env python3
"""Load harness: trinity-proxy, nginx, HAProxy and Caddy in front of one nginx backend, driven by wrk.

Question: per proxied request, how much CPU does each proxy spend, at what throughput and
latency, and with how much memory — on this machine, in the same run, with equivalent settings?

One run:
  1. installs nginx, haproxy, caddy and wrk from Debian packages when missing;
  2. starts the backend (nginx, one process: a small JSON body and a 64 KiB body) and the proxies
     once per configuration (`--configs`: 1t = one worker thread each, access log off; 2t = two;
     1t-log / 2t-log = the same with the access log on, to a file), each with keep-alive to the
     backend and the 5 Trinity routes;
  3. drives each with wrk (1 thread, 64 connections) in interleaved rounds (every configuration's
     proxies A B C D, then the next configuration, then the next round), each measured run
     preceded by an unmeasured warm-up;
  4. scenarios (trinity-proxy, nginx and HAProxy; Caddy only in the load rounds and the idle
     connections): RSS at N idle keep-alive connections; errors and time to recovery when one of two
     backend replicas is SIGKILLed under load; RSS growth during a 1 GiB upload; errors across 50
     config reloads under load; SSE event latency; RSS and answers under 1000 connections sending
     never-ending request heads (scenarios.py);
  5. writes benches/RESULTS.md (hand-written notes below the marker line are kept).

Everything listens on 127.0.0.1; every loop is bounded in count and time. Python stdlib only.
Example:  benches/load/run.py --trinity target/release/trinity-proxy --rounds 3 --seconds 10
"""

import argparse
import json
import os
import re
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import measure  # noqa: E402
import report  # noqa: E402
import scenarios  # noqa: E402
import servers  # noqa: E402

PORTS = {"backend": 18081, "backend2": 18082, "sink": 18083, "sse": 18084, "trinity-proxy": 18090,
         "trinity-admin": 18091, "nginx": 18092, "haproxy": 18093, "failover": 18190, "failover-admin": 18191}
# The proxies of the scenarios after the load rounds; LOAD_PROXIES: those of the load rounds.
PROXIES = ["trinity-proxy", "nginx", "haproxy"]
LOAD_PROXIES = PROXIES + ["caddy"]
BODIES = [("small", servers.SMALL_PATH), ("64KiB", servers.BIG_PATH)]
# Configurations of the load rounds: name -> (worker threads, access log on).
CONFIGS = {"1t": (1, False), "2t": (2, False), "1t-log": (1, True), "2t-log": (2, True)}
# Ports of the load-round proxies: a block of CONFIG_PORT_STEP per configuration from CONFIG_PORT_BASE,
# at these offsets (trinity-proxy's admin port is the next one; variants from offset 10, 2 apart).
CONFIG_PORT_BASE, CONFIG_PORT_STEP = 18200, 20
PORT_OFFSET = {"trinity-proxy": 0, "nginx": 2, "haproxy": 3, "caddy": 4}
MAX_VARIANTS = 4


def ensure_packages():
    missing = [p for p, exe in [("nginx", "nginx"), ("haproxy", "haproxy"), ("caddy", "caddy"), ("wrk", "wrk")]
               if not shutil.which(exe)]
    if not missing:
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    print(f"installing {' '.join(missing)} from Debian packages", flush=True)
    subprocess.run(sudo + ["apt-get", "update", "-qq"], check=True, env=env)
    subprocess.run(sudo + ["apt-get", "install", "-y", "-qq", *missing], check=True, env=env)


def raise_nofile(want):
    """Raises this process's open-file limit (inherited by the servers) to `want` when root can,
    else to the hard limit; returns the soft limit in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard < want and os.geteuid() == 0:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, want))
        except (ValueError, OSError):
            pass
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def wait_quiet(seconds):
    end = time.monotonic() + seconds
    while time.monotonic() < end and float(loadavg().split()[0]) >= 1.0:
        print(f"waiting for a quiet machine (load {loadavg()})", flush=True)
        time.sleep(min(10, max(0.0, end - time.monotonic())))


def loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def haproxy_maxconn(nofile):
    """HAProxy refuses to start unless 2 fds per maxconn fit in its limit."""
    return (nofile - 100) // 2


def start_proxy(name, args, workdir, port, backends, nofile, suffix="", threads=1, access_log=False, admin=None,
                **haproxy_opts):
    """haproxy_opts: master_worker, no_delay (servers.start_haproxy). admin: trinity-proxy's admin
    port (default: PORTS' failover-admin with a suffix, else trinity-admin)."""
    label = name + suffix
    if name == "trinity-proxy":
        admin = admin or (PORTS["failover-admin"] if suffix else PORTS["trinity-admin"])
        return servers.start_trinity(args.trinity, workdir, label, port, admin, backends, health=args.health,
                                     threads=threads, access_log=access_log)
    if name == "nginx":
        return servers.start_nginx(workdir, label, port, backends, nofile, workers=threads, access_log=access_log)
    if name == "caddy":
        return servers.start_caddy(workdir, label, port, backends, threads=threads, access_log=access_log,
                                   health=args.health)
    return servers.start_haproxy(workdir, label, port, backends, maxconn=haproxy_maxconn(nofile), nofile=nofile,
                                 health=args.health, threads=threads, access_log=access_log, **haproxy_opts)


def parse_list(text, known, what):
    """A comma-separated selection of `known` names, in the order given; exits on an unknown one."""
    out = list(dict.fromkeys(x.strip() for x in text.split(",") if x.strip()))
    unknown = [x for x in out if x not in known]
    if unknown or not out:
        sys.exit(f"--{what}: {', '.join(unknown) or 'none given'}; choose from {', '.join(known)}")
    return out


def file_size(path):
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trinity", help="trinity-proxy binary (a release build); required unless --from-json")
    ap.add_argument("--rounds", type=int, default=3, help="interleaved rounds per body (default 3; 0 to skip)")
    ap.add_argument("--seconds", type=int, default=10, help="measured seconds per wrk run (default 10)")
    ap.add_argument("--warmup", type=int, default=2, help="unmeasured warm-up seconds before each run")
    ap.add_argument("--connections", type=int, default=64)
    ap.add_argument("--configs", default=",".join(CONFIGS), metavar="LIST",
                    help="configurations of the load rounds, in order (default all: %(default)s): 1t = 1 worker "
                         "thread/process each, access log off; 2t = 2; 1t-log, 2t-log = the same with the access "
                         "log on, to a file")
    ap.add_argument("--proxies", default=",".join(LOAD_PROXIES), metavar="LIST",
                    help="proxies of the load rounds (default all: %(default)s); the ratios need nginx")
    ap.add_argument("--idle", default="1000,10000", help="idle keep-alive connection counts ('' to skip)")
    ap.add_argument("--health", action="store_true",
                    help="active health checks on (trinity-proxy health_check, HAProxy check; nginx has none)")
    ap.add_argument("--no-failover", action="store_true", help="skip the replica-killed scenario")
    ap.add_argument("--upload-mib", type=int, default=1024, help="size of the upload scenario (0 to skip)")
    ap.add_argument("--reloads", type=int, default=50,
                    help=f"config reloads under load, {scenarios.RELOAD_INTERVAL_S} s apart (default 50; 0 to skip)")
    ap.add_argument("--sse-events", type=int, default=200,
                    help=f"SSE events read per proxy, {scenarios.SSE_INTERVAL_MS} ms apart (default 200; 0 to skip)")
    ap.add_argument("--header-flood", type=int, default=1000, metavar="N",
                    help="connections at once sending a never-ending request head, per proxy (default 1000; 0 to skip)")
    ap.add_argument("--header-flood-hold", type=int, default=scenarios.FLOOD_HOLD // 1024, metavar="KIB",
                    help="KiB of head each flood connection sends before the barrier "
                         f"(default {scenarios.FLOOD_HOLD // 1024})")
    ap.add_argument("--perf", action="store_true", help="perf record -g trinity-proxy during one extra run")
    ap.add_argument("--criterion-dir", help="Criterion output directory to summarise (TARGET/criterion)")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "RESULTS.md"))
    ap.add_argument("--trinity-rev", help="what the binary was built from (default: this repository's HEAD)")
    ap.add_argument("--wait-quiet", type=int, default=0, metavar="SECONDS",
                    help="first wait up to SECONDS for the 1-minute load average to fall below 1")
    ap.add_argument("--variant", action="append", default=[], metavar="LABEL:KEY=VAL[,KEY=VAL]",
                    help="one more trinity-proxy in the load rounds (in every configuration) and idle scenario, "
                         f"with extra environment variables (at most {MAX_VARIANTS}) "
                         "(BIN=PATH: another binary) — to measure a lever, e.g. "
                         "'trim:GLIBC_TUNABLES=glibc.malloc.trim_threshold=67108864'")
    ap.add_argument("--from-json", metavar="FILE",
                    help="measure nothing: rewrite --out from a saved RESULTS.json (e.g. with new --criterion-dir)")
    ap.add_argument("--merge-into", metavar="FILE",
                    help="write --out from a saved RESULTS.json with this run's figures in place of its own for the "
                         "scenarios this run measured (the others kept), e.g. one scenario re-measured")
    ap.add_argument("--keep-workdir", action="store_true")
    args = ap.parse_args()
    if args.from_json:
        with open(args.from_json) as f:
            results = json.load(f)
        finish(args, results)
        return
    args.rounds = max(0, min(args.rounds, 20))
    args.reloads = max(0, min(args.reloads, 1000))
    args.sse_events = max(0, min(args.sse_events, 10_000))
    args.header_flood = max(0, min(args.header_flood, 10_000))
    args.header_flood_hold = max(1, min(args.header_flood_hold, scenarios.FLOOD_TOTAL // 1024))
    args.seconds = max(1, min(args.seconds, 120))
    args.configs = parse_list(args.configs, list(CONFIGS), "configs")
    args.proxies = parse_list(args.proxies, LOAD_PROXIES, "proxies")
    if len(args.variant) > MAX_VARIANTS:
        sys.exit(f"at most {MAX_VARIANTS} --variant")
    args.trinity = os.path.abspath(args.trinity or "")
    if not os.access(args.trinity, os.X_OK) or os.path.isdir(args.trinity):
        sys.exit(f"not an executable: {args.trinity}")

    ensure_packages()
    wait_quiet(args.wait_quiet)
    idle_counts = [int(x) for x in args.idle.split(",") if x.strip()]
    nofile = raise_nofile(2 * max(idle_counts + [1000, args.header_flood]) + 1000)
    workdir = tempfile.mkdtemp(prefix="trinity-bench-")
    started = time.strftime("%Y-%m-%d %H:%M:%S %Z")
    results = {
        "command": shlex.join([os.path.relpath(sys.argv[0])] + sys.argv[1:]),
        "started": started,
        "load_before": loadavg(),
        "machine": report.machine_notes(args.trinity, args.trinity_rev),
        "settings": {"health": args.health, "rounds": args.rounds, "seconds": args.seconds, "warmup": args.warmup,
                     "connections": args.connections, "nofile": nofile,
                     "configs": {c: {"threads": CONFIGS[c][0], "access_log": CONFIGS[c][1]} for c in args.configs}},
        "idle_rss": {}, "runs": [], "idle": [], "failover": [], "upload": [], "reloads": [], "sse": [],
        "header_flood": [], "perf": None,
    }
    procs = []
    try:
        backend = servers.start_backend(workdir, PORTS["backend"], nofile)
        procs.append(backend)
        # Per configuration: proxy name -> (process, port). The idle scenario, the idle RSS and the
        # profile use the first configuration's (1t by default); without load rounds only it starts.
        fleet = {}
        for c, cfg in enumerate(args.configs if args.rounds else args.configs[:1]):
            threads, log = CONFIGS[cfg]
            base = CONFIG_PORT_BASE + CONFIG_PORT_STEP * c
            fleet[cfg] = {}
            for name in args.proxies:
                port = base + PORT_OFFSET[name]
                p = start_proxy(name, args, workdir, port, [PORTS["backend"]], nofile, suffix=f"-{cfg}",
                                threads=threads, access_log=log, admin=port + 1)
                procs.append(p)
                fleet[cfg][name] = (p, port)
            for i, spec in enumerate(args.variant):
                label, _, envs = spec.partition(":")
                name = f"trinity-proxy {label}"
                env = dict(kv.split("=", 1) for kv in envs.split(",") if "=" in kv)
                # BIN=PATH: another trinity-proxy binary (e.g. another allocator) instead of --trinity.
                binary = os.path.abspath(env.pop("BIN", args.trinity))
                port = base + 10 + 2 * i
                p = servers.start_trinity(binary, workdir, f"variant-{i}-{cfg}", port, port + 1, [PORTS["backend"]],
                                          env=env, health=args.health, threads=threads, access_log=log)
                procs.append(p)
                fleet[cfg][name] = (p, port)
                results.setdefault("variants", {})[name] = dict(env, **({"BIN": binary} if binary != args.trinity
                                                                        else {}))
        first = fleet[args.configs[0]]
        results["idle_rss_config"] = args.configs[0]
        for name, (p, _) in first.items():
            results["idle_rss"][name] = measure.memory_kib(p.pids())

        for body, path in BODIES:
            for rnd in range(1, args.rounds + 1):
                for cfg in args.configs:
                    for name, (proc, port) in fleet[cfg].items():
                        if proc.access_log:  # a fresh file per run: the disk does not fill up
                            os.truncate(proc.access_log, 0)
                        if args.warmup:
                            measure.wrk(port, path, args.warmup, args.connections)
                        log0 = file_size(proc.access_log) if proc.access_log else 0
                        r = measure.load_run(proc, port, path, args.seconds, args.connections, helpers=[backend])
                        r.update({"body": body, "round": rnd, "proxy": name, "config": cfg})
                        if proc.access_log:
                            # Growth of the log file over the run ÷ requests: batches still unwritten at
                            # the end are about as many as at the start (the warm-up ran at the same rate).
                            r["log_bytes_per_req"] = (file_size(proc.access_log) - log0) / max(r["requests"], 1)
                        if not proc.alive():
                            raise RuntimeError(f"{proc.name} exited during the run:\n{proc.log_tail()}")
                        print(f"{body} round {rnd} {cfg} {name}: {r['rps']:.0f} req/s, p99 {r['p99_ms']} ms, "
                              f"{r['cpu_us']:.1f} CPU-us/req, RSS {r['rss_kib'] / 1024:.1f} MiB, "
                              f"other CPU {r['other_cpu_pct']:.0f} %"
                              + (f", log {r['log_bytes_per_req']:.0f} B/req" if proc.access_log else ""),
                              flush=True)
                        results["runs"].append(r)
        for procs_ports in fleet.values():
            for proc, _ in procs_ports.values():
                if proc.access_log:
                    os.truncate(proc.access_log, 0)

        if args.perf and "trinity-proxy" in first:
            results["perf"] = perf_profile(*first["trinity-proxy"], args, workdir)

        # Every configuration but the first stops here; the idle scenario uses the first's processes.
        servers.stop_all([p for cfg in list(fleet)[1:] for p, _ in fleet[cfg].values()])
        proxies = {name: p for name, (p, _) in first.items()}
        ports = {name: port for name, (_, port) in first.items()}
        for count in idle_counts:
            for name in proxies:
                # HAProxy stops accepting at maxconn: hold fewer rather than hang on its backlog.
                n = min(count, haproxy_maxconn(nofile) - 50) if name == "haproxy" else count
                r = measure.idle_connections(proxies[name], ports[name], n)
                r["proxy"] = name
                print(f"idle {count} {name}: RSS {r['rss_before_kib']} -> {r['rss_held_kib']} -> "
                      f"{r['rss_after_kib']} KiB, failed {r['failed']}", flush=True)
                results["idle"].append(r)

        servers.stop_all(list(proxies.values()))

        if not args.no_failover:
            results["failover"] = failover(args, workdir, nofile, procs)
        if args.upload_mib > 0:
            results["upload"] = uploads(args, workdir, nofile, procs)
        if args.reloads > 0:
            results["reloads"] = reloads(args, workdir, nofile, procs)
        if args.sse_events > 0:
            results["sse"] = sse(args, workdir, nofile, procs)
        if args.header_flood > 0:
            results["header_flood"] = header_flood(args, workdir, nofile, procs)
    finally:
        servers.stop_all(list(reversed(procs)))
        results["load_after"] = loadavg()
        results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S %Z")
        with open(os.path.join(workdir, "results.json"), "w") as f:
            json.dump(results, f, indent=1)
        print(f"raw results: {workdir}/results.json", flush=True)
    if args.merge_into:
        results = merge(args.merge_into, results)
    finish(args, results)
    if not args.keep_workdir:
        shutil.rmtree(workdir, ignore_errors=True)


# What a run measures, scenario by scenario (--merge-into replaces only those this run measured).
SCENARIO_KEYS = ["runs", "idle", "failover", "upload", "reloads", "sse", "header_flood", "perf"]


def merge(path, results):
    """The figures of a saved RESULTS.json with `results`' in place of its own for every scenario
    `results` measured; the load rounds bring their settings, idle RSS and variants along. The
    merged run is recorded under "merged" (its command, time, load and binary), for report.py."""
    with open(path) as f:
        base = json.load(f)
    keys = [k for k in SCENARIO_KEYS if results.get(k)]
    if "runs" in keys:
        keys += ["settings", "idle_rss"]
        base.pop("idle_rss_config", None)
        if "idle_rss_config" in results:
            keys.append("idle_rss_config")
        base.pop("variants", None)
        if "variants" in results:
            keys.append("variants")
    for k in keys:
        base[k] = results[k]
    base.setdefault("merged", []).append({
        "keys": [k for k in keys if k in SCENARIO_KEYS],
        **{k: results.get(k) for k in ("command", "started", "finished", "load_before", "load_after")},
        "trinity-proxy": results["machine"]["trinity-proxy"],
        "settings": results["settings"],
    })
    return base


def finish(args, results):
    """Writes RESULTS.md and, beside it, RESULTS.json (the figures without wrk's raw output)."""
    if args.criterion_dir:
        results["criterion"] = report.criterion_summary(args.criterion_dir)
    for r in results["runs"]:
        r.pop("raw", None)
    out = os.path.abspath(args.out)
    with open(os.path.splitext(out)[0] + ".json", "w") as f:
        json.dump(results, f, indent=1)
    report.write(out, results)
    print(f"wrote {out}")


def header_flood(args, workdir, nofile, procs):
    """--header-flood connections with never-ending request heads against a fresh instance of each proxy."""
    out = []
    for name in PROXIES:
        proxy = start_proxy(name, args, workdir, PORTS["failover"], [PORTS["backend"]], nofile, suffix="-flood")
        procs.append(proxy)
        admin = PORTS["failover-admin"] if name == "trinity-proxy" else None
        r = scenarios.header_flood(proxy, PORTS["failover"], args.header_flood, hold=args.header_flood_hold * 1024,
                                   admin_port=admin)
        r["proxy"] = name
        held, during = r["normal_held"], r["normal_during"]
        print(f"header flood {name}: {r['connections']} connections, {r['held_open']} held open at the barrier, "
              f"{r['outcomes']}; RSS {r['rss_before_kib']} -> peak {r['rss_peak_kib']} KiB "
              f"(+{(r['rss_peak_kib'] - r['rss_before_kib']) / 1024:.1f} MiB); normal request held "
              f"{held.get('status')} in {report._f(held.get('ms'), '{:.1f}')} ms, during "
              f"{during.get('status')} in {report._f(during.get('ms'), '{:.1f}')} ms; {r['seconds']:.1f} s"
              + (f"; rejected {r['rejected']}" if admin else ""), flush=True)
        out.append(r)
        proxy.stop()
    return out


def failover(args, workdir, nofile, procs):
    """Two backend replicas behind each proxy; one is SIGKILLed 4 s into a 12 s load."""
    out = []
    for name in PROXIES:
        victim = servers.start_backend(workdir, PORTS["backend2"], nofile)
        procs.append(victim)
        proxy = start_proxy(name, args, workdir, PORTS["failover"], [PORTS["backend"], PORTS["backend2"]],
                            nofile, suffix="-failover")
        procs.append(proxy)
        measure.wrk(PORTS["failover"], servers.SMALL_PATH, 1, args.connections)
        admin = PORTS["failover-admin"] if name == "trinity-proxy" else None
        r = measure.replica_killed(proxy, PORTS["failover"], victim, seconds=12,
                                   connections=args.connections, kill_after_s=4.0, admin_port=admin,
                                   victim_addr=f"{servers.HOST}:{PORTS['backend2']}")
        r["proxy"] = name
        print(f"failover {name}: wrk non-2xx {r['non2xx']} socket errors {r['socket_errors']}, "
              f"probe failures {r['probe_failures']}/{r['probe_requests']}, recovery {r['recovery_s']:.3f}s",
              flush=True)
        out.append(r)
        proxy.stop()
        victim.stop()
    return out


def uploads(args, workdir, nofile, procs):
    """One upload of --upload-mib MiB through each proxy to a backend that discards it."""
    sink = servers.start_script(workdir, "sink.py", PORTS["sink"])
    procs.append(sink)
    out = []
    for name in PROXIES:
        proxy = start_proxy(name, args, workdir, PORTS["failover"], [PORTS["sink"]], nofile, suffix="-upload")
        procs.append(proxy)
        r = measure.upload(proxy, PORTS["failover"], args.upload_mib << 20)
        r["proxy"] = name
        print(f"upload {name}: {r['status']} in {r['seconds']:.1f}s, RSS {r['rss_before_kib']} -> peak "
              f"{r['rss_peak_kib']} KiB", flush=True)
        out.append(r)
        proxy.stop()
    sink.stop()
    return out


def reloads(args, workdir, nofile, procs):
    """--reloads config reloads of each proxy under wrk load (HAProxy in master-worker mode)."""
    out = []
    for name in PROXIES:
        proxy = start_proxy(name, args, workdir, PORTS["failover"], [PORTS["backend"]], nofile,
                            suffix="-reload", master_worker=True)
        procs.append(proxy)
        measure.wrk(PORTS["failover"], servers.SMALL_PATH, 1, args.connections)
        admin = PORTS["failover-admin"] if name == "trinity-proxy" else None
        r = scenarios.reloads_under_load(proxy, PORTS["failover"], args.reloads, args.connections, admin_port=admin)
        r["proxy"] = name
        print(f"reloads {name}: {r['reloads_confirmed']}/{r['reloads_sent']} confirmed, {r['requests']} requests, "
              f"non-2xx {r['non2xx']}, socket errors {r['socket_errors']} ({r['socket_error_kinds']}), "
              f"probe connection errors {r['probe_errors']}"
              + (f", reload counter +{r['counter_success']} (failures +{r['counter_failure']})" if admin else ""),
              flush=True)
        out.append(r)
        proxy.stop()
    return out


def sse(args, workdir, nofile, procs):
    """--sse-events timestamped events read directly from sse.py, then through each proxy (HAProxy
    also with `option http-no-delay`: by default it sends partial bodies with MSG_MORE)."""
    backend = servers.start_script(workdir, "sse.py", PORTS["sse"])
    procs.append(backend)
    out = []
    for name in ["direct", *PROXIES, "haproxy + http-no-delay"]:
        proxy = None
        if name != "direct":
            proxy = start_proxy(name.split()[0], args, workdir, PORTS["failover"], [PORTS["sse"]], nofile,
                                suffix="-sse", no_delay=name.endswith("no-delay"))
            procs.append(proxy)
        port = PORTS["sse"] if proxy is None else PORTS["failover"]
        scenarios.read_events(port, 5)  # warm-up
        r = scenarios.read_events(port, args.sse_events)
        r["proxy"] = name
        p50, p99, top = (report._f(v, "{:.3f}") for v in (r["p50_ms"], r["p99_ms"], r["max_ms"]))
        print(f"sse {name}: {r['received']}/{r['events']} events ({r['status']}, {r['framing']}), p50 {p50} ms, "
              f"p99 {p99} ms, max {top} ms, at most {r['max_events_per_read']} events per read", flush=True)
        out.append(r)
        if proxy:
            proxy.stop()
    backend.stop()
    return out


# Inclusive ("children") shares of these frames tell where a request's CPU goes: trinity-proxy's
# own filters, Pingora's HTTP/1 proxy machinery around them, the allocator and the kernel. The
# allocator's functions call each other, so its row sums self time instead.
ATTRIBUTION = [
    ("all of trinity-proxy's request filters (routing, headers, retries, metrics)", r"TrinityProxy as pingora_proxy::proxy_trait::ProxyHttp>::"),
    ("Pingora: proxying one request (proxy_1to1, includes the filters and syscalls)", r"proxy_h1::<impl pingora_proxy::HttpProxy<SV,C>>::proxy_1to1::\{\{closure\}\}$"),
    ("syscalls (kernel entry, includes loopback delivery to the peer)", r"\[k\] entry_SYSCALL_64_after_hwframe$"),
    ("send to client or backend (sendto/writev)", r"\[k\] __sys_sendto$|\[k\] do_writev$"),
    ("receive (recvfrom)", r"\[k\] __sys_recvfrom$"),
    ("epoll_wait", r"\[k\] do_epoll_wait$"),
    ("the allocator, mimalloc (self time of its functions)", r"\[\.\] _?mi_\w+$"),
    ("Pingora upstream pool: reuse check (getpeername) and release", r"(HttpPeer as pingora_core::upstreams::peer::Peer>::matches_fd|Connector<C>::release_http_session::\{\{closure\}\})$"),
]


def perf_profile(proc, port, args, workdir):
    """perf record of trinity-proxy during one small-body run, user stacks unwound with DWARF
    (the release binary keeps .eh_frame): top symbols by self time, and inclusive time of the
    frames in ATTRIBUTION."""
    if not shutil.which("perf"):
        return {"error": "perf not installed (Debian package linux-perf)"}
    data = os.path.join(workdir, "perf.data")
    rec = subprocess.Popen(["perf", "record", "--call-graph", "dwarf,16384", "-F", "499", "-o", data,
                            "-p", str(proc.pid), "--", "sleep", str(args.seconds)],
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    time.sleep(0.5)
    measure.wrk(port, servers.SMALL_PATH, args.seconds, args.connections)
    rec_out, _ = rec.communicate(timeout=args.seconds + 60)
    if rec.returncode != 0:
        return {"error": f"perf record failed: {rec_out.strip()[-500:]}"}

    def report(*extra):
        r = subprocess.run(["perf", "report", "-i", data, "--stdio", "-g", "none", *extra],
                           capture_output=True, text=True, timeout=600)
        # `-g none` pads each line with "-" columns: drop them.
        return [re.sub(r"(\s+-)+\s*$", "", ln).rstrip() for ln in r.stdout.splitlines()
                if ln.strip() and not ln.startswith("#")]

    symbols = report("--no-children", "--percent-limit", "0.7", "--sort", "dso,symbol")
    dsos = report("--no-children", "--sort", "dso")
    children = report("--children", "--sort", "symbol")
    own = report("--no-children", "--sort", "symbol")
    shares = []
    for label, pattern in ATTRIBUTION:
        total = 0.0
        for ln in (own if "self time" in label else children):
            m = re.match(r"\s*([\d.]+)%\s+(?:[\d.]+%\s+)?(.*)$", ln)
            if m and re.search(pattern, m.group(2).strip()):
                total += float(m.group(1))
        shares.append((label, round(total, 1)))
    return {"symbols": symbols[:40], "dsos": dsos[:12], "attribution": shares}


if __name__ == "__main__":
    main()
