#!/usr/bin/env python3
"""Checks a `conveyor worker --record FILE` log of the sleep task from outside.

Usage: check-record.py FILE [--max-concurrent N] [--rate N --interval-ms I --burst B] [--expect-jobs J]

Prints one JSON line: jobs, distinct jobs, the most running at once, the most started in any window of one interval,
and the rate over the run; exits 1 when a bound given is broken.
"""
import json, sys

def main():
    args = sys.argv[1:]
    path = args.pop(0)
    opts = {}
    while args:
        key = args.pop(0).lstrip("-").replace("-", "_")
        opts[key] = int(args.pop(0))
    runs = []
    for line in open(path):
        parts = line.split()
        if len(parts) == 5 and parts[2] == "sleep":
            runs.append((parts[0], int(parts[3]), int(parts[4])))
    events = sorted([(s, 1) for _, s, _ in runs] + [(e, -1) for _, _, e in runs], key=lambda x: (x[0], x[1]))
    running = peak = 0
    for _, delta in events:
        running += delta
        peak = max(peak, running)
    starts = sorted(s for _, s, _ in runs)
    interval = opts.get("interval_ms", 1000)
    window_peak, j = 0, 0
    for i, s in enumerate(starts):
        while starts[j] <= s - interval:
            j += 1
        window_peak = max(window_peak, i - j + 1)
    span = (starts[-1] - starts[0]) / 1000 if len(starts) > 1 else 0
    report = {
        "jobs": len(runs), "distinct_jobs": len({r[0] for r in runs}), "max_running": peak,
        "max_started_per_interval": window_peak, "rate_per_second": round(len(starts) / span, 2) if span else None,
    }
    print(json.dumps(report))
    ok = True
    if "max_concurrent" in opts and peak > opts["max_concurrent"]: ok = False
    if "rate" in opts and window_peak > opts["rate"] + opts.get("burst", opts["rate"]): ok = False
    if "expect_jobs" in opts and report["distinct_jobs"] != opts["expect_jobs"]: ok = False
    sys.exit(0 if ok else 1)

main()
