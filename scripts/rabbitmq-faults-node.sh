#!/usr/bin/env bash
# A second, private RabbitMQ node for fault-injection tests (broker restarts, cut connections), so they never
# disturb the shared node on 5672 that other tests use.
#
#   scripts/rabbitmq-faults-node.sh start|stop|kill|stop-app|start-app|close-connections|status
#
# kill: SIGKILL of the node's Erlang VM (no shutdown; as in a crash or an OOM kill), then waits until its port
# closed. start brings it back with the data it had on disk.
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
# The Erlang distribution port (node-to-node and rabbitmqctl) on loopback only, like the AMQP listener.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
mkdir -p "$RABBITMQ_MNESIA_BASE" "$RABBITMQ_LOG_BASE"
# As root, rabbitmq-server drops to the rabbitmq user, which must own the data and log directories.
if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then chown -R rabbitmq:rabbitmq "$BASE"; fi
ctl() { rabbitmqctl -q -n "$RABBITMQ_NODENAME" "$@"; }
case "${1:-start}" in
  start)
    # rabbitmq-start.sh waits 60 s for the port; a loaded machine can need longer.
    # The detached server inherits the descriptors of whoever runs it: a caller waiting for the end of this
    # script's output (a pipe) or of its descriptors (Foundation's Process) would wait for the server to exit. So it
    # starts with descriptors 0-2 on files and every other descriptor closed; its output is shown afterwards.
    started=0
    (
      for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null; done
      exec ./rabbitmq-start.sh
    ) >"$BASE/start.log" 2>&1 </dev/null || started=$?
    cat "$BASE/start.log"
    [ "$started" = 0 ] || {
      for _ in $(seq 1 240); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break; sleep 0.5; done
      ctl await_startup --timeout 60
      echo "rabbitmq faults node: running on 127.0.0.1:$PORT"
    } ;;
  stop) ctl shutdown 2>/dev/null && echo "rabbitmq faults node: stopped" || echo "rabbitmq faults node: not running" ;;
  kill)
    pid="$(cat "$RABBITMQ_PID_FILE" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || { echo "rabbitmq faults node: not running (no live pid in $RABBITMQ_PID_FILE)" >&2; exit 1; }
    kill -KILL "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    for _ in $(seq 1 120); do (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null || break; sleep 0.5; done
    echo "rabbitmq faults node: killed (pid $pid)" ;;
  stop-app) ctl stop_app ;;
  start-app) ctl start_app && ctl await_startup --timeout 60 ;;
  close-connections) ctl close_all_connections "conveyor fault injection" ;;
  status) ctl await_startup --timeout 5 ;;
  *) echo "usage: $0 start|stop|kill|stop-app|start-app|close-connections|status" >&2; exit 2 ;;
esac
