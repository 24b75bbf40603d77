#!/usr/bin/env python3
"""Baseline for Conveyor's SQS benchmark: boto3 doing the same work single-threaded.

Sends N messages (envelope-sized JSON bodies) with SendMessageBatch (10 per batch), then drains them with
ReceiveMessage(10) + DeleteMessageBatch. Prints messages per second and client CPU time per message.

usage: AWS_ACCESS_KEY_ID=... AWS_SECRET_ACCESS_KEY=... python3 Benchmarks/sqs_boto3.py \
           --endpoint http://127.0.0.1:4566 [--messages 10000]
"""
import argparse, json, time, uuid

import boto3


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--endpoint", default="http://127.0.0.1:4566")
    p.add_argument("--region", default="us-east-1")
    p.add_argument("--messages", type=int, default=10000)
    a = p.parse_args()
    sqs = boto3.client("sqs", endpoint_url=a.endpoint, region_name=a.region)
    name = "bench-boto3-%d" % int(time.time())
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    try:
        body = lambda i: json.dumps({"v": 1, "id": str(uuid.uuid4()), "task": "bench.noop", "payload": {"n": i},
                                     "created_at": "2026-01-01T00:00:00.000Z"})
        wall, cpu = time.perf_counter(), time.process_time()
        for start in range(0, a.messages, 10):
            entries = [{"Id": str(i), "MessageBody": body(start + i),
                        "MessageAttributes": {"conveyor.task": {"DataType": "String", "StringValue": "bench.noop"}}}
                       for i in range(min(10, a.messages - start))]
            r = sqs.send_message_batch(QueueUrl=url, Entries=entries)
            assert not r.get("Failed"), r["Failed"]
        send_wall, send_cpu = time.perf_counter() - wall, time.process_time() - cpu

        wall, cpu = time.perf_counter(), time.process_time()
        drained, empty = 0, 0
        while drained < a.messages and empty < 5:
            r = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1,
                                    MessageSystemAttributeNames=["ApproximateReceiveCount", "SentTimestamp"],
                                    MessageAttributeNames=["All"])
            msgs = r.get("Messages", [])
            if not msgs:
                empty += 1
                continue
            for m in msgs:
                json.loads(m["Body"])  # "process"
            sqs.delete_message_batch(QueueUrl=url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]}
                                                             for i, m in enumerate(msgs)])
            drained += len(msgs)
        drain_wall, drain_cpu = time.perf_counter() - wall, time.process_time() - cpu
        print("boto3 send:  %d msgs in %.2f s = %.0f msg/s, client CPU %.1f us/msg"
              % (a.messages, send_wall, a.messages / send_wall, send_cpu / a.messages * 1e6))
        print("boto3 drain: %d msgs in %.2f s = %.0f msg/s, client CPU %.1f us/msg"
              % (drained, drain_wall, drained / drain_wall, drain_cpu / max(1, drained) * 1e6))
    finally:
        sqs.delete_queue(QueueUrl=url)


if __name__ == "__main__":
    main()
