#!/usr/bin/env python3
"""Turns the outputs of Benchmarks/run.sh into results.json and results.md (throughput, latency, CPU per job, RSS,
ratios to the peers, the issue's targets)."""
import argparse
import datetime
import json
import os
import platform
import re


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
    for name in ("memory", "rabbitmq", "sqs", "raw", "pika"):
        p.add_argument("--" + name, required=True)
    p.add_argument("--boto3", required=True)
    p.add_argument("--raw-envelope", help="raw_amqp with Conveyor-shaped messages (JSON line)")
    p.add_argument("--broker-cpu", default="", help="name=µs,... RabbitMQ's own CPU per message during each client's run")
    p.add_argument("--idle", required=True)
    p.add_argument("--idle-seconds", type=int, default=30)
    p.add_argument("--json", required=True)
    p.add_argument("--markdown", required=True)
    a = p.parse_args()
    conveyor = {k: json.loads(getattr(a, k)) for k in ("memory", "rabbitmq", "sqs")}
    peers = {"raw-librabbitmq": json.loads(a.raw), "pika": json.loads(a.pika), "boto3": boto3_numbers(a.boto3)}
    if a.raw_envelope:
        peers["raw-librabbitmq-envelope"] = json.loads(a.raw_envelope)
    broker_cpu = {}
    for item in filter(None, a.broker_cpu.split(",")):
        name, value = item.split("=")
        broker_cpu[name] = float(value)
    idle = {}
    for item in a.idle.split(","):
        name, rest = item.split("=")
        cpu, rss = rest.split(":")
        idle[name] = {"cpu_percent": float(cpu), "rss_bytes": int(rss)}

    def ratio(x, y):
        return None if not x or not y else x / y

    rmq, raw, pika, sqs, boto = conveyor["rabbitmq"], peers["raw-librabbitmq"], peers["pika"], conveyor["sqs"], peers["boto3"]
    mem = conveyor["memory"]
    targets = [
        ("RabbitMQ end-to-end >= 80% of the raw librabbitmq loop", ratio(rmq["e2e_per_s"], raw["e2e_per_s"]), 0.8),
        ("RabbitMQ end-to-end >= 2x pika", ratio(rmq["e2e_per_s"], pika["e2e_per_s"]), 2.0),
        ("SQS drain >= 2x boto3 single-thread drain", ratio(sqs["process_per_s"], boto.get("process_per_s")), 2.0),
        ("SQS enqueue >= 1.5x boto3 batch send", ratio(sqs["enqueue_per_s"], boto.get("enqueue_per_s")), 1.5),
        ("memory end-to-end >= 200k jobs/s", mem["e2e_per_s"], 200_000),
        ("memory drain >= 200k jobs/s", mem["process_per_s"], 200_000),
    ]
    targets += [("idle %s worker CPU < 1%%" % k, v["cpu_percent"], 1.0) for k, v in idle.items()]
    target_rows = []
    for name, value, goal in targets:
        met = None if value is None else (value < goal if "CPU <" in name else value >= goal)
        target_rows.append({"target": name, "value": value, "goal": goal, "met": met})

    result = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "conveyor": conveyor, "peers": peers, "broker_cpu_us_per_message": broker_cpu, "idle_worker": {"seconds": a.idle_seconds, **idle}, "targets": target_rows,
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
        "payloads, persistent messages, durable classic RabbitMQ queues; LocalStack (hypercorn gateway on 127.0.0.1) for SQS.",
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
        "Ratios (Conveyor / peer):",
        "",
        "| | enqueue | drain | end-to-end | CPU per job |",
        "|---|---:|---:|---:|---:|",
    ]
    pairs = [("RabbitMQ / raw librabbitmq", rmq, raw), ("RabbitMQ / pika", rmq, pika), ("SQS / boto3", sqs, boto)]
    if "raw-librabbitmq-envelope" in peers:
        pairs.insert(1, ("RabbitMQ / raw librabbitmq, same message shape", rmq, peers["raw-librabbitmq-envelope"]))
    for name, mine, peer in pairs:
        cells = [fmt(ratio(mine.get(k), peer.get(k)), 2) for k in ("enqueue_per_s", "process_per_s", "e2e_per_s", "cpu_us_per_job")]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    if broker_cpu:
        names = {"rabbitmq": "Conveyor", "raw": "raw librabbitmq", "raw-envelope": "raw librabbitmq, Conveyor-shaped messages", "pika": "pika"}
        lines += ["", "RabbitMQ's own CPU per message (publish, route, persist, deliver, ack) during each client's run: " + ", ".join(
            f"{names.get(k, k)} {v:.1f} µs" for k, v in broker_cpu.items()) + "."]
    lines += ["", f"Idle worker over {a.idle_seconds} s: " + ", ".join(
        f"{k} {v['cpu_percent']:.2f}% CPU, {mib(v['rss_bytes'])} RSS" for k, v in idle.items()) + ".", "",
        "| Target | value | goal | met |", "|---|---:|---:|---|"]
    for t in target_rows:
        value = t["value"]
        shown = "—" if value is None else (f"{value:,.0f}" if value > 100 else f"{value:.2f}")
        lines.append(f"| {t['target']} | {shown} | {t['goal']:g} | {'yes' if t['met'] else ('no' if t['met'] is False else '?')} |")
    with open(a.markdown, "w") as f:
        f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
