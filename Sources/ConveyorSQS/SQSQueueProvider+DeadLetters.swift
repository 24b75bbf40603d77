import Conveyor
import Foundation

extension SQSQueueProvider {
    /// The wait of each receive that drains a dead-letter queue (`WaitTimeSeconds` 1). A long poll asks every SQS
    /// server and returns as soon as it finds messages, so an empty answer means that no message is visible; a short
    /// poll asks only a sample of the servers and can come back empty while messages remain.
    static let drainWait: Duration = .seconds(1)

    /// Receives from the queue at `url` (visibility `visibility`, up to `limit()` ≤ 10 at a time) and hands each
    /// batch to `body`, each message marked new or seen before (by `MessageId`: a message whose visibility ran out
    /// during the drain comes again with a new receipt). Stops when a long poll comes back empty, when a batch holds
    /// only messages seen before (every visible message has been seen), when `limit()` is 0, or when `body` returns
    /// false.
    func drain(
        url: String, visibility: Duration, limit: () -> Int = { 10 },
        _ body: ([(raw: SQSAPI.Message, isNew: Bool)]) async throws -> Bool
    ) async throws {
        var seen = Set<String>()
        while true {
            let want = Swift.min(10, limit())
            guard want > 0 else { return }
            let batch = try await receiveRaw(url: url, max: want, wait: Self.drainWait, visibility: visibility)
            if batch.isEmpty { return }
            let marked = batch.map { raw in
                (raw: raw, isNew: seen.insert(raw.messageID.isEmpty ? raw.receiptHandle : raw.messageID).inserted)
            }
            guard try await body(marked), marked.contains(where: \.isNew) else { return }
        }
    }

    /// Lists up to `limit` messages of the dead-letter queue, oldest first: they are received (long polls, until one
    /// comes back empty) with a 30-second visibility timeout and made visible again at once, so listing leaves them
    /// in place.
    public func deadLetters(of queue: String, limit: Int) async throws -> [DeadLetter] {
        guard limit > 0 else { return [] }
        let dlq = try await withQueue(deadLetterQueue(of: queue)) { $0 }
        var letters: [DeadLetter] = []
        var handles: [String] = []
        do {
            try await drain(url: dlq.url, visibility: .seconds(30), limit: { limit - letters.count }) { batch in
                for (raw, isNew) in batch {
                    let message = decode(raw, queue: dlq.name)
                    handles.append(message.receiptHandle)
                    if isNew { letters.append(Self.deadLetter(from: message, raw: raw)) }
                }
                return true
            }
        } catch {
            try? await makeVisible(handles, url: dlq.url, queue: dlq.name)
            throw error
        }
        try await makeVisible(handles, url: dlq.url, queue: dlq.name)
        letters.sort { ($0.envelope.successValue?.createdAt ?? .distantPast) < ($1.envelope.successValue?.createdAt ?? .distantPast) }
        return Array(letters.prefix(limit))
    }

    static func deadLetter(from message: ReceivedMessage, raw: SQSAPI.Message) -> DeadLetter {
        func attribute(_ name: String) -> String? {
            raw.stringAttribute(name)
        }
        let envelope = message.envelope.successValue
        let code = attribute("conveyor.dead_letter_code") ?? envelope?.headers[Envelope.HeaderKey.deadLetterCode] ?? "max_receive_count"
        let reason = attribute("conveyor.dead_letter_reason") ?? envelope?.headers[Envelope.HeaderKey.deadLetterReason]
            ?? "moved by the queue's redrive policy (maxReceiveCount)"
        let attempts = clampedInteger(
            envelope?.headers[Envelope.HeaderKey.deadLetterAttempt] ?? attribute("conveyor.dead_letter_attempt"), to: 0...maximumAttempt
        ) ?? 0
        return DeadLetter(envelope: message.envelope, rawBody: message.rawBody, reason: FailureReason(code: code, message: reason), attempts: attempts)
    }

    /// Makes the messages of `handles` in `queue` visible again at once (visibility timeout 0).
    func makeVisible(_ handles: [String], url: String, queue: String) async throws {
        guard !handles.isEmpty else { return }
        try await changeVisibility(handles, to: 0, url: url, queue: queue, verb: "made visible again")
    }

    /// Moves dead-lettered messages back to `queue` by receiving them from the dead-letter queue (long polls, until
    /// one comes back empty or every id of `ids` was found), sending a copy with a fresh attempt count (attempt offset
    /// 0, dead-letter headers removed) and deleting them from the dead-letter queue. Messages not selected by `ids`
    /// stay in the dead-letter queue (made visible again at the end).
    ///
    /// When sending copies fails, the dead-letter messages whose copies were sent are deleted, those whose copies
    /// were not sent are made visible again, and the error (with its ``Conveyor/ConveyorError/enqueueReport``) is
    /// rethrown; those whose copies may have been sent stay in the dead-letter queue.
    ///
    /// `StartMessageMoveTask` is not used: it moves messages unchanged (dead-letter headers, attempt offset) and
    /// cannot select messages by job id.
    public func redrive(_ queue: String, ids: Set<JobID>?) async throws -> Int {
        let source = try await resolve(queue)
        let dlq = try await withQueue(deadLetterQueue(of: queue)) { $0 }
        var moved = 0
        var skipped: [String] = []
        var found = Set<JobID>()
        do {
            try await drain(url: dlq.url, visibility: .seconds(60)) { batch in
                var toSend: [(handle: String, message: OutgoingMessage)] = []
                var toDelete: [String] = []
                var rawCopies: [(String, String)] = []
                for (raw, _) in batch {
                    let message = decode(raw, queue: dlq.name)
                    switch message.envelope {
                    case .success(let envelope):
                        if let ids, !ids.contains(envelope.id) {
                            skipped.append(message.receiptHandle)
                            continue
                        }
                        found.insert(envelope.id)
                        toSend.append((message.receiptHandle, OutgoingMessage(envelope: envelope.redriven())))
                    case .failure:
                        // Undecodable bodies can only be redriven all together (they have no id); they go back as-is.
                        if ids != nil {
                            skipped.append(message.receiptHandle)
                        } else {
                            rawCopies.append((message.receiptHandle, raw.body))
                        }
                    }
                }
                if !toSend.isEmpty {
                    do {
                        _ = try await enqueue(toSend.map(\.message), to: queue)
                    } catch let error as ConveyorError {
                        guard let report = error.enqueueReport else { throw error }
                        let sent = Set(report.sent)
                        let sentHandles = toSend.filter { sent.contains($0.message.envelope.id) }.map(\.handle)
                        try? await deleteMessages(sentHandles, url: dlq.url, queue: dlq.name)
                        skipped += toSend.filter { report.failed[$0.message.envelope.id] != nil }.map(\.handle)
                        throw error
                    }
                    toDelete += toSend.map(\.handle)
                }
                for (handle, body) in rawCopies {
                    var fields = SQSAPI.MessageFields(body: body.isEmpty ? " " : body)
                    if source.fifo {
                        fields.groupID = "default"
                        fields.deduplicationID = UUID().uuidString
                    }
                    _ = try await client.call(SQSAPI.SendMessage(queueURL: source.url, message: fields), queue: queue)
                    toDelete.append(handle)
                }
                if !toDelete.isEmpty {
                    try await deleteMessages(toDelete, url: dlq.url, queue: dlq.name)
                    moved += toDelete.count
                }
                // Every selected job found: no need to wait for an empty answer.
                if let ids, found.isSuperset(of: ids) { return false }
                return true
            }
        } catch {
            try? await makeVisible(skipped, url: dlq.url, queue: dlq.name)
            throw error
        }
        try await makeVisible(skipped, url: dlq.url, queue: dlq.name)
        return moved
    }

    /// Deletes every message of the dead-letter queue (receive and delete, with long polls until one comes back
    /// empty, so that the count is exact and SQS's one-purge-per-minute limit does not apply). Returns how many were
    /// deleted.
    public func purgeDeadLetters(of queue: String) async throws -> Int {
        let dlq = try await withQueue(deadLetterQueue(of: queue)) { $0 }
        var deleted = 0
        try await drain(url: dlq.url, visibility: .seconds(60)) { batch in
            let handles = batch.map(\.raw.receiptHandle)
            try await deleteMessages(handles, url: dlq.url, queue: dlq.name)
            deleted += handles.count
            return true
        }
        return deleted
    }

    // MARK: - Provisioning

    /// Creates `queue` and, when `options.deadLetterQueue` is set, its dead-letter queue, with a redrive policy when
    /// `options.maxReceiveCount` (or ``Configuration/maxReceiveCount``) is given. Idempotent: an existing queue gets
    /// the attributes it can change (not `FifoQueue`).
    ///
    /// `options.maximumMessageBytes` sets `MaximumMessageSize` on the queue and on its dead-letter queue (so that a
    /// dead-letter copy of a message near the limit fits); `options.highThroughput` sets `DeduplicationScope` to
    /// `messageGroup` and `FifoThroughputLimit` to `perMessageGroupId` on the (FIFO) queue. Throws
    /// ``Conveyor/ConveyorError/Code/invalidConfiguration`` before creating anything when `maximumMessageBytes` is
    /// outside 1,024...1,048,576 or `highThroughput` is asked for a queue that is not FIFO.
    public func createQueue(_ queue: String, options: QueueOptions) async throws {
        try checkOpen()
        let fifo = queue.hasSuffix(".fifo")
        if options.fifo && !fifo {
            throw ConveyorError(.invalidParameter, "FIFO queue names must end with .fifo: \(queue)")
        }
        if let bytes = options.maximumMessageBytes, !Self.maximumMessageSizeRange.contains(bytes) {
            throw ConveyorError(
                .invalidConfiguration,
                "QueueOptions.maximumMessageBytes must be between \(Self.maximumMessageSizeRange.lowerBound) and \(Self.maximumMessageSizeRange.upperBound) bytes (SQS MaximumMessageSize) for queue \(queue); is \(bytes)"
            )
        }
        if options.highThroughput && !fifo {
            throw ConveyorError(
                .invalidConfiguration,
                "QueueOptions.highThroughput applies to FIFO queues only: set fifo and name the queue <name>.fifo (is \(queue))"
            )
        }
        var attributes: [String: String] = [
            "VisibilityTimeout": String(Self.seconds(options.visibilityTimeout)),
        ]
        if fifo { attributes["FifoQueue"] = "true" }
        if let retention = options.messageRetention {
            attributes["MessageRetentionPeriod"] = String(min(max(Self.seconds(retention), 60), 1_209_600))
        }
        if let bytes = options.maximumMessageBytes { attributes["MaximumMessageSize"] = String(bytes) }
        if options.highThroughput {
            attributes["DeduplicationScope"] = "messageGroup"
            attributes["FifoThroughputLimit"] = "perMessageGroupId"
        }
        if options.deadLetterQueue {
            let dlqName = deadLetterQueue(of: queue)
            var dlqAttributes: [String: String] = fifo ? ["FifoQueue": "true"] : [:]
            if let bytes = options.maximumMessageBytes { dlqAttributes["MaximumMessageSize"] = String(bytes) }
            let dlqURL = try await createQueueRaw(dlqName, attributes: dlqAttributes)
            if let maxReceiveCount = options.maxReceiveCount ?? configuration.maxReceiveCount {
                let arn = try await queueAttributes(dlqURL, ["QueueArn"])["QueueArn"] ?? ""
                let policy = JSONText.bytes(["deadLetterTargetArn": .string(arn), "maxReceiveCount": .string(String(maxReceiveCount))])
                attributes["RedrivePolicy"] = String(decoding: policy, as: UTF8.self)
            }
        }
        _ = try await createQueueRaw(queue, attributes: attributes)
    }

    func createQueueRaw(_ name: String, attributes: [String: String]) async throws -> String {
        do {
            let url = try await client.call(SQSAPI.CreateQueue(queueName: name, attributes: attributes)).url
            queues.withLock { $0[name] = QueueInfo(url: url, name: name) }
            return url
        } catch let error as ConveyorError where error.code == .queueAlreadyExists {
            // Exists with other attributes: update them.
            let info = try await resolve(name)
            var settable = attributes
            settable["FifoQueue"] = nil
            if !settable.isEmpty {
                _ = try await client.call(SQSAPI.SetQueueAttributes(queueURL: info.url, attributes: settable))
                // Read the size limit again at the next send: it may have changed.
                queues.withLock { $0[name]?.maximumMessageBytes = nil }
            }
            return info.url
        }
    }

    /// Deletes `queue` and its dead-letter queue; missing queues are not an error.
    public func deleteQueue(_ queue: String) async throws {
        for name in [queue, deadLetterQueue(of: queue)] {
            do {
                let info = try await resolve(name)
                _ = try await client.call(SQSAPI.DeleteQueue(queueURL: info.url))
            } catch let error as ConveyorError where error.code == .queueNotFound {
            }
            forget(name)
        }
    }
}

extension Result {
    fileprivate var successValue: Success? {
        if case .success(let value) = self { return value }
        return nil
    }
}
