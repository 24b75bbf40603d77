#!/usr/bin/env python3
"""Turns the outputs of Benchmarks/run.sh into results.json and results.md (throughput, latency, CPU per job, RSS,
ratios to the peers, the issue's targets).

Throughput comes in rounds (one output file per client and round, comma-separated on the command line): each figure
is the median over the rounds, and each ratio is the median of the ratios taken within a round, with their range."""
import argparse
import datetime
import json
import os
import platform
import re
import statistics


def last_json(path):
    lines = [line for line in open(path) if line.startswith("{")]
    return json.loads(lines[-1])


def median_of(runs):
    """One record with the median of every numeric field over the rounds."""
    out = dict(runs[0])
    for key, value in runs[0].items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            values = [r[key] for r in runs if isinstance(r.get(key), (int, float))]
            out[key] = statistics.median(values)
    out["rounds"] = len(runs)
    return out


def boto3_numbers(path):
    text = open(path).read()
    out = {"client": "boto3 (1 thread)"}
    for phase, key in (("send", "enqueue"), ("drain", "process")):
        m = re.search(r"boto3 %s:\s+(\d+) msgs in ([\d.]+) s = ([\d.]+) msg/s, client CPU ([\d.]+) us/msg" % phase, text)
        if m:
            out[key + "_per_s"] = float(m.group(3))
            out[key + "_cpu_us_per_job"] = float(m.group(4))
    if "enqueue_cpu_us_per_job" in out and "process_cpu_us_per_job" in out:
        out["cpu_us_per_job"] = (out["enqueue_cpu_us_per_job"] + out["process_cpu_us_per_job"]) / 2
    return out


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--memory", required=True, help="conveyor bench JSON line")
    for name in ("rabbitmq", "sqs", "raw", "pika", "boto3"):
        p.add_argument("--" + name, required=True, help="output files, one per round, comma-separated")
    p.add_argument("--raw-envelope", help="raw_amqp with Conveyor-shaped messages: output files, one per round")
    for name in ("rabbitmq", "sqs"):
        p.add_argument("--%s-latency" % name, required=True, help="conveyor bench JSON line of the latency run")
    p.add_argument("--broker-cpu", default="", help="name=µs,... RabbitMQ's own CPU per message during each client's run (one per round)")
    p.add_argument("--emulator-busy", default="", help="name=percent,... LocalStack's CPU (% of a core) during each SQS client's run (one per round)")
    p.add_argument("--queue-type", default="classic", help="the RabbitMQ queue type every RabbitMQ client used")
    p.add_argument("--idle", required=True)
    p.add_argument("--idle-seconds", type=int, default=30)
    p.add_argument("--json", required=True)
    p.add_argument("--markdown", required=True)
    a = p.parse_args()
    rounds = {k: [last_json(f) for f in getattr(a, k).split(",")] for k in ("rabbitmq", "sqs", "raw", "pika")}
    rounds["boto3"] = [boto3_numbers(f) for f in a.boto3.split(",")]
    if a.raw_envelope:
        rounds["raw-envelope"] = [last_json(f) for f in a.raw_envelope.split(",")]
    conveyor = {"memory": json.loads(a.memory), "rabbitmq": median_of(rounds["rabbitmq"]), "sqs": median_of(rounds["sqs"])}
    for name in ("rabbitmq", "sqs"):
        latency = json.loads(getattr(a, name + "_latency"))
        conveyor[name]["latency_p50_ms"] = latency["latency_p50_ms"]
        conveyor[name]["latency_p99_ms"] = latency["latency_p99_ms"]
    peers = {"raw-librabbitmq": median_of(rounds["raw"]), "pika": median_of(rounds["pika"]), "boto3": median_of(rounds["boto3"])}
    if a.raw_envelope:
        peers["raw-librabbitmq-envelope"] = median_of(rounds["raw-envelope"])
    def medians(spec):
        samples = {}
        for item in filter(None, spec.split(",")):
            name, value = item.split("=")
            samples.setdefault(name, []).append(float(value))
        return {name: statistics.median(values) for name, values in samples.items()}
    broker_cpu = medians(a.broker_cpu)
    emulator_busy = medians(a.emulator_busy)
    idle = {}
    for item in a.idle.split(","):
        name, rest = item.split("=")
        cpu, rss = rest.split(":")
        idle[name] = {"cpu_percent": float(cpu), "rss_bytes": int(rss)}

    def ratio(x, y):
        return None if not x or not y else x / y

    def paired(mine, peer, key):
        """Median and range of the ratio mine/peer on `key`, taken within each round."""
        values = sorted(r for r in (ratio(m.get(key), p.get(key)) for m, p in zip(rounds[mine], rounds[peer])) if r is not None)
        return (statistics.median(values), values[0], values[-1]) if values else (None, None, None)

    rmq, raw, pika, sqs, boto = conveyor["rabbitmq"], peers["raw-librabbitmq"], peers["pika"], conveyor["sqs"], peers["boto3"]
    mem = conveyor["memory"]
    targets = [
        ("RabbitMQ end-to-end >= 80% of the raw librabbitmq loop", paired("rabbitmq", "raw", "e2e_per_s"), 0.8),
        ("RabbitMQ end-to-end >= 2x pika", paired("rabbitmq", "pika", "e2e_per_s"), 2.0),
        ("SQS drain >= 2x boto3 single-thread drain", paired("sqs", "boto3", "process_per_s"), 2.0),
        ("SQS enqueue >= 1.5x boto3 batch send", paired("sqs", "boto3", "enqueue_per_s"), 1.5),
        ("memory end-to-end >= 200k jobs/s", (mem["e2e_per_s"], None, None), 200_000),
        ("memory drain >= 200k jobs/s", (mem["process_per_s"], None, None), 200_000),
    ]
    targets += [("idle %s worker CPU < 1%%" % k, (v["cpu_percent"], None, None), 1.0) for k, v in idle.items()]
    target_rows = []
    for name, (value, low, high), goal in targets:
        met = None if value is None else (value < goal if "CPU <" in name else value >= goal)
        target_rows.append({"target": name, "value": value, "low": low, "high": high, "goal": goal, "met": met})

    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "rounds": len(rounds["rabbitmq"]), "rabbitmq_queue_type": a.queue_type, "per_round": rounds,
        "conveyor": conveyor, "peers": peers, "broker_cpu_us_per_message": broker_cpu, "emulator_busy_percent": emulator_busy, "idle_worker": {"seconds": a.idle_seconds, **idle}, "targets": target_rows,
    }
    with open(a.json, "w") as f:
        json.dump(result, f, indent=2)
        f.write("\n")

    def fmt(x, digits=0):
        return "—" if x is None else f"{x:,.{digits}f}"

    def mib(b):
        return "—" if not b else f"{b / 1048576:.0f} MiB"

    lines = [
        "# Benchmark results",
        "",
        f"Measured by `Benchmarks/run.sh` on {result['date']} ({os.cpu_count()} cores; brokers, clients and Conveyor share",
        "the machine, so absolute numbers are low and a faster client mostly shows as less CPU per job). 100-byte",
        f"payloads, persistent messages, durable {a.queue_type} RabbitMQ queues; LocalStack (twisted gateway on 127.0.0.1) for SQS.",
        f"Throughput figures are medians over {result['rounds']} round(s); each round runs every client once, back to back.",
        "",
        "| Client | enqueue jobs/s | drain jobs/s | end-to-end jobs/s | latency p50 / p99 ms | CPU µs/job | peak RSS |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    rows = [
        ("Conveyor memory", mem, "idle"), ("Conveyor RabbitMQ", rmq, "idle"), ("raw librabbitmq (C)", raw, "e2e"),
        ("pika", pika, "e2e"), ("Conveyor SQS", sqs, "idle"), ("boto3, 1 thread", boto, None),
    ]
    if "raw-librabbitmq-envelope" in peers:
        rows.insert(3, ("raw librabbitmq (C), Conveyor-shaped messages", peers["raw-librabbitmq-envelope"], "e2e"))
    for name, r, lat in rows:
        if lat == "idle":
            latency = f"{fmt(r.get('latency_p50_ms'), 2)} / {fmt(r.get('latency_p99_ms'), 2)} (idle worker)"
        elif lat == "e2e":
            latency = f"{fmt(r.get('e2e_latency_p50_ms'), 1)} / {fmt(r.get('e2e_latency_p99_ms'), 1)} (under load)"
        else:
            latency = "—"
        lines.append(f"| {name} | {fmt(r.get('enqueue_per_s'))} | {fmt(r.get('process_per_s'))} | {fmt(r.get('e2e_per_s'))} | "
                     f"{latency} | {fmt(r.get('cpu_us_per_job'), 1)} | {mib(r.get('peak_rss_bytes'))} |")
    lines += [
        "",
        "Ratios (Conveyor / peer; median of the ratios within each round, and their range):",
        "",
        "| | enqueue | drain | end-to-end | CPU per job |",
        "|---|---:|---:|---:|---:|",
    ]
    pairs = [("RabbitMQ / raw librabbitmq", "rabbitmq", "raw"), ("RabbitMQ / pika", "rabbitmq", "pika"), ("SQS / boto3", "sqs", "boto3")]
    if "raw-envelope" in rounds:
        pairs[1:1] = [
            ("RabbitMQ / raw librabbitmq, same message shape", "rabbitmq", "raw-envelope"),
            # The ceiling for any client that sends Conveyor's messages: the C loop sending them.
            ("ceiling: raw librabbitmq with Conveyor-shaped messages / raw librabbitmq", "raw-envelope", "raw"),
            ("ceiling: raw librabbitmq with Conveyor-shaped messages / pika", "raw-envelope", "pika"),
        ]

    def cell(r):
        value, low, high = r
        return "—" if value is None else f"{value:.2f} ({low:.2f}–{high:.2f})"
    for name, mine, peer in pairs:
        cells = [cell(paired(mine, peer, k)) for k in ("enqueue_per_s", "process_per_s", "e2e_per_s", "cpu_us_per_job")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if broker_cpu:
        names = {"rabbitmq": "Conveyor", "raw": "raw librabbitmq", "raw-envelope": "raw librabbitmq, Conveyor-shaped messages", "pika": "pika"}
        lines += ["", "RabbitMQ's own CPU per message (publish, route, persist, deliver, ack) during each client's run, median over rounds: " + ", ".join(
            f"{names.get(k, k)} {v:.1f} µs" for k, v in broker_cpu.items()) + "."]
    if emulator_busy:
        names = {"sqs": "Conveyor", "boto3": "boto3 (1 thread)"}
        lines += ["", "LocalStack's CPU (percent of one core; it runs Python under one lock) while each SQS client ran, median over rounds: " + ", ".join(
            f"{names.get(k, k)} {v:.0f} %" for k, v in emulator_busy.items()) + "."]
    lines += ["", f"Idle worker over {a.idle_seconds} s: " + ", ".join(
        f"{k} {v['cpu_percent']:.2f}% CPU, {mib(v['rss_bytes'])} RSS" for k, v in idle.items()) + ".", "",
        "| Target | value (range over rounds) | goal | met |", "|---|---:|---:|---|"]
    for t in target_rows:
        value = t["value"]
        shown = "—" if value is None else (f"{value:,.0f}" if value > 100 else f"{value:.2f}")
        if t["low"] is not None:
            shown += f" ({t['low']:.2f}–{t['high']:.2f})"
        lines.append(f"| {t['target']} | {shown} | {t['goal']:g} | {'yes' if t['met'] else ('no' if t['met'] is False else '?')} |")
    with open(a.markdown, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
