"""RabbitMQ's CPU per reply for three ways to carry job results back to a producer (issue: results and events).

- ack:    a per-producer reply queue (classic, non-durable, x-expires), consumed with manual acks (what Conveyor does);
- noack:  the same queue consumed without acks (a reply is gone once sent on the socket, even if the connection drops);
- direct: direct reply-to (amq.rabbitmq.reply-to): no queue, consumed without acks on the producer's channel.

A "worker" connection publishes N reply-sized messages (persistent except for direct reply-to, mandatory, with
publisher confirms when CONFIRM=1); a "producer" connection consumes them. Prints RabbitMQ's utime+stime per reply.
The Python client is the slower side, so only the broker's figures compare (run several times: they are noisy).

    .build/reliability-venv/bin/python Benchmarks/reply_channels.py ack 20000
"""
import os
import sys
import time

import pika

mode, count = sys.argv[1], int(sys.argv[2])
beam = int(os.popen("pgrep -f -u rabbitmq beam.smp").read().split()[0])


def broker_ticks():
    fields = open(f"/proc/{beam}/stat").read().split(")")[1].split()
    return int(fields[11]) + int(fields[12])


params = pika.URLParameters(os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/"))
producer = pika.BlockingConnection(params)
pch = producer.channel()
worker = pika.BlockingConnection(params)
wch = worker.channel()
if os.environ.get("CONFIRM"):
    wch.confirm_delivery()
received = 0


def on_reply(channel, method, properties, body):
    global received
    received += 1
    if mode == "ack" and received % 10 == 0:
        channel.basic_ack(method.delivery_tag, multiple=True)


body = b'{"v":1,"task":"conveyor.reply","payload":{"kind":"succeeded","job_id":"0b6f0e7c-4f0b-4b43-9d55-0d0f3b8f2f11","attempt":1,"output":{"ok":true}}}'
if mode == "direct":
    pch.basic_consume("amq.rabbitmq.reply-to", on_reply, auto_ack=True)
    request_queue = f"reply-channels-{os.getpid()}"
    pch.queue_declare(request_queue, auto_delete=True)
    pch.basic_publish("", request_queue, b"request", pika.BasicProperties(reply_to="amq.rabbitmq.reply-to"))
    method, properties, _ = wch.basic_get(request_queue, auto_ack=True)
    while method is None:
        time.sleep(0.01)
        method, properties, _ = wch.basic_get(request_queue, auto_ack=True)
    target = properties.reply_to
else:
    target = f"reply-channels-{os.getpid()}"
    pch.queue_declare(target, durable=False, arguments={"x-expires": 300000})
    pch.basic_qos(prefetch_count=1000)
    pch.basic_consume(target, on_reply, auto_ack=(mode == "noack"))

start_ticks, start = broker_ticks(), time.time()
for i in range(count):
    wch.basic_publish("", target, body, pika.BasicProperties(delivery_mode=1 if mode == "direct" else 2),
                      mandatory=(mode != "direct"))
    if i % 50 == 49:
        producer.process_data_events(0)
while received < count and time.time() - start < 120:
    producer.process_data_events(0.1)
ticks = broker_ticks() - start_ticks
hz = os.sysconf("SC_CLK_TCK")
print(f"{mode}: {received}/{count} replies, RabbitMQ {1e6 * ticks / hz / count:.1f} us/reply, {time.time() - start:.1f} s")
if mode != "direct":
    pch.queue_delete(target)
