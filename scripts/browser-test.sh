#!/usr/bin/env bash
# The Hummingbird example (Examples/HummingbirdApp) and `conveyor dashboard` in a real browser, against RabbitMQ:
# headless Chromium, driven by Selenium. scripts/browser_report.py starts a report job on the example's page and sees
# the progress bar, fed by server-sent events, reach 100% and the job's result appear; scripts/browser_dashboard.py
# follows a job's progress on the dashboard, checks that markup in a dead letter shows as text, and purges.
# Needs chromium and chromium-driver (scripts/install-deps.sh --tests installs them) and python3; starts RabbitMQ
# (scripts/rabbitmq-start.sh, stopped again afterwards unless CONVEYOR_KEEP_BROKERS=1) when it does not run, builds
# the example, and installs Selenium in .build/browser-venv.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in /usr/bin/chromium /usr/bin/chromedriver; do
  [ -x "$tool" ] || { echo "error: $tool is missing: scripts/install-deps.sh --tests installs chromium and chromium-driver" >&2; exit 1; }
done
started_rabbitmq=0
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  scripts/rabbitmq-start.sh >/dev/null
  started_rabbitmq=1
fi
amqp=${CONVEYOR_AMQP_URL:-${AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}}
swift build --package-path Examples/HummingbirdApp 2>&1 | grep -E "error|Compiling HummingbirdApp|Build complete" || true
app="$(swift build --package-path Examples/HummingbirdApp --show-bin-path)/HummingbirdApp"
venv=.build/browser-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -c "import selenium" 2>/dev/null || "$venv/bin/python" -m pip install -q --disable-pip-version-check selenium
port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
log=$(mktemp /tmp/conveyor-browser.XXXXXX.log)
CONVEYOR_PROVIDER=rabbitmq AMQP_URL="$amqp" PORT="$port" "$app" >"$log" 2>&1 &
pid=$!
dashboard_pids=()
cleanup() {
  kill "$pid" "${dashboard_pids[@]}" 2>/dev/null || true
  wait "$pid" "${dashboard_pids[@]}" 2>/dev/null || true
  rm -f "$log" "${dashboard_log:-}"
  if [ "$started_rabbitmq" = 1 ] && [ "${CONVEYOR_KEEP_BROKERS:-0}" != 1 ]; then scripts/rabbitmq-stop.sh >/dev/null 2>&1 || true; fi
  if [ "${started_localstack:-0}" = 1 ] && [ "${CONVEYOR_KEEP_BROKERS:-0}" != 1 ]; then scripts/localstack-stop.sh >/dev/null 2>&1 || true; fi
}
trap cleanup EXIT
for _ in $(seq 1 200); do
  (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
  kill -0 "$pid" 2>/dev/null || { echo "the example app exited:"; cat "$log"; exit 1; }
  sleep 0.1
done
if ! "$venv/bin/python" scripts/browser_report.py "http://127.0.0.1:$port/"; then
  echo "== the example app's log"; cat "$log"; exit 1
fi
echo "browser test: the example's page passed"

# The dashboard, with a token, on a queue of its own (the script starts and stops the worker): on RabbitMQ, then on
# SQS (LocalStack, started here when it does not run). Screenshots (CONVEYOR_SCREENSHOTS) come from the RabbitMQ run.
swift build --product conveyor 2>&1 | grep -E "error|Build complete" || true
conveyor="$(swift build --show-bin-path)/conveyor"
started_localstack=0
dashboard_run() { # name, screenshots dir or "", broker arguments...
  local name=$1 shots=$2; shift 2
  local queue="browser-dash-$RANDOM$RANDOM" token="browser-$RANDOM$RANDOM$RANDOM"
  local port; port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  dashboard_log=$(mktemp /tmp/conveyor-dashboard.XXXXXX.log)
  "$conveyor" queue create "$queue" "$@" >/dev/null
  CONVEYOR_DASHBOARD_TOKEN="$token" "$conveyor" dashboard "$@" --queue "$queue" --port "$port" >>"$dashboard_log" 2>&1 &
  dashboard_pids+=($!)
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
  if ! CONVEYOR_SCREENSHOTS="$shots" "$venv/bin/python" scripts/browser_dashboard.py "http://127.0.0.1:$port/" "$queue" "$conveyor" "$token" "$@"; then
    echo "== the dashboard's log ($name)"; cat "$dashboard_log"; exit 1
  fi
  "$conveyor" queue delete "$queue" --yes "$@" >/dev/null || true
  echo "browser test: the dashboard on $name passed"
}
dashboard_run rabbitmq "${CONVEYOR_SCREENSHOTS:-}" --provider rabbitmq --url "$amqp"
sqs_endpoint=${CONVEYOR_SQS_ENDPOINT:-http://127.0.0.1:4566}
if ! (exec 3<>/dev/tcp/127.0.0.1/4566) 2>/dev/null; then
  scripts/localstack-start.sh >/dev/null
  started_localstack=1
fi
# LocalStack accepts any credentials; these are AWS's documentation example keys.
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-AKIDEXAMPLE}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY}
dashboard_run sqs "" --provider sqs --endpoint "$sqs_endpoint" --region "${AWS_REGION:-us-east-1}"
echo "browser test: passed (Chromium $(/usr/bin/chromium --version 2>/dev/null | awk '{print $2}'))"
