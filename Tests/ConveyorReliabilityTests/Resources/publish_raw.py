#!/usr/bin/env python3
"""Publishes raw message bodies straight to a broker queue with another client (pika for RabbitMQ, boto3 for SQS),
bypassing Conveyor. Used by the reliability tests to feed a worker bad input.

    publish_raw.py rabbitmq URL QUEUE BODIES.json
    publish_raw.py sqs ENDPOINT QUEUE BODIES.json

BODIES.json is a JSON list of base64 strings, published in order. Prints how many were published.
"""
import base64
import json
import sys


def sqs_text(raw: bytes) -> str:
    # SQS only carries these characters: #x9 | #xA | #xD | #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF.
    text = raw.decode("utf-8", errors="replace")
    ok = lambda c: c in "\t\n\r" or 0x20 <= ord(c) <= 0xD7FF or 0xE000 <= ord(c) <= 0xFFFD or ord(c) >= 0x10000
    return "".join(c if ok(c) else "?" for c in text)


def main() -> int:
    kind, target, queue, path = sys.argv[1:5]
    with open(path) as f:
        bodies = [base64.b64decode(b) for b in json.load(f)]
    if kind == "rabbitmq":
        import pika

        connection = pika.BlockingConnection(pika.URLParameters(target))
        channel = connection.channel()
        channel.confirm_delivery()
        for body in bodies:
            channel.basic_publish(
                exchange="", routing_key=queue, body=body,
                properties=pika.BasicProperties(delivery_mode=2, content_type="application/octet-stream"),
                mandatory=True)
        connection.close()
    elif kind == "sqs":
        import boto3

        import os

        region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
        client = boto3.client("sqs", endpoint_url=target, region_name=region)
        url = client.get_queue_url(QueueName=queue)["QueueUrl"]
        for body in bodies:
            client.send_message(QueueUrl=url, MessageBody=sqs_text(body) or " ")
    else:
        print(f"unknown broker kind {kind}", file=sys.stderr)
        return 2
    print(len(bodies))
    return 0


if __name__ == "__main__":
    sys.exit(main())
