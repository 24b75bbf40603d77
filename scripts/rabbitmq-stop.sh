#!/usr/bin/env bash
# Stops the local RabbitMQ node started by rabbitmq-start.sh. Does nothing if it is not running.
set -euo pipefail
export RABBITMQ_NODENAME="${RABBITMQ_NODENAME:-rabbit@localhost}"
export ERL_EPMD_ADDRESS=127.0.0.1
if rabbitmqctl -q shutdown 2>/dev/null; then echo "rabbitmq: stopped"; else echo "rabbitmq: not running"; fi
