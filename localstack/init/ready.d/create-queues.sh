#!/usr/bin/env bash
# Creates the development queues on LocalStack's SQS: for each name in CONVEYOR_QUEUES (default: "default"), the
# queue, its dead-letter queue `<name>-dlq` (Conveyor's default suffix), and a redrive policy (maxReceiveCount 5, a
# safety net: Conveyor's worker dead-letters with a reason after the task's max attempts, 3 by default).
# Queues long-poll by default (ReceiveMessageWaitTimeSeconds 20) with a 30 s visibility timeout.
#
# Runs as a LocalStack ready hook (docker compose mounts this folder at /etc/localstack/init/ready.d) or by hand
# against any endpoint: LOCALSTACK_ENDPOINT=http://127.0.0.1:4566 localstack/init/ready.d/create-queues.sh
# Plain curl with the SQS JSON protocol (LocalStack does not check signatures): neither awslocal nor the AWS CLI is
# needed. Idempotent: CreateQueue with the same attributes returns the existing queue.
set -euo pipefail
endpoint=${LOCALSTACK_ENDPOINT:-http://127.0.0.1:4566}
queues=${CONVEYOR_QUEUES:-${CONVEYOR_QUEUE:-default}}
max_receive_count=${CONVEYOR_MAX_RECEIVE_COUNT:-5}

sqs() {
  # -S: a failed request says why (on stderr); -f: and fails the script (set -e, pipefail).
  curl -sSf -X POST "$endpoint/" \
    -H 'Content-Type: application/x-amz-json-1.0' -H "X-Amz-Target: AmazonSQS.$1" \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0' \
    -d "$2"
}

for queue in $queues; do
  attributes='"VisibilityTimeout":"30","ReceiveMessageWaitTimeSeconds":"20","MessageRetentionPeriod":"1209600"'
  dlq_url=$(sqs CreateQueue "{\"QueueName\":\"$queue-dlq\",\"Attributes\":{$attributes}}" \
    | sed -n 's/.*"QueueUrl": *"\([^"]*\)".*/\1/p')
  [ -n "$dlq_url" ] || { echo "create-queues.sh: CreateQueue $queue-dlq returned no QueueUrl" >&2; exit 1; }
  dlq_arn=$(sqs GetQueueAttributes "{\"QueueUrl\":\"$dlq_url\",\"AttributeNames\":[\"QueueArn\"]}" \
    | sed -n 's/.*"QueueArn": *"\([^"]*\)".*/\1/p')
  [ -n "$dlq_arn" ] || { echo "create-queues.sh: GetQueueAttributes of $queue-dlq returned no QueueArn" >&2; exit 1; }
  policy="{\\\"deadLetterTargetArn\\\":\\\"$dlq_arn\\\",\\\"maxReceiveCount\\\":\\\"$max_receive_count\\\"}"
  sqs CreateQueue "{\"QueueName\":\"$queue\",\"Attributes\":{$attributes,\"RedrivePolicy\":\"$policy\"}}" >/dev/null
  echo "created $queue and $queue-dlq (redrive after $max_receive_count receives) on $endpoint"
done
