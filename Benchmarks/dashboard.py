"""The dashboard's targets (issue 15): the overview of 50 queues answers in < 200 ms on RabbitMQ and on LocalStack;
a job event reaches an open page (its server-sent event stream) in p50 < 500 ms; an idle dashboard with no browser
open costs < 1 % CPU.

    python3 Benchmarks/dashboard.py rabbitmq        # CONVEYOR_AMQP_URL, default amqp://guest:guest@127.0.0.1:5672/
    python3 Benchmarks/dashboard.py sqs             # CONVEYOR_SQS_ENDPOINT (LocalStack) and the AWS_* test variables

Uses .build-release/release/conveyor (env CONVEYOR). Creates 50 queues, serves `conveyor dashboard` for all of them,
then measures:
- overview: 30 sequential GET /api/queues and 30 GET / (every queue's counts and paused state read from the broker
  at each request); median and p90 in ms;
- event latency: a worker runs 60 `noop` jobs enqueued 100 ms apart on the first queue while a client follows
  /queues/Q/events; for each event, its arrival at the client minus the `at` its worker stamped (one machine, one
  clock); median and p95 in ms;
- idle CPU: the worker stopped and no client connected, the dashboard process's user+system CPU time over 30 s
  (/proc/PID/stat), as a share of one core.
Deletes the queues at the end. The last line is one JSON object with every figure.
"""
import json
import os
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
import uuid
from datetime import datetime

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("CONVEYOR", os.path.join(ROOT, ".build-release/release/conveyor"))
provider = sys.argv[1] if len(sys.argv) > 1 else "rabbitmq"
if provider == "rabbitmq":
    broker = ["--provider", "rabbitmq", "--url", os.environ.get("CONVEYOR_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")]
else:
    broker = ["--provider", "sqs", "--endpoint", os.environ.get("CONVEYOR_SQS_ENDPOINT", "http://127.0.0.1:4566"),
              "--region", os.environ.get("AWS_REGION", "us-east-1")]
prefix = f"bench-dash-{uuid.uuid4().hex[:6]}"
queues = [f"{prefix}-{i}" for i in range(50)]


def cli(*arguments):
    return subprocess.run([BINARY, *arguments, *broker], check=True, capture_output=True, text=True).stdout


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def timed_get(url):
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=30) as response:
        response.read()
        assert response.status == 200
    return (time.perf_counter() - start) * 1000


def parse_time(text):
    return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


print(f"creating {len(queues)} queues on {provider}", file=sys.stderr)
threads = [threading.Thread(target=cli, args=("queue", "create", q)) for q in queues]
for t in threads: t.start()
for t in threads: t.join()
arguments = [BINARY, "dashboard", *broker, "--port", "0"]
for q in queues: arguments += ["--queue", q]
dashboard = subprocess.Popen(arguments, stderr=subprocess.PIPE, text=True)
worker = None
try:
    line = dashboard.stderr.readline()
    while "dashboard: http://" not in line:
        line = dashboard.stderr.readline()
    base = line.split("dashboard: ", 1)[1].strip().rstrip("/")
    port = int(base.rsplit(":", 1)[1])
    threading.Thread(target=lambda: [None for _ in dashboard.stderr], daemon=True).start()
    time.sleep(3)  # subscriptions made

    api = [timed_get(base + "/api/queues") for _ in range(30)]
    page = [timed_get(base + "/") for _ in range(30)]
    print(f"overview of 50 queues: /api/queues median {statistics.median(api):.1f} ms (p90 {percentile(api, 90):.1f}); "
          f"/ median {statistics.median(page):.1f} ms (p90 {percentile(page, 90):.1f})", file=sys.stderr)

    # Event latency on the first queue.
    latencies = []
    stream = socket.create_connection(("127.0.0.1", port))
    stream.sendall(f"GET /queues/{queues[0]}/events HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    stream.settimeout(1)

    def read_events():
        buffer = b""
        while True:
            try:
                chunk = stream.recv(65536)
            except socket.timeout:
                continue
            except OSError:
                return
            if not chunk:
                return
            now = time.time()
            buffer += chunk
            while b"data: " in buffer and b"\n" in buffer.split(b"data: ", 1)[1]:
                head, rest = buffer.split(b"data: ", 1)
                data, buffer = rest.split(b"\n", 1)
                try:
                    event = json.loads(data)
                except ValueError:
                    continue
                if event.get("kind") in ("started", "succeeded"):
                    latencies.append((now - parse_time(event["at"])) * 1000)

    reader = threading.Thread(target=read_events, daemon=True)
    reader.start()
    worker = subprocess.Popen([BINARY, "worker", *broker, "--queue", queues[0]], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(12)  # the worker learns that the queue is observed (RabbitMQ at once, SQS within 10 s)
    for i in range(60):
        cli("enqueue", "--queue", queues[0], "--task", "noop", "--payload", "{}")
        time.sleep(0.1)
    time.sleep(5)
    stream.close()
    worker.terminate()
    worker.wait(timeout=60)
    worker = None
    print(f"event latency ({len(latencies)} events): median {statistics.median(latencies):.0f} ms, "
          f"p95 {percentile(latencies, 95):.0f} ms", file=sys.stderr)

    time.sleep(10)
    before = cpu_seconds(dashboard.pid)
    time.sleep(30)
    idle = (cpu_seconds(dashboard.pid) - before) / 30 * 100
    print(f"idle dashboard (50 queues followed, no client): {idle:.2f} % of one core", file=sys.stderr)
    print(json.dumps({
        "provider": provider, "queues": len(queues),
        "api_queues_ms_median": round(statistics.median(api), 1), "api_queues_ms_p90": round(percentile(api, 90), 1),
        "overview_page_ms_median": round(statistics.median(page), 1), "overview_page_ms_p90": round(percentile(page, 90), 1),
        "event_latency_ms_p50": round(statistics.median(latencies)), "event_latency_ms_p95": round(percentile(latencies, 95)),
        "events": len(latencies), "idle_cpu_percent": round(idle, 2),
    }))
finally:
    if worker:
        worker.kill()
    dashboard.terminate()
    dashboard.wait(timeout=60)
    threads = [threading.Thread(target=lambda q=q: subprocess.run([BINARY, "queue", "delete", q, "--yes", *broker], capture_output=True)) for q in queues]
    for t in threads: t.start()
    for t in threads: t.join()
