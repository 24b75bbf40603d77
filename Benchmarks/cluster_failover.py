"""Node loss on a three-node RabbitMQ cluster (issue 18: "producers and workers resume within 5 s of the leader
stopping"): how long enqueues and job completions stop when the node leading a quorum queue is stopped.

    python3 Benchmarks/cluster_failover.py                 # 3 rounds of stop_app and 3 of SIGKILL, alternating
    python3 Benchmarks/cluster_failover.py --rounds 1      # one of each, for checking the script
    python3 Benchmarks/cluster_failover.py --keep-cluster  # leave the cluster running at the end

Uses .build-release/release/conveyor (env CONVEYOR) and scripts/rabbitmq-cluster.sh (started if it is down,
stopped at the end and on Ctrl-C unless --keep-cluster). Every conveyor process is given all three nodes
(`--url` with three URLs, `--queue-type quorum`).

- producer: the CLI has no long-running rate-limited producer, so one `conveyor enqueue --count 5 --json` process
  starts every 100 ms (at most 6 at once, each killed after 30 s): 50 jobs/s of `sleep {"ms":0}`. A new process
  takes the nodes in a shuffled order, so this measures when the cluster takes enqueues again, through Conveyor's
  connect-time failover and the quorum queue's leader election; it does not exercise a long-lived producer
  connection (the worker's event publishing below does);
- worker: one long-running `conveyor worker --concurrency 16 --record FILE`; the record line of a `sleep` job,
  "<id> <attempt> sleep <started ms> <finished ms>", is written before the job is acknowledged;
- observer: one long-running `conveyor events --json` (its own connection, so it has to fail over too when its
  node goes): the arrival time of each `succeeded` event.

A round: 6 s of steady load; the queue's leader is asked (`rabbitmq-cluster.sh leader`) and the nodes each process
is connected to are read from `ss`; the leader is stopped (`stop-app N`, graceful, or `kill-node N`, SIGKILL);
T0 = the first moment the leader's AMQP port refused a connection (probed every 20 ms; the stop command's start
is also reported); 20 s are observed; the node is started again and the script waits until it is back in the
cluster and holds its quorum member again.

Gaps, from T0:
- producer gap: until the first enqueue *started after T0* was confirmed (the process printed its ids and exited
  0). The steady-state latency of one enqueue process (about 50-100 ms) is included; the baseline is reported;
- worker gap: until the first job enqueued after T0 finished (its record line). "any completion" is also reported:
  the first record line after T0 of any job;
- events gap: until the observer received the first `succeeded` event of a job enqueued after T0. When the stopped
  node held the observer's subscription queue (classic, not durable), the observer declares it and binds it again
  on its new connection. (This script found that the binding used to be lost: the observer then received nothing
  more; fixed, with RabbitMQFaultTests.eventSubscriptionIsBoundAgainAfterABrokerRestart.)

At the end the producer stops, the script waits (up to 120 s) until every confirmed job ran, and counts jobs
confirmed, run, lost (confirmed, never ran), duplicates (ran more than once) and extra (ran, but their enqueue
process failed). The last line printed is one JSON object with every figure.
"""
import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BINARY = os.environ.get("CONVEYOR", os.path.join(ROOT, ".build-release/release/conveyor"))
CLUSTER = os.path.join(ROOT, "scripts/rabbitmq-cluster.sh")
BASE_PORT = int(os.environ.get("CONVEYOR_CLUSTER_BASE_PORT", "5681"))
PORTS = {n: BASE_PORT + n - 1 for n in (1, 2, 3)}


def now_ms():
    return time.time() * 1000.0


def log(text):
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


def cluster(*arguments, timeout=240, check=True):
    result = subprocess.run([CLUSTER, *map(str, arguments)], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            timeout=timeout, text=True, start_new_session=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"rabbitmq-cluster.sh {' '.join(map(str, arguments))} failed ({result.returncode}): "
                           f"{result.stdout[-500:]} {result.stderr[-500:]}")
    return result.stdout.strip()


def port_open(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def connected_nodes(pid):
    """The cluster nodes (numbers) a process has TCP connections to, from `ss -tnp`."""
    out = subprocess.run(["ss", "-tnpH", "state", "established"], stdout=subprocess.PIPE, text=True).stdout
    nodes = []
    for line in out.splitlines():
        if f"pid={pid}," not in line:
            continue
        fields = line.split()
        peer = fields[3] if len(fields) > 3 else ""
        port = int(peer.rsplit(":", 1)[-1]) if ":" in peer else 0
        for n, p in PORTS.items():
            if port == p:
                nodes.append(n)
    return sorted(nodes)


def queue_members_online(queue, node):
    """The online members of the quorum queue, asked of `node` (empty when it does not answer)."""
    result = subprocess.run(["rabbitmqctl", "-q", "-n", f"rabbit-cluster-{node}@localhost", "list_queues", "name",
                             "online", "--no-table-headers"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True, timeout=60)
    for line in result.stdout.splitlines():
        fields = line.split(None, 1)
        if fields and fields[0] == queue and len(fields) > 1:
            return re.findall(r"rabbit-cluster-(\d)@localhost", fields[1])
    return []


class Producer(threading.Thread):
    """Starts one `conveyor enqueue` process every `interval` s, at most `most` at once."""

    def __init__(self, args, queue, interval=0.1, count=5, most=6):
        super().__init__(daemon=True)
        self.args, self.queue, self.interval, self.count, self.most = args, queue, interval, count, most
        self.stop_event = threading.Event()
        self.lock = threading.Lock()
        self.attempts = []  # dicts: start, end, ok, ids, status, stderr
        self.in_flight = 0
        self.skipped = 0
        self.threads = []

    def run(self):
        next_tick = time.monotonic()
        while not self.stop_event.is_set():
            with self.lock:
                busy = self.in_flight >= self.most
                if not busy:
                    self.in_flight += 1
            if busy:
                self.skipped += 1
            else:
                thread = threading.Thread(target=self.one, daemon=True)
                thread.start()
                self.threads.append(thread)
            next_tick += self.interval
            self.stop_event.wait(max(0.0, next_tick - time.monotonic()))
        for thread in self.threads:
            thread.join()

    def one(self):
        start = now_ms()
        command = [BINARY, "enqueue", *self.args, "--queue", self.queue, "--task", "sleep", "--payload", '{"ms":0}',
                   "--count", str(self.count), "--json"]
        try:
            result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=30, text=True)
            status, out, err = result.returncode, result.stdout, result.stderr
        except subprocess.TimeoutExpired as error:
            status, out, err = "timeout", (error.stdout or b"").decode() if isinstance(error.stdout, bytes) else (error.stdout or ""), "killed after 30 s"
        end = now_ms()
        ids = []
        for line in out.splitlines():
            try:
                ids.append(json.loads(line)["id"])
            except (ValueError, KeyError):
                pass
        attempt = {"start": start, "end": end, "ok": status == 0 and len(ids) == self.count, "ids": ids,
                   "status": status, "stderr": err.strip()[-400:]}
        with self.lock:
            self.attempts.append(attempt)
            self.in_flight -= 1

    def snapshot(self):
        with self.lock:
            return list(self.attempts)


class LineReader(threading.Thread):
    """Reads a process's output lines and keeps each with its arrival time."""

    def __init__(self, stream):
        super().__init__(daemon=True)
        self.stream, self.lines, self.lock = stream, [], threading.Lock()

    def run(self):
        for line in self.stream:
            with self.lock:
                self.lines.append((now_ms(), line.rstrip("\n")))

    def snapshot(self):
        with self.lock:
            return list(self.lines)


class Prober(threading.Thread):
    """Connects to a port every 20 ms; `down_at` is the first refusal."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.port, self.down_at, self.stop_event = port, None, threading.Event()

    def run(self):
        while not self.stop_event.is_set() and self.down_at is None:
            if not port_open(self.port, timeout=0.1):
                self.down_at = now_ms()
                return
            self.stop_event.wait(0.02)


def read_record(path):
    runs = []  # (id, attempt, started, finished)
    try:
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) == 5 and parts[2] == "sleep":
                    runs.append((parts[0], int(parts[1]), int(parts[3]), int(parts[4])))
    except FileNotFoundError:
        pass
    return runs


def median(values):
    return statistics.median(values) if values else None


def fmt(ms):
    return "-" if ms is None else f"{ms / 1000:.2f} s"


def main():
    parser = argparse.ArgumentParser(description="Producer and worker gaps when a quorum queue's leader node stops.")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of each kind (stop_app, SIGKILL); default 3")
    parser.add_argument("--observe", type=float, default=20.0, help="seconds observed after each stop; default 20")
    parser.add_argument("--keep-cluster", action="store_true", help="do not stop the cluster at the end")
    options = parser.parse_args()

    state = {"queue": None, "procs": [], "producer": None, "stopped_node": None, "urls": None}

    def cleanup():
        if state.get("cleaned"):
            return
        state["cleaned"] = True
        producer = state["producer"]
        if producer is not None:
            producer.stop_event.set()
        for proc in state["procs"]:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in state["procs"]:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
        if state["queue"] and state["urls"]:
            try:
                if state["stopped_node"] is not None and options.keep_cluster:
                    cluster("start")
                subprocess.run([BINARY, "queue", "delete", state["queue"], "--yes", "--provider", "rabbitmq", "--url",
                                state["urls"], "--queue-type", "quorum"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=60)
                log(f"deleted queue {state['queue']}")
            except Exception as error:  # noqa: BLE001 - best effort at exit
                log(f"could not delete queue {state['queue']}: {error}")
        if state.get("workdir"):
            shutil.rmtree(state["workdir"], ignore_errors=True)
        if not options.keep_cluster:
            log(cluster("stop", check=False, timeout=120))

    def on_signal(signum, _frame):
        log(f"signal {signum}: cleaning up")
        cleanup()
        sys.exit(130)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    log("starting the cluster (rabbitmq-cluster.sh start)")
    cluster("start")
    urls = cluster("urls")
    state["urls"] = urls
    args = ["--provider", "rabbitmq", "--url", urls, "--queue-type", "quorum"]
    queue = f"bench-failover-{uuid.uuid4().hex[:8]}"
    state["queue"] = queue
    workdir = tempfile.mkdtemp(prefix="conveyor-failover-")
    record = os.path.join(workdir, "record.log")
    state["workdir"] = workdir
    subprocess.run([BINARY, "queue", "create", queue, *args], check=True, stdout=subprocess.DEVNULL)
    log(f"quorum queue {queue}; record file {record}")

    worker = subprocess.Popen([BINARY, "worker", *args, "--queue", queue, "--concurrency", "16", "--record", record,
                               "--shutdown-grace", "5s", "--log-level", "info"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    state["procs"].append(worker)
    worker_log = LineReader(worker.stderr)
    worker_log.start()
    observer = subprocess.Popen([BINARY, "events", *args, "--queue", queue, "--json", "--log-level", "info"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    state["procs"].append(observer)
    events = LineReader(observer.stdout)
    events.start()
    observer_log = LineReader(observer.stderr)
    observer_log.start()
    time.sleep(3)
    producer = Producer(args, queue)
    state["producer"] = producer
    producer.start()

    rounds = []
    kinds = []
    for i in range(options.rounds):
        kinds += ["stop-app", "kill-node"]
    try:
        for index, kind in enumerate(kinds, 1):
            time.sleep(6)
            leader = int(cluster("leader", queue))
            placement = {"worker": connected_nodes(worker.pid), "observer": connected_nodes(observer.pid)}
            before = [a for a in producer.snapshot() if a["ok"] and a["end"] > now_ms() - 5000]
            baseline = median([a["end"] - a["start"] for a in before])
            log(f"round {index} ({kind}): leader node {leader}; worker connected to {placement['worker']}, "
                f"observer to {placement['observer']}; enqueue latency before {fmt(baseline)}")
            prober = Prober(PORTS[leader])
            prober.start()
            command_at = now_ms()
            state["stopped_node"] = leader
            cluster(kind, leader, timeout=120)
            returned_at = now_ms()
            prober.join(timeout=30)
            prober.stop_event.set()
            t0 = prober.down_at if prober.down_at is not None else command_at
            log(f"  {kind} {leader}: port closed {fmt(t0 - command_at)} after the command started, command returned "
                f"after {fmt(returned_at - command_at)}")
            time.sleep(max(0.0, options.observe - (now_ms() - t0) / 1000))
            try:
                new_leader = int(cluster("leader", queue, timeout=60))
            except RuntimeError:
                new_leader = None
            placement_after = {"worker": connected_nodes(worker.pid), "observer": connected_nodes(observer.pid)}

            attempts = producer.snapshot()
            after = [a for a in attempts if a["start"] >= t0]
            confirmed_after = sorted(a["end"] for a in after if a["ok"])
            producer_gap = confirmed_after[0] - t0 if confirmed_after else None
            failed = [a for a in attempts if not a["ok"] and a["end"] >= t0 - 1000 and a["start"] <= t0 + options.observe * 1000]
            slowest = max((a["end"] - a["start"] for a in attempts if a["end"] >= t0 and a["start"] <= t0 + options.observe * 1000), default=None)
            new_ids = {i for a in after for i in a["ids"]}
            runs = read_record(record)
            finished_after = sorted(f for _, _, _, f in runs if f >= t0)
            new_finished = sorted(f for i, _, _, f in runs if f >= t0 and i in new_ids)
            worker_gap = new_finished[0] - t0 if new_finished else None
            any_gap = finished_after[0] - t0 if finished_after else None
            event_arrivals, events_before, events_after = [], 0, 0
            for at, line in events.snapshot():
                try:
                    event = json.loads(line)
                except ValueError:
                    continue
                if t0 - 5000 <= at < t0:
                    events_before += 1
                elif at >= t0:
                    events_after += 1
                    if event.get("kind") == "succeeded" and event.get("id") in new_ids:
                        event_arrivals.append(at)
            events_gap = min(event_arrivals) - t0 if event_arrivals else None
            result = {
                "round": index, "kind": kind, "leader": leader, "new_leader": new_leader,
                "worker_nodes_before": placement["worker"], "worker_nodes_after": placement_after["worker"],
                "observer_nodes_before": placement["observer"], "observer_nodes_after": placement_after["observer"],
                "port_closed_after_command_ms": round(t0 - command_at), "command_ms": round(returned_at - command_at),
                "enqueue_latency_before_ms": None if baseline is None else round(baseline),
                "producer_gap_ms": None if producer_gap is None else round(producer_gap),
                "worker_gap_ms": None if worker_gap is None else round(worker_gap),
                "worker_any_completion_gap_ms": None if any_gap is None else round(any_gap),
                "events_gap_ms": None if events_gap is None else round(events_gap),
                "events_5s_before": events_before, "events_after": events_after,
                "failed_enqueues": len(failed), "slowest_enqueue_ms": None if slowest is None else round(slowest),
                "failed_reasons": sorted({str(a["status"]) + ": " + a["stderr"][-300:] for a in failed})[:4],
                "worker_alive": worker.poll() is None, "observer_alive": observer.poll() is None,
                "worker_on_stopped_node": leader in placement["worker"],
                "observer_on_stopped_node": leader in placement["observer"],
            }
            rounds.append(result)
            log(f"  producer gap {fmt(producer_gap)}, worker gap {fmt(worker_gap)} (any completion {fmt(any_gap)}), "
                f"events gap {fmt(events_gap)} ({events_before} events in the 5 s before, {events_after} after); {len(failed)} enqueue processes failed, slowest enqueue "
                f"{fmt(slowest)}; new leader {new_leader}; worker now on {placement_after['worker']}, observer on "
                f"{placement_after['observer']}")
            for reason in result["failed_reasons"]:
                log(f"    failed enqueue: {reason}")

            log(f"  restarting node {leader}")
            cluster("start-app" if kind == "stop-app" else "start-node", leader, timeout=240)
            state["stopped_node"] = None
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:
                if str(leader) in queue_members_online(queue, leader if leader != 1 else 2):
                    break
                time.sleep(1)
            else:
                log(f"  node {leader} did not come back as a queue member within 120 s")
            log(f"  node {leader} back; members online: {queue_members_online(queue, 1 if leader != 1 else 2)}")

        log("stopping the producer; waiting for every confirmed job to run")
        producer.stop_event.set()
        producer.join()
        attempts = producer.snapshot()
        confirmed = {i for a in attempts if a["ok"] for i in a["ids"]}
        unconfirmed = {i for a in attempts if not a["ok"] for i in a["ids"]}
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            ran = {r[0] for r in read_record(record)}
            if confirmed <= ran:
                break
            time.sleep(1)
        time.sleep(3)  # late duplicates
        runs = read_record(record)
        counts = {}
        for r in runs:
            counts[r[0]] = counts.get(r[0], 0) + 1
        ran = set(counts)
        lost = confirmed - ran
        duplicates = {i: c for i, c in counts.items() if c > 1}
        extra = ran - confirmed
        totals = {
            "enqueue_processes": len(attempts), "enqueue_processes_failed": sum(1 for a in attempts if not a["ok"]),
            "enqueue_ticks_skipped": producer.skipped, "jobs_confirmed": len(confirmed),
            "jobs_run": len(ran), "record_lines": len(runs), "lost": len(lost), "duplicates": len(duplicates),
            "duplicate_runs": sum(c - 1 for c in duplicates.values()),
            "extra_run_not_confirmed": len(extra), "unconfirmed_ids_printed": len(unconfirmed),
            "worker_alive": worker.poll() is None, "observer_alive": observer.poll() is None,
        }
        if lost:
            totals["lost_sample"] = sorted(lost)[:5]
        failover_lines = []
        for who, reader in (("worker", worker_log), ("observer", observer_log)):
            for at, line in reader.snapshot():
                if re.search(r"connect|lost|fail|refus|error|warn|subscri", line, re.I):
                    stamp = time.strftime("%H:%M:%S", time.localtime(at / 1000)) + f".{int(at % 1000):03d}"
                    failover_lines.append(f"{who} {stamp} {re.sub(r'^[^ ]+ info conveyor: ', '', line)}")
    finally:
        cleanup()

    print()
    print(f"RabbitMQ three-node cluster, quorum queue, leader node stopped ({len(rounds)} rounds)")
    print(f"{'round':>5} {'kind':<9} {'leader':>6} {'producer':>9} {'worker':>8} {'any done':>9} {'events':>8} "
          f"{'failed':>6}  worker nodes   observer nodes")
    for r in rounds:
        print(f"{r['round']:>5} {r['kind']:<9} {r['leader']:>6} {fmt(r['producer_gap_ms']):>9} {fmt(r['worker_gap_ms']):>8} "
              f"{fmt(r['worker_any_completion_gap_ms']):>9} {fmt(r['events_gap_ms']):>8} {r['failed_enqueues']:>6}  "
              f"{r['worker_nodes_before']}->{r['worker_nodes_after']}  {r['observer_nodes_before']}->{r['observer_nodes_after']}")
    summary = {}
    for kind in ("stop-app", "kill-node"):
        of_kind = [r for r in rounds if r["kind"] == kind]
        for key in ("producer_gap_ms", "worker_gap_ms", "events_gap_ms"):
            values = [r[key] for r in of_kind]
            known = [v for v in values if v is not None]
            summary[f"{kind}.{key}"] = {"values": values, "median": median(known), "max": max(known) if known else None,
                                        "missing": len(values) - len(known)}
            print(f"{kind:<9} {key[:-3]:<13} median {fmt(median(known)):>8}  max {fmt(max(known) if known else None):>8}"
                  f"  ({', '.join(fmt(v) for v in values)})")
    all_gaps = [r[k] for r in rounds for k in ("producer_gap_ms", "worker_gap_ms")]
    met = all(v is not None and v <= 5000 for v in all_gaps) and bool(all_gaps)
    print(f"jobs: {totals['jobs_confirmed']} confirmed, {totals['jobs_run']} run, {totals['lost']} lost, "
          f"{totals['duplicates']} duplicated ({totals['duplicate_runs']} extra runs), {totals['extra_run_not_confirmed']} "
          f"run without a confirmed enqueue; {totals['enqueue_processes_failed']} of {totals['enqueue_processes']} "
          f"enqueue processes failed")
    print(f"target (producer and worker within 5 s in every round): {'met' if met else 'NOT met'}")
    lost_events = [r["round"] for r in rounds if r["events_gap_ms"] is None]
    if lost_events:
        print(f"events: the observer received no event after the stop in rounds {lost_events} (its process "
              f"{'was still running' if rounds[-1]['observer_alive'] else 'had exited'}); its nodes per round are in "
              f"the table")
    if failover_lines:
        print("worker/observer log lines about connections (first 60):")
        for line in failover_lines[:60]:
            print("  " + line[:220])
    print(json.dumps({"benchmark": "cluster_failover", "rounds": rounds, "summary": summary, "totals": totals,
                      "target_5s_met": met}))


if __name__ == "__main__":
    main()
