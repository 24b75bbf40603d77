#!/usr/bin/env bash
# Conveyor benchmarks against the peers, on this machine, in one run:
#   - starts RabbitMQ (127.0.0.1:5672) and LocalStack (127.0.0.1:4566) if they are not running;
#   - builds `conveyor` in release and runs `conveyor bench` for memory, rabbitmq and sqs;
#   - runs the baselines on the same brokers: a raw librabbitmq loop in C (raw_amqp.c), Python pika
#     (pika_bench.py), boto3 single-threaded (sqs_boto3.py);
#   - measures the CPU of an idle `conveyor worker` over 30 s (utime+stime from /proc/<pid>/stat);
#   - writes Benchmarks/results.json and Benchmarks/results.md (report.py).
#
#   Benchmarks/run.sh            # full run (a few minutes)
#   BENCH_QUICK=1 Benchmarks/run.sh   # small job counts, for checking the script
#   BENCH_SKIP_BUILD=1 Benchmarks/run.sh   # reuse the last release build in .build-release
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
out="$root/Benchmarks/out"
mkdir -p "$out"
quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then mem_jobs=20000; rmq_jobs=2000; sqs_jobs=500; samples=50; idle=5
else mem_jobs=200000; rmq_jobs=10000; sqs_jobs=3000; samples=200; idle=30; fi

echo "== brokers"
scripts/rabbitmq-start.sh
scripts/localstack-start.sh
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-AKIDEXAMPLE}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY}
export AWS_REGION=${AWS_REGION:-us-east-1}
amqp=${CONVEYOR_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
sqs=${CONVEYOR_SQS_ENDPOINT:-http://127.0.0.1:4566}

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
echo "== conveyor bench: rabbitmq ($rmq_jobs jobs)"
with_broker_cpu rabbitmq "$rmq_jobs" bash -c '"$0" bench --provider rabbitmq --url "$1" --jobs "$2" --latency-samples 0 | tee "$3"' \
  "$bin" "$amqp" "$rmq_jobs" "$out/rabbitmq-throughput.txt"
"$bin" bench --provider rabbitmq --url "$amqp" --jobs "$rmq_jobs" --latency-samples "$samples" | tee "$out/rabbitmq.txt"
echo "== raw librabbitmq ($rmq_jobs messages)"
with_broker_cpu raw "$rmq_jobs" bash -c '"$0" "$1" "$2" "$3" 100 | tee "$4"' "$out/raw_amqp" "$amqp_host" "$amqp_port" "$rmq_jobs" "$out/raw_amqp.txt"
echo "== raw librabbitmq, Conveyor-shaped messages ($rmq_jobs messages)"
with_broker_cpu raw-envelope "$rmq_jobs" bash -c '"$0" "$1" "$2" "$3" 100 envelope | tee "$4"' "$out/raw_amqp" "$amqp_host" "$amqp_port" "$rmq_jobs" "$out/raw_amqp_envelope.txt"
echo "== pika ($rmq_jobs messages)"
with_broker_cpu pika "$rmq_jobs" bash -c '"$0" Benchmarks/pika_bench.py --url "$1" --messages "$2" | tee "$3"' "$py" "$amqp" "$rmq_jobs" "$out/pika.txt"
echo "broker CPU per message: ${broker_cpu[*]}"
echo "== conveyor bench: sqs ($sqs_jobs jobs)"
"$bin" bench --provider sqs --endpoint "$sqs" --jobs "$sqs_jobs" --latency-samples "$samples" | tee "$out/sqs.txt"
echo "== boto3 ($sqs_jobs messages)"
"$py" Benchmarks/sqs_boto3.py --endpoint "$sqs" --messages "$sqs_jobs" | tee "$out/boto3.txt"

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

"$py" Benchmarks/report.py \
  --memory "$(last_json "$out/memory.txt")" --rabbitmq "$(last_json "$out/rabbitmq.txt")" --sqs "$(last_json "$out/sqs.txt")" \
  --raw "$(last_json "$out/raw_amqp.txt")" --raw-envelope "$(last_json "$out/raw_amqp_envelope.txt")" \
  --pika "$(last_json "$out/pika.txt")" --boto3 "$out/boto3.txt" --broker-cpu "$(IFS=,; echo "${broker_cpu[*]}")" \
  --idle "rabbitmq=$idle_rmq:$rss_rmq,sqs=$idle_sqs:$rss_sqs,memory=$idle_mem:$rss_mem" \
  --idle-seconds "$idle" --json Benchmarks/results.json --markdown Benchmarks/results.md
cat Benchmarks/results.md
