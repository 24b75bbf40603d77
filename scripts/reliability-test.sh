#!/usr/bin/env bash
# The reliability pass: fault injection against real brokers and the built `conveyor` binary, plus bounded fuzzing.
# Run it as its own `swift test` invocation, after the main pass (`swift test --skip ConveyorReliabilityTests`), so
# its broker-disrupting cases never overlap the provider tests. Expects the shared RabbitMQ (5672) and LocalStack
# (4566) to be running (scripts/rabbitmq-start.sh, scripts/localstack-start.sh) and the env of scripts/test.sh;
# starts and stops its own private RabbitMQ node on 5673 for broker restarts.
#
#   scripts/reliability-test.sh [extra swift test arguments]
set -euo pipefail
cd "$(dirname "$0")/.."
export CONVEYOR_AMQP_URL=${CONVEYOR_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/}
export CONVEYOR_SQS_ENDPOINT=${CONVEYOR_SQS_ENDPOINT:-http://127.0.0.1:4566}
export AWS_ACCESS_KEY_ID=${AWS_ACCESS_KEY_ID:-AKIDEXAMPLE}
export AWS_SECRET_ACCESS_KEY=${AWS_SECRET_ACCESS_KEY:-wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY}
export AWS_REGION=${AWS_REGION:-us-east-1}
scripts/rabbitmq-faults-node.sh start
trap 'scripts/rabbitmq-faults-node.sh stop >/dev/null 2>&1 || true' EXIT
# `swift test` builds every product first, so the tests find .build/debug/conveyor beside the test bundle.
swift test --filter ConveyorReliabilityTests "$@"
