import Conveyor
import Foundation

extension SQSQueueProvider {
    /// One prepared `SendMessageBatch` entry.
    struct SendEntry: @unchecked Sendable {
        var index: Int
        var jobID: JobID
        /// The JSON entry (without `Id`).
        var fields: [String: Any]
        var size: Int
    }

    // MARK: - Enqueue

    /// Sends messages with `SendMessage` (one) or `SendMessageBatch` (chunks of 10, ≤ 256 KiB each, several in
    /// flight). Entries that fail for a transient reason are retried; entries that still fail make the call throw an
    /// error that lists their job ids — the other messages were sent.
    ///
    /// A request that fails with a connection error, a timeout or a 5xx answer is retried, although SQS may have
    /// processed it: its messages may then be stored twice. Such a retry is never silent: it is logged at info level
    /// ("SendMessageBatch retried after a timeout; its N messages may be duplicated", with `conveyor.queue`,
    /// `sqs.action` and `job.count`) and counted in `conveyor_possible_duplicate_sends_total{provider="sqs", action}`.
    /// Both copies carry the same envelope job id, so handlers should be idempotent by ``Conveyor/Envelope/id``; on a
    /// FIFO queue SQS drops the copy by its deduplication id (the deduplication key, else the job id) within 5
    /// minutes. When such a send still fails after its retries, the error says that its messages may have been sent.
    public func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
        guard !messages.isEmpty else { return [] }
        return try await withQueue(queue) { info in
            let limit = try await maximumMessageBytes(of: info, key: queue)
            var entries: [SendEntry] = []
            entries.reserveCapacity(messages.count)
            for (index, message) in messages.enumerated() {
                entries.append(try prepare(message, index: index, info: info, limit: limit))
            }
            var results = messages.map { EnqueueResult(jobID: $0.envelope.id) }
            if entries.count == 1 {
                var fields = entries[0].fields
                fields["QueueUrl"] = info.url
                let response = try await client.call("SendMessage", fields, queue: queue)
                results[0].brokerMessageID = response["MessageId"]?.string
                return results
            }
            // Chunks of at most 10 entries and 256 KiB.
            var chunks: [[SendEntry]] = []
            var current: [SendEntry] = []
            var currentSize = 0
            for entry in entries {
                if current.count == 10 || (currentSize + entry.size > Self.defaultMaximumMessageBytes && !current.isEmpty) {
                    chunks.append(current)
                    current = []
                    currentSize = 0
                }
                current.append(entry)
                currentSize += entry.size
            }
            if !current.isEmpty { chunks.append(current) }

            var failures: [(JobID, String)] = []
            try await withThrowingTaskGroup(of: ([(Int, String)], [(JobID, String)]).self) { group in
                var next = 0
                func addNext() {
                    guard next < chunks.count else { return }
                    let chunk = chunks[next]
                    next += 1
                    group.addTask { try await self.sendBatch(chunk, url: info.url, queue: queue) }
                }
                for _ in 0..<min(configuration.maxConcurrentBatches, chunks.count) { addNext() }
                while let (sent, failed) = try await group.next() {
                    for (index, id) in sent { results[index].brokerMessageID = id }
                    failures += failed
                    addNext()
                }
            }
            if !failures.isEmpty {
                let list = failures.prefix(20).map { "\($0.0) (\($0.1))" }.joined(separator: ", ")
                throw ConveyorError(
                    .notConfirmed,
                    "\(failures.count) of \(messages.count) messages were not sent to \(queue): \(list)\(failures.count > 20 ? ", …" : ""); the others were sent"
                )
            }
            return results
        }
    }

    /// Sends one batch; retries entries that failed for a transient reason. Returns (index, message id) of sent entries
    /// and (job id, reason) of entries that could not be sent.
    func sendBatch(_ chunk: [SendEntry], url: String, queue: String) async throws -> ([(Int, String)], [(JobID, String)]) {
        let byID = Dictionary(uniqueKeysWithValues: chunk.map { ("m\($0.index)", $0) })
        let outcome = try await callBatch(
            "SendMessageBatch", url: url, queue: queue, entries: chunk.map { (id: "m\($0.index)", fields: $0.fields) })
        let sent: [(Int, String)] = outcome.successful.compactMap { success in
            guard let id = success["Id"]?.string, let entry = byID[id] else { return nil }
            return (entry.index, success["MessageId"]?.string ?? "")
        }
        let failed: [(JobID, String)] = outcome.failed.compactMap { failure in
            guard let entry = byID[failure.id] else { return nil }
            return (entry.jobID, failure.message.isEmpty ? failure.code : "\(failure.code): \(failure.message.prefix(200))")
        }
        return (sent, failed)
    }

    /// The `SendMessage` fields of `message`, after checking its size.
    func prepare(_ message: OutgoingMessage, index: Int, info: QueueInfo, limit: Int) throws -> SendEntry {
        let envelope = message.envelope
        let body = String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self)
        var size = body.utf8.count
        var attributes: [String: Any] = [:]
        func attribute(_ name: String, _ value: String?) {
            guard let value, !value.isEmpty else { return }
            attributes[name] = Self.stringAttribute(value)
            size += name.utf8.count + value.utf8.count + "String".utf8.count
        }
        attribute("conveyor.task", envelope.task)
        attribute("conveyor.correlation_id", envelope.correlationID)
        attribute("traceparent", envelope.traceContext["traceparent"])
        attribute("tracestate", envelope.traceContext["tracestate"])
        guard size <= limit else {
            throw ConveyorError(
                .messageTooLarge,
                "job \(envelope.id) (\(envelope.task)) is \(size) bytes with its attributes, over the queue's \(limit)-byte limit; store large payloads elsewhere and send a reference"
            )
        }
        var fields: [String: Any] = ["MessageBody": body]
        if !attributes.isEmpty { fields["MessageAttributes"] = attributes }
        if info.fifo {
            guard message.delay <= .zero else {
                throw ConveyorError(
                    .unsupported,
                    "job \(envelope.id): SQS FIFO queue \(info.name) has no per-message delay; set DelaySeconds on the queue or enqueue without a delay"
                )
            }
            fields["MessageGroupId"] = message.groupID ?? "default"
            fields["MessageDeduplicationId"] = Self.deduplicationID(envelope.deduplicationKey ?? envelope.id.rawValue)
        } else if message.delay > .zero {
            fields["DelaySeconds"] = min(Self.seconds(message.delay), 900)
        }
        return SendEntry(index: index, jobID: envelope.id, fields: fields, size: size)
    }

    // MARK: - Receive

    /// Long-polls `queue` (`WaitTimeSeconds` = `wait` rounded up, at most 20) for up to `max` (≤ 10) messages.
    /// Cancelling the task aborts the poll and throws `CancellationError`.
    public func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        try await withQueue(queue) { info in
            let messages = try await receiveRaw(url: info.url, max: max, wait: wait, visibility: configuration.visibilityTimeout)
            return messages.map { decode($0, queue: queue) }
        }
    }

    func receiveRaw(url: String, max: Int, wait: Duration, visibility: Duration?) async throws -> [SQSJSON] {
        let waitSeconds = Swift.min(20, Self.seconds(wait))
        var parameters: [String: Any] = [
            "QueueUrl": url,
            "MaxNumberOfMessages": Swift.max(1, Swift.min(10, max)),
            "WaitTimeSeconds": waitSeconds,
            "MessageSystemAttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
            "AttributeNames": ["ApproximateReceiveCount", "SentTimestamp"],
            "MessageAttributeNames": ["All"],
        ]
        if let visibility {
            parameters["VisibilityTimeout"] = Swift.min(Self.seconds(visibility), 43_200)
        }
        let response = try await client.call("ReceiveMessage", parameters, extraTimeout: .seconds(waitSeconds))
        return response["Messages"]?.array ?? []
    }

    func decode(_ message: SQSJSON, queue: String) -> ReceivedMessage {
        let body = Array((message["Body"]?.string ?? "").utf8)
        let attributes = message["Attributes"]
        let receiveCount = (attributes?["ApproximateReceiveCount"]?.string).flatMap(Int.init) ?? 1
        let sent = (attributes?["SentTimestamp"]?.string).flatMap(Double.init).map { Date(timeIntervalSince1970: $0 / 1000) }
        let envelope: Result<Envelope, ConveyorError>
        do {
            envelope = .success(try EnvelopeCodec.decode(body))
        } catch {
            envelope = .failure(error)
        }
        let offset = (try? envelope.get())?.attemptOffset ?? 0
        return ReceivedMessage(
            queue: queue,
            receipt: Receipt(token: message["ReceiptHandle"]?.string ?? ""),
            attempt: receiveCount + offset,
            envelope: envelope,
            rawBody: envelope.isSuccess ? nil : body,
            enqueuedAt: sent,
            brokerTraceContext: Self.traceContext(of: message)
        )
    }

    /// The W3C trace context (`traceparent`, `tracestate`) carried in a received message's String message
    /// attributes, as this provider sends them and as other producers may set them.
    static func traceContext(of message: SQSJSON) -> [String: String] {
        guard let attributes = message["MessageAttributes"] else { return [:] }
        var context: [String: String] = [:]
        for key in ["traceparent", "tracestate"] {
            if let value = attributes[key]?["StringValue"]?.string, !value.isEmpty {
                context[key] = value
            }
        }
        return context
    }

    // MARK: - Settle

    /// Deletes messages with `DeleteMessageBatch` in chunks of 10 per queue, up to
    /// ``Configuration/maxConcurrentBatches`` chunks in flight (`DeleteMessage` for one). Receipts that are no longer
    /// valid are ignored; other failed entries are retried, then reported after every chunk was tried.
    public func acknowledge(_ messages: [ReceivedMessage]) async throws {
        guard !messages.isEmpty else { return }
        let byQueue = Dictionary(grouping: messages, by: \.queue)
        for (queue, group) in byQueue {
            try await withQueue(queue) { info in
                try await deleteMessages(group.map(\.receipt.token), url: info.url, queue: queue)
            }
        }
    }

    func deleteMessages(_ handles: [String], url: String, queue: String) async throws {
        if handles.count == 1 {
            do {
                _ = try await client.call("DeleteMessage", ["QueueUrl": url, "ReceiptHandle": handles[0]])
            } catch let error as ConveyorError where error.code == .invalidReceipt {
                logger.debug("acknowledge ignored an invalid receipt", metadata: ["conveyor.queue": "\(queue)"])
            }
            return
        }
        // Chunks of 10, several in flight (``Configuration/maxConcurrentBatches``).
        let failures = try await forEachChunk(Self.chunked(handles)) { chunk in
            try await self.deleteChunk(chunk, url: url)
        }.flatMap { $0 }
        if !failures.isEmpty {
            throw ConveyorError(.brokerError, "\(failures.count) of \(handles.count) messages of \(queue) could not be deleted: \(failures.prefix(5).joined(separator: ", "))")
        }
    }

    /// Deletes up to 10 messages with `DeleteMessageBatch`, retrying entries that failed for a transient reason.
    /// Returns the error codes of entries that could not be deleted (invalid receipts are ignored).
    func deleteChunk(_ handles: [String], url: String) async throws -> [String] {
        let outcome = try await callBatch(
            "DeleteMessageBatch", url: url,
            entries: handles.enumerated().map { (id: "d\($0.offset)", fields: ["ReceiptHandle": $0.element]) }
        ) { failure in
            failure.code.contains("ReceiptHandleIsInvalid") || failure.code.contains("InvalidReceiptHandle")
        }
        return outcome.failed.map(\.code)
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
                    _ = try await client.call("ChangeMessageVisibility", [
                        "QueueUrl": info.url,
                        "ReceiptHandle": message.receipt.token,
                        "VisibilityTimeout": Swift.min(Self.seconds(retryAfter), 43_200),
                    ])
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
        var fields: [String: Any] = [
            "QueueUrl": dlq.url,
            "MessageBody": copy.body,
            "MessageAttributes": copy.attributes,
        ]
        if dlq.fifo {
            fields["MessageGroupId"] = "dead-letter"
            fields["MessageDeduplicationId"] = Self.deduplicationID("\(jobID)-\(message.attempt)-\(UUID().uuidString)")
        }
        _ = try await client.call("SendMessage", fields, queue: dlqName)
        let source = try await resolve(message.queue)
        try await deleteMessages([message.receipt.token], url: source.url, queue: message.queue)
    }

    // MARK: - Stats

    /// Counts from `GetQueueAttributes` (approximate, as SQS reports them), plus the dead-letter queue's count when it
    /// exists.
    public func stats(of queue: String) async throws -> QueueStats {
        let attributes = try await withQueue(queue) { info in
            try await queueAttributes(info.url, [
                "ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed",
            ])
        }
        var stats = QueueStats(
            ready: Int(attributes["ApproximateNumberOfMessages"] ?? "") ?? 0,
            inFlight: Int(attributes["ApproximateNumberOfMessagesNotVisible"] ?? "") ?? 0,
            delayed: Int(attributes["ApproximateNumberOfMessagesDelayed"] ?? "") ?? 0
        )
        if let dlq = try? await resolve(deadLetterQueue(of: queue)),
            let dlqAttributes = try? await queueAttributes(dlq.url, ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"])
        {
            stats.deadLettered = (Int(dlqAttributes["ApproximateNumberOfMessages"] ?? "") ?? 0)
                + (Int(dlqAttributes["ApproximateNumberOfMessagesNotVisible"] ?? "") ?? 0)
        }
        return stats
    }

    func queueAttributes(_ url: String, _ names: [String]) async throws -> [String: String] {
        let response = try await client.call("GetQueueAttributes", ["QueueUrl": url, "AttributeNames": names])
        return response["Attributes"]?.object.compactMapValues(\.string) ?? [:]
    }
}

extension Result {  // file-local helper
    fileprivate var isSuccess: Bool {
        if case .success = self { return true }
        return false
    }
}
