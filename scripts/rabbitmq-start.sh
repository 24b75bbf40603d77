#!/usr/bin/env bash
# Starts a local RabbitMQ node on 127.0.0.1:5672 without systemd. Idempotent: does nothing if it already runs.
# Env: RABBITMQ_PORT (5672), RABBITMQ_DATA_DIR (${TMPDIR:-/tmp}/conveyor-rabbitmq).
set -euo pipefail
PORT="${RABBITMQ_PORT:-5672}"
DATA_DIR="${RABBITMQ_DATA_DIR:-${TMPDIR:-/tmp}/conveyor-rabbitmq}"
export RABBITMQ_NODENAME="${RABBITMQ_NODENAME:-rabbit@localhost}"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export RABBITMQ_NODE_PORT="$PORT"
export ERL_EPMD_ADDRESS=127.0.0.1
# The Erlang distribution port (node-to-node and rabbitmqctl) on loopback only, like the AMQP listener.
export RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}"
mkdir -p "$DATA_DIR"
CONF="$DATA_DIR/rabbitmq.conf"
cat >"$CONF" <<CONF
listeners.tcp.default = 127.0.0.1:$PORT
loopback_users.guest = true
CONF
export RABBITMQ_CONFIG_FILE="$CONF"

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

if port_open && rabbitmqctl -q await_startup --timeout 5 >/dev/null 2>&1; then
    echo "rabbitmq: already running on 127.0.0.1:$PORT"
    exit 0
fi

rabbitmq-server -detached
for _ in $(seq 1 120); do
    port_open && break
    sleep 0.5
done
port_open || { echo "rabbitmq: port $PORT did not open" >&2; exit 1; }
rabbitmqctl -q await_startup --timeout 60
echo "rabbitmq: running on 127.0.0.1:$PORT (node $RABBITMQ_NODENAME)"
