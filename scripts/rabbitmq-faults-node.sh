#!/usr/bin/env bash
# A second, private RabbitMQ node for fault-injection tests (broker restarts, cut connections), so they never
# disturb the shared node on 5672 that other tests use.
#
#   scripts/rabbitmq-faults-node.sh start|stop|stop-app|start-app|close-connections|status
#
# Env: CONVEYOR_FAULTS_RABBITMQ_PORT (5673). Node rabbit-faults-<port>@localhost; data and logs under
# ${TMPDIR:-/tmp}/conveyor-rabbitmq-faults-<port>.
set -euo pipefail
cd "$(dirname "$0")"
PORT="${CONVEYOR_FAULTS_RABBITMQ_PORT:-5673}"
BASE="${TMPDIR:-/tmp}/conveyor-rabbitmq-faults-$PORT"
export RABBITMQ_NODENAME="rabbit-faults-$PORT@localhost"
export RABBITMQ_PORT="$PORT"
export RABBITMQ_DATA_DIR="$BASE"
export RABBITMQ_MNESIA_BASE="$BASE/mnesia"
export RABBITMQ_LOG_BASE="$BASE/log"
export RABBITMQ_PID_FILE="$BASE/rabbit.pid"
# The Erlang distribution port must differ from the shared node's (default: AMQP port + 20000).
export RABBITMQ_DIST_PORT=$((PORT + 20000))
export ERL_EPMD_ADDRESS=127.0.0.1
mkdir -p "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE"
# As root, rabbitmq-server drops to the rabbitmq user, which must own the data and log directories.
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then chown -R rabbitmq:rabbitmq "$BASE"; fi
ctl() { rabbitmqctl -q -n "$RABBITMQ_NODENAME" "$@"; }
case "${1:-start}" in
  start)
    # rabbitmq-start.sh waits 60 s for the port; a loaded machine can need longer.
    ./rabbitmq-start.sh || {
      for _ in $(seq 1 240); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.5; done
      ctl await_startup --timeout 60
      echo "rabbitmq faults node: running on 127.0.0.1:$PORT"
    } ;;
  stop) ctl shutdown 2>/dev/null && echo "rabbitmq faults node: stopped" || echo "rabbitmq faults node: not running" ;;
  stop-app) ctl stop_app ;;
  start-app) ctl start_app && ctl await_startup --timeout 60 ;;
  close-connections) ctl close_all_connections "conveyor fault injection" ;;
  status) ctl await_startup --timeout 5 ;;
  *) echo "usage: $0 start|stop|stop-app|start-app|close-connections|status" >&2; exit 2 ;;
esac
