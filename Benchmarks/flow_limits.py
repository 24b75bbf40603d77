"""Global flow limits across worker processes (flow-control issue), measured from outside:

1. concurrency: 4 `conveyor worker` processes with --concurrency 8 and --global-concurrency sleep=5 run 2,000
   `sleep` jobs of 20 ms: the most that ran at once, whether every job ran exactly once, and jobs per second;
2. rate: 4 workers with --rate-limit sleep=50/s for 60 s: the most jobs started in any window of one second (the
   bound is 50 plus the burst, 50) and the rate over the run, against the limit;
3. kill: a worker holding both permits of --global-concurrency sleep=2 is SIGKILLed: how long until both permits
   wait in the broker again (`conveyor limit show`), and whether every job still ran without a dead letter;
4. change: 4 workers run under --global-concurrency sleep=2; `conveyor limit set sleep --concurrency 6` is run: how
   long until more than 2 jobs run at once, and the most at once after it.

    python3 Benchmarks/flow_limits.py rabbitmq            # or sqs; uses .build-release/release/conveyor
    FLOW_QUICK=1 python3 Benchmarks/flow_limits.py sqs    # 300 jobs and 15 s of rate, for checking the script

RabbitMQ from AMQP_URL (default amqp://guest:guest@127.0.0.1:5672/), SQS from AWS_ENDPOINT_URL_SQS (default
http://127.0.0.1:4566, region us-east-1). Each part uses a limit key of its own (--limit-key), and deletes its
queue and limit queues at the end. Prints one JSON object per part.
"""
import json
import os
import subprocess
import sys
import tempfile
import time
import uuid

provider = sys.argv[1] if len(sys.argv) > 1 else "rabbitmq"
quick = os.environ.get("FLOW_QUICK") == "1"
binary = os.environ.get("CONVEYOR", ".build-release/release/conveyor")
args = ["--provider", provider]
worker_args = []
if provider == "rabbitmq":
    args += ["--url", os.environ.get("AMQP_URL", "amqp://guest:guest@127.0.0.1:5672/")]
elif provider == "sqs":
    args += ["--endpoint", os.environ.get("AWS_ENDPOINT_URL_SQS", "http://127.0.0.1:4566"), "--region", "us-east-1"]
    worker_args = ["--visibility-timeout", "10s"]


def conveyor(*command, capture=False):
    result = subprocess.run([binary, *command, *args], check=True, stdout=subprocess.PIPE if capture else subprocess.DEVNULL)
    return result.stdout.decode() if capture else None


def runs(record):
    out = []
    for line in open(record):
        parts = line.split()
        if len(parts) == 5 and parts[2] == "sleep":
            out.append((parts[0], int(parts[1]), int(parts[3]), int(parts[4])))
    return out


def most_at_once(rs):
    events = sorted([(s, 1) for _, _, s, _ in rs] + [(e, -1) for _, _, _, e in rs])
    running = most = 0
    for _, delta in events:
        running += delta
        most = max(most, running)
    return most


def most_started_within(rs, window_ms):
    starts = sorted(s for _, _, s, _ in rs)
    most = first = 0
    for last, start in enumerate(starts):
        while starts[first] <= start - window_ms:
            first += 1
        most = max(most, last - first + 1)
    return most


class Part:
    def __init__(self, name, limit_args, concurrency=8, workers=4):
        self.name = name
        self.queue = f"bench-flow-{name}-{uuid.uuid4().hex[:8]}"
        self.key = self.queue
        self.record = os.path.join(tempfile.gettempdir(), f"{self.queue}.log")
        open(self.record, "w").close()
        self.limit_args = limit_args
        self.concurrency = concurrency
        self.workers = []
        conveyor("queue", "create", self.queue)
        for _ in range(workers):
            self.start_worker()

    def start_worker(self):
        worker = subprocess.Popen([binary, "worker", *args, *worker_args, "--queue", self.queue, "--concurrency", str(self.concurrency),
                                   "--record", self.record, "--max-attempts", "1", "--shutdown-grace", "5s", *self.limit_args],
                                  stderr=subprocess.DEVNULL)
        self.workers.append(worker)
        return worker

    def enqueue(self, count, ms):
        conveyor("enqueue", "--queue", self.queue, "--task", "sleep", "--payload", json.dumps({"ms": ms}), "--count", str(count),
                 "--limit-key", self.key)

    def wait_for(self, count, timeout):
        deadline = time.time() + timeout
        while time.time() < deadline and len(runs(self.record)) < count:
            time.sleep(0.5)

    def dead_lettered(self):
        return json.loads(conveyor("stats", "--queue", self.queue, "--json", capture=True)).get("dead_lettered")

    def finish(self):
        for worker in self.workers:
            if worker.poll() is None:
                worker.terminate()
        for worker in self.workers:
            worker.wait()
        dead = self.dead_lettered()
        subprocess.run([binary, "queue", "delete", self.queue, "--yes", *args], stdout=subprocess.DEVNULL)
        subprocess.run([binary, "limit", "delete", "sleep", "--key", self.key, *args], stdout=subprocess.DEVNULL)
        rs = runs(self.record)
        os.remove(self.record)
        return rs, dead


def concurrency_part():
    jobs = 300 if quick else 2000
    part = Part("concurrency", ["--global-concurrency", "sleep=5"])
    time.sleep(2)
    started = time.time()
    part.enqueue(jobs, 20)
    part.wait_for(jobs, 600)
    elapsed = time.time() - started
    rs, dead = part.finish()
    ids = [r[0] for r in rs]
    print(json.dumps({"part": "concurrency", "provider": provider, "workers": 4, "worker_concurrency": 8, "limit": 5, "jobs": jobs,
                      "runs": len(rs), "distinct_jobs": len(set(ids)), "max_running": most_at_once(rs),
                      "attempts_above_1": sum(1 for r in rs if r[1] != 1), "dead_lettered": dead,
                      "jobs_per_s": round(len(rs) / elapsed, 1), "seconds": round(elapsed, 1)}), flush=True)


def rate_part():
    seconds = 15 if quick else 60
    part = Part("rate", ["--rate-limit", "sleep=50/s"])
    part.enqueue(50 * seconds + 1000, 0)
    time.sleep(3)  # the workers take part in refills from their first slot
    begin = int(time.time() * 1000)
    time.sleep(seconds)
    end = int(time.time() * 1000)
    rs, dead = part.finish()
    inside = [r for r in rs if begin <= r[2] < end]
    print(json.dumps({"part": "rate", "provider": provider, "workers": 4, "limit_per_s": 50, "burst": 50, "seconds": seconds,
                      "started": len(inside), "rate_per_s": round(len(inside) / seconds, 1),
                      "of_limit": round(len(inside) / seconds / 50, 3), "max_started_in_1s": most_started_within(rs, 1000),
                      "bound_in_1s": 100, "dead_lettered": dead}), flush=True)


def kill_part():
    part = Part("kill", ["--global-concurrency", "sleep=2"], concurrency=4, workers=1)
    jobs = 6
    part.enqueue(jobs, 4000)

    def waiting():
        return json.loads(conveyor("limit", "show", "sleep", "--key", part.key, capture=True))["permits_waiting"]

    deadline = time.time() + 60
    while time.time() < deadline and not (os.path.getsize(part.record) == 0 and waiting() == 0):
        time.sleep(0.2)
    time.sleep(1)
    part.workers[0].kill()
    part.workers[0].wait()
    killed = time.time()
    while time.time() < killed + 120 and waiting() < 2:
        time.sleep(0.1)
    returned = time.time() - killed
    part.start_worker()
    part.wait_for(jobs, 180)
    rs, dead = part.finish()
    print(json.dumps({"part": "kill", "provider": provider, "limit": 2, "permits_back_after_s": round(returned, 2),
                      "jobs": jobs, "distinct_jobs": len(set(r[0] for r in rs)), "dead_lettered": dead,
                      "max_running": most_at_once(rs)}), flush=True)


def change_part():
    part = Part("change", ["--global-concurrency", "sleep=2"])
    part.enqueue(2000, 200)
    time.sleep(8)
    set_begin = int(time.time() * 1000)
    subprocess.run([binary, "limit", "set", "sleep", "--key", part.key, "--concurrency", "6", *args], check=True, stdout=subprocess.DEVNULL)
    set_done = int(time.time() * 1000)
    time.sleep(20)
    rs, dead = part.finish()
    before = [r for r in rs if r[3] <= set_begin]
    settled = [r for r in rs if r[2] >= set_done + 2000]
    # The first moment after the command began at which more than 2 ran at once.
    events = sorted([(s, 1) for _, _, s, _ in rs] + [(e, -1) for _, _, _, e in rs])
    running, first_above = 0, None
    for at, delta in events:
        running += delta
        if at >= set_begin and running > 2 and first_above is None:
            first_above = at
    print(json.dumps({"part": "change", "provider": provider, "from": 2, "to": 6, "command_s": round((set_done - set_begin) / 1000, 2),
                      "max_running_before": most_at_once(before), "max_running_overall": most_at_once(rs),
                      "max_running_from_2s_after": most_at_once(settled),
                      "above_old_limit_after_s": round((first_above - set_begin) / 1000, 2) if first_above else None,
                      "dead_lettered": dead}), flush=True)


for part in (sys.argv[2:] or ["concurrency", "rate", "kill", "change"]):
    {"concurrency": concurrency_part, "rate": rate_part, "kill": kill_part, "change": change_part}[part]()
