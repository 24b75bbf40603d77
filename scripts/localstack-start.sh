#!/usr/bin/env bash
# Starts LocalStack's SQS service without Docker on 127.0.0.1:${LOCALSTACK_PORT:-4566}, then creates the
# development queues (localstack/init/ready.d/create-queues.sh); exits non-zero, with its output, if that fails.
# The first run builds a venv (Python >= 3.12) from the pinned localstack/requirements.txt; later runs reuse it.
# Exits non-zero if LocalStack is not ready within 90 s. Users with Docker can run `docker compose up localstack`.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
req="$root/localstack/requirements.txt"
venv=${LOCALSTACK_VENV:-$HOME/.cache/localstack-venv}
port=${LOCALSTACK_PORT:-4566}
state=${LOCALSTACK_STATE:-/tmp/localstack-$port}
mkdir -p "$state"
# One start at a time per venv: a second start waits here, then finds LocalStack answering (or the venv built)
# instead of removing the venv under the first one. LocalStack itself must not inherit the lock (9>&- below).
mkdir -p "$(dirname "$venv")"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$venv.lock"
  if ! flock -w 600 9; then
    echo "localstack-start.sh: another start has held $venv.lock for 10 minutes; giving up" >&2; exit 1
  fi
fi
if curl -sf -m 2 "http://127.0.0.1:$port/_localstack/health" >/dev/null 2>&1; then
  echo "LocalStack already answering on 127.0.0.1:$port"; exit 0
fi
py=""
for cand in python3.13 python3.12 /root/.pyenv/versions/3.13.0/bin/python3 /root/.pyenv/versions/3.12.1/bin/python3; do
  if command -v "$cand" >/dev/null 2>&1 && "$cand" -c 'import sys; sys.exit(0 if sys.version_info >= (3,12) else 1)' 2>/dev/null; then py=$cand; break; fi
done
[ -n "$py" ] || { echo "localstack-start.sh: need Python >= 3.12 (none found)" >&2; exit 2; }
if [ ! -x "$venv/bin/python" ] || ! cmp -s "$req" "$venv/.requirements"; then
  rm -rf "$venv"
  "$py" -m venv "$venv"
  # An exact, known-good set (newer releases of some dependencies break LocalStack): no resolving.
  "$venv/bin/pip" install -q --disable-pip-version-check --no-deps -r "$req"
  cp "$req" "$venv/.requirements"
fi
# LocalStack's default (twisted) gateway ignores the host of GATEWAY_LISTEN and listens on every interface;
# localstack/run_loopback.py binds it to that host (127.0.0.1), then runs LocalStack unchanged. (The hypercorn
# gateway binds correctly too, but serves SQS at about half the rate.)
# LS_LOG: LocalStack's log level (default info, which logs a line per request; the benchmark runs with warn).
SERVICES=sqs,sts GATEWAY_LISTEN=127.0.0.1:$port LOCALSTACK_HOST=127.0.0.1:$port LS_LOG=${LS_LOG:-info} \
SKIP_SSL_CERT_DOWNLOAD=1 DISABLE_EVENTS=1 DNS_ADDRESS=0 FILESYSTEM_ROOT="$state" \
  nohup "$venv/bin/python" "$root/localstack/run_loopback.py" >"$state/localstack.log" 2>&1 9>&- &
echo $! >"$state/localstack.pid"
for _ in $(seq 1 90); do
  if curl -sf -m 2 "http://127.0.0.1:$port/_localstack/health" | grep -q '"sqs": "\(available\|running\)"'; then
    if ! out=$(LOCALSTACK_ENDPOINT="http://127.0.0.1:$port" "$root/localstack/init/ready.d/create-queues.sh" 2>&1); then
      echo "localstack-start.sh: LocalStack is up but creating the development queues failed:" >&2
      printf '%s\n' "$out" >&2
      echo "(LocalStack keeps running, pid file $state/localstack.pid; log $state/localstack.log)" >&2
      exit 1
    fi
    echo "LocalStack SQS ready on http://127.0.0.1:$port (pid file $state/localstack.pid)"; exit 0
  fi
  sleep 1
done
echo "LocalStack did not become ready; last log lines:" >&2; tail -20 "$state/localstack.log" >&2; exit 1
