#!/usr/bin/env bash
# Starts LocalStack (scripts/localstack-start.sh) and, when given the path of a SigV4-checking proxy
# (argument 1 or SIGV4_PROXY), that proxy in front of it; then prints the exports for the SQS integration tests:
#   eval "$(scripts/sqs-test-env.sh ../shared/tools/sigv4_proxy.py)" && swift test --filter ConveyorSQSTests
# Without a proxy the tests talk to LocalStack directly (which does not check signatures).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
proxy=${1:-${SIGV4_PROXY:-}}
port=${LOCALSTACK_PORT:-4566}
proxy_port=${SIGV4_PROXY_PORT:-4567}
key=AKIDEXAMPLE
secret='wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY'
log=${SIGV4_LOG:-/tmp/sigv4.log}
"$root/scripts/localstack-start.sh" >&2
endpoint="http://127.0.0.1:$port"
verifies=0
if [ -n "$proxy" ]; then
  if ! curl -s -m 2 -o /dev/null "http://127.0.0.1:$proxy_port/"; then
    nohup python3 "$proxy" --listen "127.0.0.1:$proxy_port" --upstream "$endpoint" --key "$key" --secret "$secret" \
      --log "$log" >"/tmp/sigv4-proxy-$proxy_port.out" 2>&1 &
    echo $! >"/tmp/sigv4-proxy-$proxy_port.pid"
    for _ in $(seq 1 50); do curl -s -m 1 -o /dev/null "http://127.0.0.1:$proxy_port/" && break; sleep 0.2; done
  fi
  endpoint="http://127.0.0.1:$proxy_port"
  verifies=1
  echo "SigV4 proxy on $endpoint, log $log (count rejections: grep -c ^REJECT $log)" >&2
fi
cat <<EOT
export CONVEYOR_SQS_ENDPOINT=$endpoint
export CONVEYOR_SQS_VERIFIES_SIGNATURES=$verifies
export AWS_ACCESS_KEY_ID=$key
export AWS_SECRET_ACCESS_KEY='$secret'
export AWS_REGION=us-east-1
EOT
