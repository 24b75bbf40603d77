#!/usr/bin/env python3
"""Baseline for Conveyor's SQS benchmark: boto3 doing the same work, single-threaded by default.

Sends N messages shaped like Conveyor's (the same JSON envelope around a 100-byte payload, and the same
`conveyor.task` and `conveyor.correlation_id` message attributes) with SendMessageBatch (10 per batch), then drains
them with ReceiveMessage(10) + DeleteMessageBatch, decoding each body. Prints messages per second and client CPU time
per message.

With --threads T, T threads share the work (each its own boto3 client): not the target's baseline, but a measure of
how fast the emulator serves a concurrent client at all.

usage: AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... python3 Benchmarks/sqs_boto3.py \
           --endpoint http://127.0.0.1:4566 [--messages 10000] [--threads 1]
"""
import argparse, datetime, json, threading, time, uuid

import boto3


def envelope(payload_bytes):
    job = str(uuid.uuid4())
    created = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    body = json.dumps({"v": 1, "id": job, "task": "conveyor.bench",
                       "payload": {"t": time.time_ns(), "pad": "x" * payload_bytes},
                       "created_at": created, "correlation_id": job}, separators=(",", ":"))
    attributes = {"conveyor.task": {"DataType": "String", "StringValue": "conveyor.bench"},
                  "conveyor.correlation_id": {"DataType": "String", "StringValue": job}}
    return body, attributes


def in_threads(threads, work):
    """Runs work(index) in `threads` threads and waits for them."""
    if threads == 1:
        work(0)
        return
    pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", default="http://127.0.0.1:4566")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--messages", type=int, default=10000)
    p.add_argument("--payload-bytes", type=int, default=100)
    p.add_argument("--threads", type=int, default=1)
    a = p.parse_args()
    session = boto3.session.Session()
    clients = [session.client("sqs", endpoint_url=a.endpoint, region_name=a.region) for _ in range(a.threads)]
    sqs = clients[0]
    name = "bench-boto3-%d-%d" % (int(time.time()), a.threads)
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    label = "boto3" if a.threads == 1 else "boto3 x%d" % a.threads
    try:
        batches = [range(start, min(start + 10, a.messages)) for start in range(0, a.messages, 10)]

        def send(index):
            client = clients[index]
            for batch in batches[index::a.threads]:
                entries = []
                for i in batch:
                    body, attributes = envelope(a.payload_bytes)
                    entries.append({"Id": str(i % 10), "MessageBody": body, "MessageAttributes": attributes})
                r = client.send_message_batch(QueueUrl=url, Entries=entries)
                assert not r.get("Failed"), r["Failed"]

        wall, cpu = time.perf_counter(), time.process_time()
        in_threads(a.threads, send)
        send_wall, send_cpu = time.perf_counter() - wall, time.process_time() - cpu

        drained = [0] * a.threads
        lock = threading.Lock()
        total = [0]

        def drain(index):
            client, empty = clients[index], 0
            while empty < 3:
                with lock:
                    if total[0] >= a.messages:
                        return
                r = client.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                           MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                                           MessageAttributeNames=["All"])
                msgs = r.get("Messages", [])
                if not msgs:
                    empty += 1
                    continue
                for m in msgs:
                    json.loads(m["Body"])  # "process"
                client.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                                    for i, m in enumerate(msgs)])
                drained[index] += len(msgs)
                with lock:
                    total[0] += len(msgs)

        wall, cpu = time.perf_counter(), time.process_time()
        in_threads(a.threads, drain)
        drain_wall, drain_cpu = time.perf_counter() - wall, time.process_time() - cpu
        n = sum(drained)
        print("%s send:  %d msgs in %.2f s = %.0f msg/s, client CPU %.1f us/msg"
              % (label, a.messages, send_wall, a.messages / send_wall, send_cpu / a.messages * 1e6))
        print("%s drain: %d msgs in %.2f s = %.0f msg/s, client CPU %.1f us/msg"
              % (label, n, drain_wall, n / drain_wall, drain_cpu / max(1, n) * 1e6))
    finally:
        sqs.delete_queue(QueueUrl=url)


if __name__ == "__main__":
    main()
