import Conveyor
import Foundation

extension SQSQueueProvider {
    // MARK: - Receive

    /// Long-polls `queue` (`WaitTimeSeconds` = `wait` rounded up, at most 20) for up to `max` (≤ 10) messages.
    /// Cancelling the task aborts the poll and throws `CancellationError`.
    public func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        try await withQueue(queue) { info in
            let messages = try await receiveRaw(url: info.url, max: max, wait: wait, visibility: configuration.visibilityTimeout)
            return messages.map { decode($0, queue: queue) }
        }
    }

    func receiveRaw(url: String, max: Int, wait: Duration, visibility: Duration?) async throws -> [SQSAPI.Message] {
        let waitSeconds = Swift.min(20, Self.seconds(wait))
        let request = SQSAPI.ReceiveMessage(
            queueURL: url,
            maxNumberOfMessages: Swift.max(1, Swift.min(10, max)),
            waitTimeSeconds: waitSeconds,
            visibilityTimeout: visibility.map { Swift.min(Self.seconds($0), 43_200) }
        )
        return try await client.call(request, extraTimeout: .seconds(waitSeconds))
    }

    func decode(_ message: SQSAPI.Message, queue: String) -> ReceivedMessage {
        let body = Array(message.body.utf8)
        // Checked: an absurd count becomes ``maximumAttempt`` (dead-lettered by the worker), a bad timestamp nil.
        let receiveCount = Self.receiveCount(message.attributes["ApproximateReceiveCount"])
        let sent = Self.brokerTimestamp(message.attributes["SentTimestamp"])
        let envelope: Result<Envelope, ConveyorError>
        do {
            envelope = .success(try EnvelopeCodec.decode(body))
        } catch {
            envelope = .failure(error)
        }
        let offset = (try? envelope.get())?.attemptOffset ?? 0
        return ReceivedMessage(
            queue: queue,
            receipt: Receipt(message.receiptHandle),
            attempt: Self.attempt(receiveCount: receiveCount, offset: offset),
            envelope: envelope,
            rawBody: envelope.isSuccess ? nil : body,
            enqueuedAt: sent,
            brokerTraceContext: Self.traceContext(of: message)
        )
    }

    /// The W3C trace context (`traceparent`, `tracestate`) carried in a received message's String message
    /// attributes, as this provider sends them and as other producers may set them.
    static func traceContext(of message: SQSAPI.Message) -> [String: String] {
        guard !message.messageAttributes.isEmpty else { return [:] }
        var context: [String: String] = [:]
        for key in ["traceparent", "tracestate"] {
            if let value = message.stringAttribute(key), !value.isEmpty {
                context[key] = value
            }
        }
        return context
    }

    // MARK: - Settle

    /// Deletes messages with `DeleteMessageBatch` in chunks of 10 per queue, up to
    /// ``Configuration/maxConcurrentBatches`` chunks in flight (`DeleteMessage` for one). Receipts that are no longer
    /// valid are ignored; other failed entries are retried. Every chunk runs to its end even when another fails; then
    /// one error counts the messages that could not be deleted and those that may or may not have been.
    public func acknowledge(_ messages: [ReceivedMessage]) async throws {
        guard !messages.isEmpty else { return }
        let byQueue = Dictionary(grouping: messages, by: \.queue)
        for (queue, group) in byQueue {
            try await withQueue(queue) { info in
                try await deleteMessages(group.map(\.receiptHandle), url: info.url, queue: queue)
            }
        }
    }

    func deleteMessages(_ handles: [String], url: String, queue: String) async throws {
        if handles.count == 1 {
            do {
                _ = try await client.call(SQSAPI.DeleteMessage(queueURL: url, receiptHandle: handles[0]))
            } catch let error as ConveyorError where error.code == .invalidReceipt {
                logger.debug("acknowledge ignored an invalid receipt", metadata: ["conveyor.queue": "\(queue)"])
            }
            return
        }
        // Chunks of 10, several in flight (``Configuration/maxConcurrentBatches``); every chunk runs, then one error.
        _ = try await receiptBatch(handles: handles, queue: queue, verb: "deleted") { entries in
            SQSAPI.DeleteMessageBatch(queueURL: url, entries: entries)
        } isStale: { failure in
            failure.code.contains("ReceiptHandleIsInvalid") || failure.code.contains("InvalidReceiptHandle")
        }
    }

    /// With `retryAfter`: `ChangeMessageVisibility` to that delay (at most 12 h), so the message returns then with a
    /// higher receive count. Without: a copy goes to the dead-letter queue with the reason, then the original is
    /// deleted. The copy is fitted to the dead-letter queue's size limit: the reason text is shortened first, then the
    /// added envelope headers are dropped (the reason stays in the message attributes); a copy that cannot fit throws
    /// ``ConveyorError/Code/messageTooLarge`` and the original stays in its queue.
    public func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
        if let retryAfter {
            try await withQueue(message.queue) { info in
                do {
                    _ = try await client.call(SQSAPI.ChangeMessageVisibility(
                        queueURL: info.url, receiptHandle: message.receiptHandle,
                        visibilityTimeout: Swift.min(Self.seconds(retryAfter), 43_200)
                    ))
                } catch let error as ConveyorError where error.code == .invalidReceipt {
                    logger.debug("fail ignored an invalid receipt", metadata: ["conveyor.queue": "\(message.queue)"])
                }
            }
            return
        }
        try await deadLetter(message, reason: reason)
    }

    func deadLetter(_ message: ReceivedMessage, reason: FailureReason) async throws {
        let dlqName = deadLetterQueue(of: message.queue)
        let dlq: QueueInfo
        do {
            dlq = try await resolve(dlqName)
        } catch let error as ConveyorError where error.code == .queueNotFound {
            throw ConveyorError(
                .queueNotFound,
                "dead-letter queue \(dlqName) of \(message.queue) does not exist; create it (createQueue or localstack/init) so failed jobs are kept"
            )
        }
        let limit = try await maximumMessageBytes(of: dlq, key: dlqName)
        let copy = try Self.deadLetterCopy(of: message, reason: reason, limit: limit)
        let jobID = (try? message.envelope.get())?.id ?? JobID.random()
        if copy.fit != .complete {
            logger.info("dead-letter copy shortened to fit the dead-letter queue's size limit", metadata: [
                "conveyor.queue": "\(message.queue)", "conveyor.dead_letter_queue": "\(dlqName)", "job.id": "\(jobID)",
                "conveyor.dead_letter_fit": "\(copy.fit.rawValue)", "sqs.maximum_message_bytes": "\(limit)",
            ])
        }
        var fields = SQSAPI.MessageFields(body: copy.body, attributes: copy.attributes)
        if dlq.fifo {
            fields.groupID = "dead-letter"
            fields.deduplicationID = Self.deduplicationID("\(jobID)-\(message.attempt)-\(UUID().uuidString)")
        }
        _ = try await client.call(SQSAPI.SendMessage(queueURL: dlq.url, message: fields), queue: dlqName)
        let source = try await resolve(message.queue)
        try await deleteMessages([message.receiptHandle], url: source.url, queue: message.queue)
    }

    // MARK: - Stats

    /// Counts from `GetQueueAttributes` (approximate, as SQS reports them; a count that is not a number or negative
    /// counts 0, one too large `Int.max`), plus the dead-letter queue's count when it exists.
    public func stats(of queue: String) async throws -> QueueStats {
        let attributes = try await withQueue(queue) { info in
            try await queueAttributes(info.url, [
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed",
            ])
        }
        var stats = QueueStats(
            ready: Self.count(attributes["ApproximateNumberOfMessages"]),
            inFlight: Self.count(attributes["ApproximateNumberOfMessagesNotVisible"]),
            delayed: Self.count(attributes["ApproximateNumberOfMessagesDelayed"])
        )
        if let dlq = try? await resolve(deadLetterQueue(of: queue)),
            let dlqAttributes = try? await queueAttributes(dlq.url, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        {
            stats.deadLettered = Self.saturatingSum(
                Self.count(dlqAttributes["ApproximateNumberOfMessages"]), Self.count(dlqAttributes["ApproximateNumberOfMessagesNotVisible"])
            )
        }
        return stats
    }

    func queueAttributes(_ url: String, _ names: [String]) async throws -> [String: String] {
        try await client.call(SQSAPI.GetQueueAttributes(queueURL: url, names: names))
    }
}

extension Result {  // file-local helper
    fileprivate var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
