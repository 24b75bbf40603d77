#!/usr/bin/env bash
# Stops the LocalStack started by localstack-start.sh on the same port.
port=${LOCALSTACK_PORT:-4566}; state=${LOCALSTACK_STATE:-/tmp/localstack-$port}
if [ -f "$state/localstack.pid" ]; then kill "$(cat "$state/localstack.pid")" 2>/dev/null || true; fi
rm -f "$state/localstack.pid"; exit 0
