#!/usr/bin/env bash
# Conveyor benchmarks against the peers, on this machine, in one run:
#   - starts RabbitMQ (127.0.0.1:5672) if it is not running, and a fresh LocalStack of its own (127.0.0.1:4576,
#     request logging off; CONVEYOR_SQS_ENDPOINT=... uses another SQS endpoint instead);
#   - builds `conveyor` in release and runs `conveyor bench` for memory, rabbitmq and sqs;
#   - runs the baselines on the same brokers: a raw librabbitmq loop in C (raw_amqp.c), Python pika
#     (pika_bench.py), boto3 single-threaded (sqs_boto3.py);
#   - measures the CPU of an idle `conveyor worker` over 30 s (utime+stime from /proc/<pid>/stat);
#   - writes Benchmarks/results.json and Benchmarks/results.md (report.py; results-quorum.* for quorum queues).
#
#   Benchmarks/run.sh            # full run (about 7 minutes)
#   BENCH_QUICK=1 Benchmarks/run.sh   # small job counts, for checking the script
#   BENCH_SKIP_BUILD=1 Benchmarks/run.sh   # reuse the last release build in .build-release
#   BENCH_ROUNDS=9 Benchmarks/run.sh        # throughput rounds (default 5; the report takes medians)
#   BENCH_QUEUE_TYPE=quorum Benchmarks/run.sh   # every RabbitMQ client on quorum queues (default classic)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/Benchmarks/out"
mkdir -p "$out"
rm -f "$out"/*.txt
quick=${BENCH_QUICK:-0}
queue_type=${BENCH_QUEUE_TYPE:-classic}
suffix=$([ "$queue_type" = classic ] || echo "-$queue_type")  # results-quorum.md for quorum queues
if [ "$quick" = 1 ]; then mem_jobs=20000; rmq_jobs=2000; sqs_jobs=500; samples=50; idle=5; rounds=1
else mem_jobs=200000; rmq_jobs=20000; sqs_jobs=5000; samples=200; idle=30; rounds=${BENCH_ROUNDS:-5}; fi

echo "== brokers"
scripts/rabbitmq-start.sh
# A LocalStack of its own (port 4576, fresh state, request logging off), so that queues and messages left by tests
# or earlier runs do not slow the emulator, and every SQS client meets the same one. Stopped at exit.
if [ -z "${CONVEYOR_SQS_ENDPOINT:-}" ]; then
  trap 'LOCALSTACK_PORT=4576 scripts/localstack-stop.sh' EXIT
  LOCALSTACK_PORT=4576 scripts/localstack-stop.sh
  rm -rf /tmp/localstack-4576
  LOCALSTACK_PORT=4576 LS_LOG=warn scripts/localstack-start.sh
fi
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-AKIDEXAMPLE}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY}
export AWS_REGION=${AWS_REGION:-us-east-1}
amqp=${CONVEYOR_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
sqs=${CONVEYOR_SQS_ENDPOINT:-http://127.0.0.1:4576}

echo "== build"
[ "${BENCH_SKIP_BUILD:-0}" = 1 ] || swift build -c release --product conveyor --scratch-path .build-release 2>&1 | grep -E "error|warning: .*Sources/|Compiling conveyor|Build complete" || true
bin="$(swift build -c release --scratch-path .build-release --show-bin-path)/conveyor"
[ -x "$bin" ] || { echo "release build failed" >&2; exit 1; }
gcc -O2 -o "$out/raw_amqp" Benchmarks/raw_amqp.c -lrabbitmq -lpthread
venv="$root/.build/bench-venv"
if [ ! -x "$venv/bin/python" ] || ! "$venv/bin/python" -c "import pika, boto3" 2>/dev/null; then
  python3 -m venv --system-site-packages "$venv"
  "$venv/bin/pip" install -q --disable-pip-version-check pika
  "$venv/bin/python" -c "import boto3" 2>/dev/null || "$venv/bin/pip" install -q --disable-pip-version-check boto3
fi
py="$venv/bin/python"

host_port=${amqp#*@}; host_port=${host_port%%/*}
amqp_host=${host_port%:*}; amqp_port=${host_port##*:}

last_json() { grep '^{' "$1" | tail -1; }

echo "== conveyor bench: memory ($mem_jobs jobs)"
"$bin" bench --provider memory --jobs "$mem_jobs" --latency-samples "$samples" | tee "$out/memory.txt"
# The broker's own CPU per message during each RabbitMQ client's run (every client publishes and consumes each
# message twice: the enqueue/drain phases and the end-to-end phase), from the beam process's utime+stime.
beam_pid=$(ss -ltnpH "sport = :$amqp_port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
broker_cpu=()
with_broker_cpu() {  # name messages command...: runs the command, records broker µs per message
  local name=$1 count=$2; shift 2
  local t0 t1; t0=$([ -n "$beam_pid" ] && awk '{print $14+$15}' "/proc/$beam_pid/stat" || echo 0)
  "$@"
  t1=$([ -n "$beam_pid" ] && awk '{print $14+$15}' "/proc/$beam_pid/stat" || echo 0)
  broker_cpu+=("$name=$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v n="$count" 'BEGIN { printf "%.1f", (b-a)/hz/(2*n)*1e6 }')")
}
# The emulator's share of a core while each SQS client runs (LocalStack's utime+stime over the run's wall time):
# a client that keeps the emulator at 100 % cannot go faster on it, whatever it does itself.
sqs_port=${sqs##*:}
ls_pid=$(ss -ltnpH "sport = :$sqs_port" 2>/dev/null | grep -o 'pid=[0-9]*' | head -1 | cut -d= -f2 || true)
emulator_busy=()
with_emulator_cpu() {  # name command...: runs the command, records LocalStack's CPU percent of one core
  local name=$1; shift
  local t0 t1 w0 w1; t0=$([ -n "$ls_pid" ] && awk '{print $14+$15}' "/proc/$ls_pid/stat" || echo 0); w0=$(date +%s.%N)
  "$@"
  t1=$([ -n "$ls_pid" ] && awk '{print $14+$15}' "/proc/$ls_pid/stat" || echo 0); w1=$(date +%s.%N)
  emulator_busy+=("$name=$(awk -v a="$t0" -v b="$t1" -v hz="$(getconf CLK_TCK)" -v w0="$w0" -v w1="$w1" 'BEGIN { printf "%.0f", (b-a)/hz/(w1-w0)*100 }')")
}
# Waits (up to 30 s) until the brokers are idle: RabbitMQ keeps working for a while after a run deletes a queue of
# persistent messages, and that would slow whichever client runs next.
settle() {
  local hz; hz=$(getconf CLK_TCK)
  for _ in $(seq 30); do
    local a=0 b=0 p
    for p in $beam_pid $ls_pid; do [ -r "/proc/$p/stat" ] && a=$((a + $(awk '{print $14+$15}' "/proc/$p/stat"))); done
    sleep 1
    for p in $beam_pid $ls_pid; do [ -r "/proc/$p/stat" ] && b=$((b + $(awk '{print $14+$15}' "/proc/$p/stat"))); done
    [ $(( (b - a) * 100 / hz )) -lt 5 ] && return 0
  done
}
sqs_conveyor() {
  settle
  echo "== round $round: conveyor bench sqs ($sqs_jobs jobs)"
  with_emulator_cpu sqs bash -c '"$0" bench --provider sqs --endpoint "$1" --jobs "$2" --latency-samples 0 | tee "$3"' \
    "$bin" "$sqs" "$sqs_jobs" "$out/sqs-$round.txt"
}
sqs_boto3() {
  settle
  echo "== round $round: boto3 ($sqs_jobs messages)"
  with_emulator_cpu boto3 bash -c '"$0" Benchmarks/sqs_boto3.py --endpoint "$1" --messages "$2" | tee "$3"' \
    "$py" "$sqs" "$sqs_jobs" "$out/boto3-$round.txt"
}
# Throughput in rounds: each round runs every RabbitMQ client and the SQS pair back to back, so that a ratio is
# taken between runs minutes apart at most; the report gives the median over rounds and the range of each ratio.
for round in $(seq 1 "$rounds"); do
  settle
  echo "== round $round of $rounds: conveyor bench rabbitmq ($rmq_jobs jobs)"
  with_broker_cpu rabbitmq "$rmq_jobs" bash -c '"$0" bench --provider rabbitmq --url "$1" --queue-type "$4" --jobs "$2" --latency-samples 0 | tee "$3"' \
    "$bin" "$amqp" "$rmq_jobs" "$out/rabbitmq-$round.txt" "$queue_type"
  settle
  echo "== round $round: raw librabbitmq ($rmq_jobs messages)"
  with_broker_cpu raw "$rmq_jobs" bash -c '"$0" "$1" "$2" "$3" 100 plain "$5" | tee "$4"' "$out/raw_amqp" "$amqp_host" "$amqp_port" "$rmq_jobs" "$out/raw_amqp-$round.txt" "$queue_type"
  settle
  echo "== round $round: raw librabbitmq, Conveyor-shaped messages ($rmq_jobs messages)"
  with_broker_cpu raw-envelope "$rmq_jobs" bash -c '"$0" "$1" "$2" "$3" 100 envelope "$5" | tee "$4"' "$out/raw_amqp" "$amqp_host" "$amqp_port" "$rmq_jobs" "$out/raw_amqp_envelope-$round.txt" "$queue_type"
  settle
  echo "== round $round: pika ($rmq_jobs messages)"
  with_broker_cpu pika "$rmq_jobs" bash -c '"$0" Benchmarks/pika_bench.py --url "$1" --messages "$2" --queue-type "$4" | tee "$3"' "$py" "$amqp" "$rmq_jobs" "$out/pika-$round.txt" "$queue_type"
  # Alternate which SQS client runs first, so that neither always meets a freshly used emulator.
  if [ $((round % 2)) = 1 ]; then sqs_conveyor; sqs_boto3; else sqs_boto3; sqs_conveyor; fi
done
echo "broker CPU per message: ${broker_cpu[*]}; LocalStack busy: ${emulator_busy[*]}"
echo "== enqueue-to-start latency on an idle worker: rabbitmq, sqs ($samples samples)"
"$bin" bench --provider rabbitmq --url "$amqp" --queue-type "$queue_type" --jobs 1000 --latency-samples "$samples" | tee "$out/rabbitmq-latency.txt"
"$bin" bench --provider sqs --endpoint "$sqs" --jobs 300 --latency-samples "$samples" | tee "$out/sqs-latency.txt"

idle_cpu() {  # provider args...: prints "cpu_percent rss_bytes"
  local log="$out/idle-$1.log"
  "$bin" worker "$@" --queue "bench-idle-$$" --concurrency 16 >"$log" 2>&1 &
  local pid=$!
  sleep 3
  local hz; hz=$(getconf CLK_TCK)
  local t0; t0=$(awk '{print $14+$15}' "/proc/$pid/stat")
  sleep "$idle"
  local t1; t1=$(awk '{print $14+$15}' "/proc/$pid/stat")
  local rss; rss=$(awk '/VmRSS/ {print $2*1024}' "/proc/$pid/status")
  kill -TERM "$pid"; wait "$pid" || true
  awk -v a="$t0" -v b="$t1" -v hz="$hz" -v s="$idle" -v rss="$rss" 'BEGIN { printf "%.3f %d\n", (b-a)/hz/s*100, rss }'
}
echo "== idle worker CPU over ${idle} s"
# The SQS worker long-polls a queue that must exist.
"$py" - "$sqs" "bench-idle-$$" <<'PY'
import sys, boto3
boto3.client("sqs", endpoint_url=sys.argv[1], region_name="us-east-1").create_queue(QueueName=sys.argv[2])
PY
read -r idle_rmq rss_rmq < <(idle_cpu --provider rabbitmq --url "$amqp")
read -r idle_sqs rss_sqs < <(idle_cpu --provider sqs --endpoint "$sqs")
read -r idle_mem rss_mem < <(idle_cpu --provider memory)
"$py" - "$sqs" "bench-idle-$$" <<'PY'
import sys, boto3
c = boto3.client("sqs", endpoint_url=sys.argv[1], region_name="us-east-1"); c.delete_queue(QueueUrl=c.get_queue_url(QueueName=sys.argv[2])["QueueUrl"])
PY
echo "idle: rabbitmq $idle_rmq% ($rss_rmq B), sqs $idle_sqs% ($rss_sqs B), memory $idle_mem% ($rss_mem B)"

rounds_of() { ls "$out/$1"-[0-9]*.txt | sort -V | tr '\n' ',' | sed 's/,$//'; }
"$py" Benchmarks/report.py \
  --memory "$(last_json "$out/memory.txt")" \
  --rabbitmq "$(rounds_of rabbitmq)" --rabbitmq-latency "$(last_json "$out/rabbitmq-latency.txt")" \
  --sqs "$(rounds_of sqs)" --sqs-latency "$(last_json "$out/sqs-latency.txt")" \
  --raw "$(rounds_of raw_amqp)" --raw-envelope "$(rounds_of raw_amqp_envelope)" --pika "$(rounds_of pika)" --boto3 "$(rounds_of boto3)" \
  --broker-cpu "$(IFS=,; echo "${broker_cpu[*]}")" --emulator-busy "$(IFS=,; echo "${emulator_busy[*]}")" \
  --idle "rabbitmq=$idle_rmq:$rss_rmq,sqs=$idle_sqs:$rss_sqs,memory=$idle_mem:$rss_mem" \
  --queue-type "$queue_type" --idle-seconds "$idle" --json "Benchmarks/results$suffix.json" --markdown "Benchmarks/results$suffix.md"
cat "Benchmarks/results$suffix.md"
