#!/usr/bin/env bash
# A local three-node RabbitMQ cluster for the cluster tests (node loss, failover), beside the shared node on 5672:
# nodes rabbit-cluster-1..3@localhost on 127.0.0.1:<base>..<base+2>, each with its own data and log folders, the
# Erlang distribution on loopback, joined with `rabbitmqctl join_cluster` (the shared Erlang cookie of the rabbitmq
# user lets them talk).
#
#   scripts/rabbitmq-cluster.sh start|stop|urls|status
#   scripts/rabbitmq-cluster.sh stop-node N|start-node N|kill-node N|stop-app N|start-app N
#   scripts/rabbitmq-cluster.sh leader QUEUE          # the node number (1-3) leading a quorum queue
#
# start is idempotent (starts what is down, joins what is not joined). kill-node: SIGKILL of the node's Erlang VM.
# Env: CONVEYOR_CLUSTER_BASE_PORT (5681). Data under ${TMPDIR:-/tmp}/conveyor-rabbitmq-cluster-<port>.
set -euo pipefail
cd "$(dirname "$0")"
BASE_PORT="${CONVEYOR_CLUSTER_BASE_PORT:-5681}"
export ERL_EPMD_ADDRESS=127.0.0.1

port() { echo $((BASE_PORT + $1 - 1)); }
name() { echo "rabbit-cluster-$1@localhost"; }
base() { echo "${TMPDIR:-/tmp}/conveyor-rabbitmq-cluster-$(port "$1")"; }
ctl() { local n=$1; shift; rabbitmqctl -q -n "$(name "$n")" "$@"; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$(port "$1")") 2>/dev/null; }

start_node() {
    local n=$1 dir
    dir=$(base "$n")
    port_open "$n" && ctl "$n" await_startup --timeout 5 >/dev/null 2>&1 && return 0
    mkdir -p "$dir/mnesia" "$dir/log"
    if [ "$(id -u)" = 0 ] && id rabbitmq >/dev/null 2>&1; then chown -R rabbitmq:rabbitmq "$dir"; fi
    # The detached server inherits the descriptors of whoever runs it: start it with 0-2 on files and every other
    # descriptor closed, so that a caller waiting for this script's output does not wait for the server.
    (
        for fd in /proc/$BASHPID/fd/*; do fd=${fd##*/}; [ "$fd" -gt 2 ] 2>/dev/null && eval "exec $fd>&-" 2>/dev/null; done
        export RABBITMQ_NODENAME RABBITMQ_PORT RABBITMQ_DATA_DIR RABBITMQ_MNESIA_BASE RABBITMQ_LOG_BASE RABBITMQ_PID_FILE RABBITMQ_DIST_PORT
        RABBITMQ_NODENAME=$(name "$n") RABBITMQ_PORT=$(port "$n") RABBITMQ_DATA_DIR=$dir RABBITMQ_MNESIA_BASE=$dir/mnesia \
            RABBITMQ_LOG_BASE=$dir/log RABBITMQ_PID_FILE=$dir/rabbit.pid RABBITMQ_DIST_PORT=$(($(port "$n") + 20000)) \
            exec ./rabbitmq-start.sh
    ) >"$dir/start.log" 2>&1 </dev/null || { cat "$dir/start.log"; return 1; }
}

joined() { ctl 1 cluster_status 2>/dev/null | grep -q "$(name "$1")"; }

case "${1:-start}" in
  start)
    for n in 1 2 3; do start_node "$n" & done
    wait
    for n in 1 2 3; do port_open "$n" || { echo "rabbitmq cluster: node $n did not start" >&2; cat "$(base "$n")/start.log" >&2; exit 1; }; done
    for n in 2 3; do
        if ! ctl "$n" cluster_status 2>/dev/null | grep -q "$(name 1)"; then
            ctl "$n" stop_app >/dev/null
            ctl "$n" reset >/dev/null
            ctl "$n" join_cluster "$(name 1)" >/dev/null 2>&1
            ctl "$n" start_app >/dev/null 2>&1
        fi
    done
    for n in 1 2 3; do ctl "$n" await_startup --timeout 60; done
    echo "rabbitmq cluster: nodes on 127.0.0.1:$(port 1),$(port 2),$(port 3)" ;;
  stop) for n in 1 2 3; do ctl "$n" shutdown 2>/dev/null || true; done; echo "rabbitmq cluster: stopped" ;;
  urls) echo "amqp://guest:guest@127.0.0.1:$(port 1)/,amqp://guest:guest@127.0.0.1:$(port 2)/,amqp://guest:guest@127.0.0.1:$(port 3)/" ;;
  status) for n in 1 2 3; do ctl "$n" await_startup --timeout 5; done; ctl 1 cluster_status ;;
  stop-node) ctl "$2" shutdown ;;
  start-node) start_node "$2"; ctl "$2" await_startup --timeout 60 ;;
  stop-app) ctl "$2" stop_app ;;
  start-app) ctl "$2" start_app && ctl "$2" await_startup --timeout 60 ;;
  kill-node)
    pid="$(cat "$(base "$2")/rabbit.pid" 2>/dev/null || true)"
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || { echo "rabbitmq cluster: node $2 not running" >&2; exit 1; }
    kill -KILL "$pid"
    for _ in $(seq 1 120); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    for _ in $(seq 1 120); do port_open "$2" || break; sleep 0.5; done
    echo "rabbitmq cluster: node $2 killed (pid $pid)" ;;
  leader)
    # The leader of a quorum queue, as a node number, asked of any running node.
    for n in 1 2 3; do
        line=$(ctl "$n" list_queues name leader --no-table-headers 2>/dev/null | awk -v q="$2" '$1 == q { print $2 }') || continue
        [ -n "$line" ] || continue
        for m in 1 2 3; do [ "$line" = "$(name "$m")" ] && { echo "$m"; exit 0; }; done
    done
    echo "rabbitmq cluster: no leader found for $2" >&2; exit 1 ;;
  *) echo "usage: $0 start|stop|urls|status|stop-node N|start-node N|kill-node N|stop-app N|start-app N|leader QUEUE" >&2; exit 2 ;;
esac
