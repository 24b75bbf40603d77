#!/usr/bin/env bash
# Installs what the tests need, starts RabbitMQ and LocalStack (SQS) on 127.0.0.1, and runs the whole test suite
# against them. Run as root on Debian/Ubuntu (apt), or on a machine that already has the packages and brokers.
#
#   scripts/test.sh                 # everything
#   scripts/test.sh --filter Memory # extra arguments go to `swift test`
#
# Ends with scripts/test-report.py: passed, skipped and failed tests per suite, and every skip with its reason.
# With CI=true a skipped test (a missing broker, tool or variable) fails the run, and so does a test target that
# ran no test (when running everything).
#
# Environment:
#   CONVEYOR_SKIP_INSTALL=1     don't run apt-get
#   CONVEYOR_SIGV4_PROXY=PATH   run the SQS tests through this strict SigV4-checking proxy (a python script taking
#                               --listen/--upstream/--key/--secret/--log); the run fails on any rejected request
#   CONVEYOR_KEEP_BROKERS=1     leave the brokers running afterwards
#   CONVEYOR_TEST_RESULTS=DIR   where the xUnit files and console logs go (default .build/test-results, emptied first)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

if [ "${CONVEYOR_SKIP_INSTALL:-0}" != 1 ]; then
  scripts/install-deps.sh --tests
fi

cleanup() {
  # The proxy is this run's own: it goes whatever happens to the brokers (a proxy left behind would hold the port
  # and take the next run's requests into its own log).
  [ -n "${proxy_pid:-}" ] && kill "$proxy_pid" 2>/dev/null || true
  if [ "${CONVEYOR_KEEP_BROKERS:-0}" != 1 ]; then
    scripts/rabbitmq-stop.sh >/dev/null 2>&1 || true
    scripts/localstack-stop.sh >/dev/null 2>&1 || true
  fi
  # The three-node cluster of the cluster tests (started by them, scripts/rabbitmq-cluster.sh) goes in any case.
  scripts/rabbitmq-cluster.sh stop >/dev/null 2>&1 || true
}
trap cleanup EXIT

echo "== starting RabbitMQ and LocalStack"
RABBITMQ_TLS_PORT=5671 scripts/rabbitmq-start.sh &
rabbit_pid=$!
scripts/localstack-start.sh &
localstack_pid=$!
wait "$rabbit_pid"
wait "$localstack_pid"

export CONVEYOR_AMQP_URL=${CONVEYOR_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
# The TLS listener of the same node and its test certificates (scripts/rabbitmq-start.sh, scripts/tls-material.sh).
export CONVEYOR_AMQPS_URL=${CONVEYOR_AMQPS_URL:-amqps://guest:guest@localhost:5671/}
export CONVEYOR_TLS_DIR=${CONVEYOR_TLS_DIR:-${TMPDIR:-/tmp}/conveyor-tls}
export AWS_ACCESS_KEY_ID=AKIDEXAMPLE
export AWS_SECRET_ACCESS_KEY='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
export AWS_REGION=us-east-1
unset AWS_SESSION_TOKEN AWS_PROFILE AWS_ENDPOINT_URL AWS_ENDPOINT_URL_SQS || true
export CONVEYOR_SQS_ENDPOINT=http://127.0.0.1:4566
# LocalStack's STS (scripts/localstack-start.sh starts it with SQS): the web identity and assume-role tests get role
# credentials there, then sign SQS calls with them through the SigV4 proxy below.
export CONVEYOR_STS_ENDPOINT=http://127.0.0.1:4566
unset AWS_ENDPOINT_URL_STS AWS_WEB_IDENTITY_TOKEN_FILE AWS_ROLE_ARN || true
# LocalStack also answers HTTPS on its port, with a self-signed certificate for localhost: its certificate is the CA
# bundle of the SQS-over-HTTPS tests (which reach it as localhost, the name the certificate carries).
mkdir -p "$CONVEYOR_TLS_DIR"
if ! openssl s_client -connect 127.0.0.1:4566 -servername localhost </dev/null 2>/dev/null | openssl x509 >"$CONVEYOR_TLS_DIR/localstack.pem" 2>/dev/null; then
  echo "error: could not read LocalStack's HTTPS certificate on 127.0.0.1:4566" >&2
  exit 1
fi
export CONVEYOR_SQS_HTTPS_ENDPOINT=https://localhost:4566
export CONVEYOR_SQS_CA_BUNDLE=$CONVEYOR_TLS_DIR/localstack.pem

sigv4_log=""
if [ -n "${CONVEYOR_SIGV4_PROXY:-}" ]; then
  sigv4_log=$(mktemp /tmp/conveyor-sigv4.XXXXXX.log)
  if (exec 3<>/dev/tcp/127.0.0.1/4567) 2>/dev/null; then
    echo "error: 127.0.0.1:4567 is already taken (a SigV4 proxy left by an earlier run?); the SQS tests would not" \
      "go through this run's proxy. Stop what listens there (e.g. pkill -f sigv4_proxy.py) and run again." >&2
    exit 1
  fi
  python3 "$CONVEYOR_SIGV4_PROXY" --listen 127.0.0.1:4567 --upstream http://127.0.0.1:4566 \
    --key "$AWS_ACCESS_KEY_ID" --secret "$AWS_SECRET_ACCESS_KEY" --log "$sigv4_log" >/dev/null 2>&1 &
  proxy_pid=$!
  for _ in $(seq 1 50); do (exec 3<>/dev/tcp/127.0.0.1/4567) 2>/dev/null && break; sleep 0.1; done
  kill -0 "$proxy_pid" 2>/dev/null || { echo "error: the SigV4 proxy ($CONVEYOR_SIGV4_PROXY) did not start" >&2; exit 1; }
  export CONVEYOR_SQS_ENDPOINT=http://127.0.0.1:4567
  export CONVEYOR_SQS_VERIFIES_SIGNATURES=1   # enables the wrong-credentials test, which the proxy must reject
  echo "== SQS tests go through the SigV4-checking proxy (log: $sigv4_log)"
fi

results=${CONVEYOR_TEST_RESULTS:-$root/.build/test-results}
rm -rf "$results"
mkdir -p "$results"
report=(--log "$results/main.log")
[ "${CI:-}" = true ] && report+=(--refuse-skips)
status=0
if [ $# -gt 0 ]; then
  echo "== swift test $*"
  swift test "$@" --xunit-output "$results/main.xml" 2>&1 | tee "$results/main.log" || status=${PIPESTATUS[0]}
else
  # Two passes: the fault-injection suite restarts brokers and kills workers, so it runs on its own after the rest.
  echo "== swift test (everything but the reliability suite)"
  swift test --skip ConveyorReliabilityTests --xunit-output "$results/main.xml" 2>&1 | tee "$results/main.log" || status=${PIPESTATUS[0]}
  if [ "$status" = 0 ]; then
    echo "== reliability suite (faults, bad input, fuzzing)"
    scripts/reliability-test.sh --skip-build --xunit-output "$results/reliability.xml" 2>&1 | tee "$results/reliability.log" \
      || status=${PIPESTATUS[0]}
    report+=(--log "$results/reliability.log")
  fi
  for target in ConveyorTests ConveyorSQSTests ConveyorRabbitMQTests ConveyorCLITests ConveyorReliabilityTests; do
    report+=(--require-target "$target")
  done
fi

if [ -n "$sigv4_log" ]; then
  ok=$(grep -c '^OK' "$sigv4_log" || true)
  # The wrong-credentials test signs with the access key AKIDCONVEYORBADKEY on purpose; every other request must pass.
  expected=$(grep '^REJECT' "$sigv4_log" | grep -c 'AKIDCONVEYORBADKEY' || true)
  rejected=$(grep '^REJECT' "$sigv4_log" | grep -vc 'AKIDCONVEYORBADKEY' || true)
  echo "== SigV4 proxy: $ok requests accepted, $rejected rejected ($expected deliberately bad-credential requests rejected as expected)"
  if [ "$rejected" != 0 ]; then grep '^REJECT' "$sigv4_log" | grep -v 'AKIDCONVEYORBADKEY' | head -5; exit 1; fi
  if [ "$ok" = 0 ]; then echo "no SQS request went through the SigV4 proxy"; exit 1; fi
fi

echo "== test report (scripts/test-report.py)"
python3 scripts/test-report.py "${report[@]}" "$results"/*-swift-testing.xml || { [ "$status" != 0 ] || status=1; }
exit "$status"
