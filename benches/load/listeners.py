#!/usr/bin/env python3
"""The two ways trinity-proxy's workers can listen (issue 12), side by side with nginx.

Question: with `threads: 2`, does one SO_REUSEPORT socket per worker (`TRINITY_LISTENER=reuse_port`)
cost less CPU per request, or give a better p99, than one socket shared by the workers (the
default)? Both are measured with kept-alive connections and with a new connection per request
(`Connection: close`), where the shared socket's wake-ups of every worker would show.

One backend nginx, the two trinity-proxy processes (same binary) and nginx (`worker_processes 2`),
started once; then interleaved rounds: each proxy warmed up for one run, then measured by wrk
(1 thread, --connections) through measure.load_run, as in run.py's load rounds. Prints one line per run and the medians; writes nothing. Python stdlib only; 127.0.0.1.
Example:  benches/load/listeners.py --trinity target/release/trinity-proxy --rounds 3 --seconds 4
"""

import argparse
import os
import statistics
import sys
import tempfile

sys.dont_write_bytecode = True  # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import measure  # noqa: E402
import servers  # noqa: E402

BACKEND, BASE = 18381, 18300


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trinity", required=True, help="trinity-proxy binary (a release build)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--seconds", type=int, default=4)
    ap.add_argument("--connections", type=int, default=16)
    args = ap.parse_args()
    workdir = tempfile.mkdtemp(prefix="trinity-listeners-")
    nofile = 65536
    procs = []
    try:
        procs.append(servers.start_backend(workdir, BACKEND, nofile))
        shared = servers.start_trinity(args.trinity, workdir, "shared", BASE, BASE + 1, [BACKEND], health=True,
                                       threads=2)
        procs.append(shared)
        reuse = servers.start_trinity(args.trinity, workdir, "reuse_port", BASE + 2, BASE + 3, [BACKEND],
                                      health=True, threads=2, env={"TRINITY_LISTENER": "reuse_port"})
        procs.append(reuse)
        nginx = servers.start_nginx(workdir, "nginx", BASE + 4, [BACKEND], nofile, workers=2)
        procs.append(nginx)
        proxies = [("trinity shared", shared, BASE), ("trinity reuse_port", reuse, BASE + 2),
                   ("nginx", nginx, BASE + 4)]
        runs = {}
        for close in (False, True):
            for r in range(args.rounds):
                headers = ("Connection: close",) if close else ()
                for name, proc, port in proxies:
                    measure.wrk(port, servers.SMALL_PATH, args.seconds, args.connections, headers)
                    w = measure.load_run(proc, port, servers.SMALL_PATH, args.seconds, args.connections,
                                         headers=headers)
                    cpu = w["cpu_us"]
                    runs.setdefault((close, name), []).append((cpu, w["rps"], w["p99_ms"] or 0.0))
                    print(f"{'close' if close else 'keep-alive'} round {r + 1} {name}: {cpu:.1f} CPU-us/req, "
                          f"{w['rps']:.0f} req/s, p99 {w['p99_ms']} ms, errors {w['socket_errors']}", flush=True)
        for (close, name), v in runs.items():
            print(f"median {'close' if close else 'keep-alive'} {name}: "
                  f"{statistics.median(x[0] for x in v):.1f} CPU-us/req, "
                  f"{statistics.median(x[1] for x in v):.0f} req/s, p99 {statistics.median(x[2] for x in v):.2f} ms")
    finally:
        servers.stop_all(procs)


if __name__ == "__main__":
    main()
