#!/usr/bin/env bash
# Creates the development queues: `default`, its dead-letter queue `default-dlq`, and a redrive policy
# (maxReceiveCount 5). Runs as a LocalStack ready hook (docker compose mounts this folder) or by hand.
# Uses plain curl with the SQS JSON protocol (LocalStack does not check signatures), so neither awslocal nor the
# AWS CLI is needed.
set -euo pipefail
endpoint=${LOCALSTACK_ENDPOINT:-http://127.0.0.1:4566}
queue=${CONVEYOR_QUEUE:-default}
sqs() {
  curl -sf -X POST "$endpoint/" \
    -H 'Content-Type: application/x-amz-json-1.0' -H "X-Amz-Target: AmazonSQS.$1" \
    -H 'Authorization: AWS4-HMAC-SHA256 Credential=test/20240101/us-east-1/sqs/aws4_request, SignedHeaders=host, Signature=0' \
    -d "$2"
}
dlq_url=$(sqs CreateQueue "{\"QueueName\":\"$queue-dlq\"}" | sed -n 's/.*"QueueUrl": *"\([^"]*\)".*/\1/p')
dlq_arn=$(sqs GetQueueAttributes "{\"QueueUrl\":\"$dlq_url\",\"AttributeNames\":[\"QueueArn\"]}" | sed -n 's/.*"QueueArn": *"\([^"]*\)".*/\1/p')
policy="{\\\"deadLetterTargetArn\\\":\\\"$dlq_arn\\\",\\\"maxReceiveCount\\\":\\\"5\\\"}"
sqs CreateQueue "{\"QueueName\":\"$queue\",\"Attributes\":{\"RedrivePolicy\":\"$policy\"}}" >/dev/null
echo "created $queue and $queue-dlq (redrive after 5 receives) on $endpoint"
