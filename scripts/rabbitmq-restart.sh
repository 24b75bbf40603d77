#!/usr/bin/env bash
# Restarts the RabbitMQ application of the local node (drops every client connection; durable queues and
# persistent messages survive). `--full` stops and starts the whole node instead.
set -euo pipefail
export RABBITMQ_NODENAME="${RABBITMQ_NODENAME:-rabbit@localhost}"
export ERL_EPMD_ADDRESS=127.0.0.1
if [ "${1:-}" = "--full" ]; then
    "$(dirname "$0")/rabbitmq-stop.sh"
    exec "$(dirname "$0")/rabbitmq-start.sh"
fi
rabbitmqctl -q stop_app
rabbitmqctl -q start_app
rabbitmqctl -q await_startup --timeout 60
echo "rabbitmq: application restarted"
