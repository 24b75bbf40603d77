#!/usr/bin/env python3
"""Python pika baseline for Conveyor's RabbitMQ benchmark, same shape as Benchmarks/raw_amqp.c.

(1) publish N persistent 100-byte messages to a durable classic queue with publisher confirms, pipelined on a
SelectConnection (up to 1000 unconfirmed; BlockingConnection waits for each confirm and manages ~100 msg/s here);
(2) consume them with prefetch 100 and an ack per message; (3) both at once on two connections (end to end), with
publish-to-delivery latency from a timestamp in the body. Prints one JSON object.

usage: python3 Benchmarks/pika_bench.py [--url amqp://guest:guest@127.0.0.1:5672/] [--messages 20000]
"""
import argparse
import json
import os
import resource
import struct
import threading
import time

import pika


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--url", default="amqp://guest:guest@127.0.0.1:5672/")
    p.add_argument("--messages", type=int, default=20000)
    p.add_argument("--payload-bytes", type=int, default=100)
    p.add_argument("--queue-type", default="classic", choices=["classic", "quorum"])
    a = p.parse_args()
    queue = "bench-pika-%d" % os.getpid()
    n = a.messages
    props = pika.BasicProperties(delivery_mode=2, content_type="application/json")

    def connect():
        return pika.BlockingConnection(pika.URLParameters(a.url))

    def publish(stamp):
        pad = b"x" * max(0, a.payload_bytes - 8)
        state = {"sent": 0, "confirmed": 0, "ch": None}

        def pump():
            ch = state["ch"]
            while state["sent"] < n and state["sent"] - state["confirmed"] < 1000:
                ch.basic_publish("", queue, (struct.pack("d", time.monotonic()) if stamp else b"x" * 8) + pad, props)
                state["sent"] += 1

        def on_confirm(frame):
            m = frame.method
            if isinstance(m, pika.spec.Basic.Nack):
                raise SystemExit("pika: publish nacked")
            state["confirmed"] = m.delivery_tag if m.multiple else state["confirmed"] + 1
            if state["confirmed"] >= n:
                conn.close()
            else:
                pump()

        def on_channel(ch):
            state["ch"] = ch
            ch.confirm_delivery(on_confirm, callback=lambda _: pump())

        conn = pika.SelectConnection(
            pika.URLParameters(a.url),
            on_open_callback=lambda c: c.channel(on_open_callback=on_channel),
            on_open_error_callback=lambda c, e: c.ioloop.stop(),
            on_close_callback=lambda c, r: c.ioloop.stop())
        conn.ioloop.start()
        if state["confirmed"] < n:
            raise SystemExit("pika: only %d of %d publishes confirmed" % (state["confirmed"], n))

    latencies = []

    def consume(stamp):
        conn = connect()
        ch = conn.channel()
        ch.basic_qos(prefetch_count=100)
        got = 0
        for method, _, body in ch.consume(queue):
            if stamp:
                latencies.append(time.monotonic() - struct.unpack("d", body[:8])[0])
            ch.basic_ack(method.delivery_tag)
            got += 1
            if got == n:
                break
        ch.cancel()
        conn.close()

    setup = connect()
    setup.channel().queue_declare(queue, durable=True, arguments={"x-queue-type": a.queue_type})
    cpu0 = time.process_time()
    t = time.perf_counter(); publish(False); publish_s = time.perf_counter() - t
    t = time.perf_counter(); consume(False); consume_s = time.perf_counter() - t
    t = time.perf_counter()
    consumer = threading.Thread(target=consume, args=(True,))
    consumer.start()
    publish(True)
    consumer.join()
    e2e_s = time.perf_counter() - t
    cpu_s = time.process_time() - cpu0
    setup.channel().queue_delete(queue)
    setup.close()
    latencies.sort()
    print(json.dumps({
        "client": "pika", "messages": n, "payload_bytes": a.payload_bytes,
        "enqueue_per_s": n / publish_s, "process_per_s": n / consume_s, "e2e_per_s": n / e2e_s,
        "e2e_latency_p50_ms": latencies[n // 2] * 1e3, "e2e_latency_p99_ms": latencies[int(n * 0.99)] * 1e3,
        "cpu_us_per_job": cpu_s / (2 * n) * 1e6,  # 2n jobs, each published and consumed once
        "peak_rss_bytes": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }))


if __name__ == "__main__":
    main()
