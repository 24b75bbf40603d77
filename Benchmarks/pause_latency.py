"""Pause under load (flow-control issue): how long after `conveyor queue pause` the last job starts, and how long
after `conveyor queue resume` the first one starts, with two workers busy on a queue of `sleep` jobs.

    python3 Benchmarks/pause_latency.py rabbitmq        # or sqs; uses .build-release/release/conveyor

RabbitMQ from AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/), SQS from AWS_ENDPOINT_URL_SQS (default
http://127.0.0.1:4566; LocalStack takes any credentials: AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test). Start
times come from the workers' --record lines ("<id> <attempt> sleep <started ms> <finished ms>"); the pause and
resume instants are when the command returned (the state was in the broker).
"""
import os
import subprocess
import sys
import tempfile
import time
import uuid

provider = sys.argv[1] if len(sys.argv) > 1 else "rabbitmq"
binary = os.environ.get("CONVEYOR", ".build-release/release/conveyor")
args = ["--provider", provider]
if provider == "rabbitmq":
    args += ["--url", os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")]
elif provider == "sqs":
    args += ["--endpoint", os.environ.get("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:4566"), "--region", "us-east-1"]
queue = f"bench-pause-{uuid.uuid4().hex[:8]}"
record = os.path.join(tempfile.gettempdir(), f"{queue}.log")


def conveyor(*command):
    subprocess.run([binary, *command, *args], check=True, stdout=subprocess.DEVNULL)


def now_ms():
    return int(time.time() * 1000)


conveyor("queue", "create", queue)
workers = []
try:
    conveyor("enqueue", "--queue", queue, "--task", "sleep", "--payload", '{"ms":20}', "--count", "20000")
    for _ in range(2):
        workers.append(subprocess.Popen([binary, "worker", *args, "--queue", queue, "--concurrency", "8",
                                         "--record", record, "--shutdown-grace", "2s"], stderr=subprocess.DEVNULL))
    time.sleep(5)
    conveyor("queue", "pause", queue)
    paused_at = now_ms()
    time.sleep(6)
    conveyor("queue", "resume", queue)
    resumed_at = now_ms()
    time.sleep(4)
finally:
    for worker in workers:
        worker.terminate()
    for worker in workers:
        worker.wait()
    subprocess.run([binary, "queue", "delete", queue, "--yes", *args], stdout=subprocess.DEVNULL)

starts = sorted(int(line.split()[3]) for line in open(record) if " sleep " in line)
os.remove(record)
before = [s for s in starts if s < paused_at]
during = [s for s in starts if paused_at <= s < resumed_at]
after = [s for s in starts if s >= resumed_at]
print(f"{provider}: {len(before)} jobs started before the pause ({len(before) / 5:.0f}/s)")
print(f"last start after the pause: {(max(during) - paused_at) / 1000:.2f} s ({len(during)} started after it)"
      if during else "no job started after the pause")
print(f"first start after the resume: {(after[0] - resumed_at) / 1000:.2f} s" if after else "no job started after the resume")
