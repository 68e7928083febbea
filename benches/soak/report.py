#!/usr/bin/env python3
"""Turns the soak's soak.json (proxy/tests/soak) into benches/SOAK.md and a plot of its samples.

Usage: report.py SOAK_JSON OUT_MD OUT_PNG
"""
import json
import os
import sys
from collections import Counter

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def plot(r, png):
    s = r["samples"]
    t = [x["t"] / 60 for x in s]
    panels = [("RSS (MiB)", [x["rss_kib"] / 1024 for x in s])]
    if all(x.get("heap_bytes") is not None for x in s):
        panels.append(("live heap (MiB)", [x["heap_bytes"] / 1048576 for x in s]))
    panels += [
        ("open fds", [x["fds"] for x in s]),
        ("threads", [x["threads"] for x in s]),
        ("upstream connections", [x["upstream_conns"] for x in s]),
        ("metric series", [x["series"] for x in s]),
    ]
    fig, axes = plt.subplots(len(panels), 1, figsize=(9, 2.2 * len(panels)), sharex=True)
    colours = {"kill": "tab:red", "hang": "tab:orange", "upload": "tab:green"}
    for ax, (label, ys) in zip(axes, panels):
        ax.plot(t, ys, lw=1.2, color="tab:blue")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
        ax.axvline(r["warmup_seconds"] / 60, color="grey", ls="--", lw=0.8)
        for f in r["faults"]:
            c = colours.get(f["what"])
            if c:
                ax.axvspan(f["at"] / 60, max(f["until"], f["at"] + 1) / 60, color=c, alpha=0.15, lw=0)
        if "MiB" in label:
            ax.set_ylim(bottom=0)
    axes[-1].set_xlabel("minutes (dashed: end of warm-up; red: replica killed, orange: replica hung, green: 256 MiB upload)")
    fig.suptitle(
        f"trinity-proxy soak: {r['minutes']:g} min, {r['requests']:,} requests, "
        f"{len(r['errors'])} client-visible errors"
    )
    fig.tight_layout()
    fig.savefig(png, dpi=90)


def report(r, png_name):
    drift = {d["name"]: d for d in r["drift"]}
    rss = drift["rss_kib"]
    # A run shorter than its warm-up has no steady samples (all figures 0).
    rss_pct = (rss["end"] - rss["after_warmup"]) / max(rss["after_warmup"], 1) * 100
    errors = r["errors"]
    expected = Counter(e["expected"] for e in errors if e["expected"])
    unexpected = [e for e in errors if not e["expected"]]
    faults = Counter(f["what"] for f in r["faults"])
    lines = [
        "# Soak",
        "",
        "Written by `make soak` (`SOAK_MINUTES=%g`): the release binary with the five Trinity routes in front of two"
        % r["minutes"],
        "stand-in replicas each (`proxy/tests/soak/`), under a steady mixed load: %d requests/s of small GETs over every"
        % r["rate_per_second"],
        "route with one in ten a 64 KiB POST, two SSE streams, four WebSockets echoing every second, a 256 MiB upload every",
        "3 minutes, and 20 clients leaving mid-response or mid-upload every 30 s. Meanwhile a reload every 10 s",
        "(alternating two configs that differ), a replica killed every 60 s and restarted 10 s later, and a replica",
        "hung for 15 s every 5 minutes. Both builds count the live heap (the `heap-stats` feature). `make test` runs the",
        "same for 2 minutes on the debug build (judging errors, counts and the live heap; RSS only over steady windows of",
        "10 minutes or more).",
        "",
        "```",
        "soak: %d requests, %d client-visible errors, RSS drift %.1f%%, fds drift %+.0f"
        % (r["requests"], len(errors), rss_pct, drift["fds"]["end"] - drift["fds"]["after_warmup"]),
        "```",
        "",
        "A level is the median of a minute of samples. The verdict compares the end with the highest level of the first",
        "half of the steady window: a leak keeps making new highs, a figure that moves with what is in flight comes back",
        "within the range it already visited. Limits: live heap +10 %, RSS +5 % (judged on steady windows of 10 minutes or",
        "more), counts a quarter plus a few (fds 8, threads 2, upstream connections 16, series 8).",
        "",
        "| figure | after warm-up (%ds) | highest, first half | at the end | end over that high |" % r["warmup_seconds"],
        "|---|---|---|---|---|",
    ]
    limits = {"rss_kib": " (limit +5 %)", "heap_bytes": " (limit +10 %)"}
    for d in r["drift"]:
        a, h, e = d["after_warmup"], d.get("early_high", d["after_warmup"]), d["end"]
        growth = "%+.1f%%%s" % ((e - h) / max(h, 1) * 100, limits.get(d["name"], ""))
        if d["name"] == "rss_kib":
            lines.append("| RSS | %.1f MiB | %.1f MiB | %.1f MiB | %s |" % (a / 1024, h / 1024, e / 1024, growth))
        elif d["name"] == "heap_bytes":
            lines.append("| live heap | %.2f MiB | %.2f MiB | %.2f MiB | %s |" % (a / 1048576, h / 1048576, e / 1048576, growth))
        else:
            lines.append("| %s | %.1f | %.1f | %.1f | %s |" % (d["name"].replace("_", " "), a, h, e, growth))
    lines += [
        "",
        "Faults: %d reloads (%d failed), %d replica kills, %d hangs, %d uploads, %d bursts of leaving clients."
        % (faults["reload"], r["reload_failures"], faults["kill"], faults["hang"], faults["upload"], faults["leavers"]),
        "Retries absorbed %d upstream failures (`trinity_proxy_retries_total`). ERROR log records: %d."
        % (r["retries"], r["error_records"]),
        "",
        "![soak samples](%s)" % png_name,
        "",
        "## Client-visible errors",
        "",
        "The design retries a failed attempt on another replica when the request never left (connect failure) or when it",
        "is idempotent (a reset or a timeout before the answer). It cannot retry a POST that a replica may have processed,",
        "and a stream (SSE, WebSocket) cannot move to another replica once it runs. So these are expected, and only",
        "these: a POST in flight on a replica that is killed or hangs past the read timeout (3 s), and a stream on such a",
        "replica. A GET that fails, any error outside a fault window or a failed reload fails the soak. ERROR log records",
        "are counted, not judged: Pingora logs an upstream that cuts an answer mid-way (a killed replica) at ERROR.",
        "",
        "| expected by design | seen |",
        "|---|---|",
    ]
    for why, n in sorted(expected.items()):
        lines.append("| %s | %d |" % (why, n))
    if not expected:
        lines.append("| (none) | 0 |")
    lines += ["", "Unexpected: %d." % len(unexpected)]
    groups = {}
    for e in unexpected:
        # One line per kind of failure: drop the request id and the body's detail.
        what = e["what"].strip().split(": {")[0][:120]
        key = (e["kind"], e["route"], what)
        first, last, n = groups.get(key, (e["at"], e["at"], 0))
        groups[key] = (min(first, e["at"]), max(last, e["at"]), n + 1)
    for (kind, route, what), (first, last, n) in sorted(groups.items(), key=lambda g: g[1][0]):
        lines.append("- %d × %s on %s, %.1f–%.1f s: %s" % (n, kind, route, first, last, what))
    return "\n".join(lines) + "\n"


NOTES = "<!-- notes: hand-written below this line, kept by report.py -->"


def kept_notes(md):
    """The hand-written notes of the previous report, if any."""
    try:
        with open(md) as f:
            text = f.read()
    except FileNotFoundError:
        return ""
    return text[text.index(NOTES) + len(NOTES):] if NOTES in text else ""


def main():
    src, md, png = sys.argv[1:4]
    with open(src) as f:
        r = json.load(f)
    plot(r, png)
    notes = kept_notes(md)
    with open(md, "w") as f:
        f.write(report(r, os.path.basename(png)) + "\n" + NOTES + (notes or "\n"))
    print("wrote", md, png)


if __name__ == "__main__":
    main()
