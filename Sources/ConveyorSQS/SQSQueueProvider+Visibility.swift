import Conveyor

extension SQSQueueProvider {
    /// `ChangeMessageVisibility` to `duration` from now (at most 12 h). Throws ``ConveyorError/Code/invalidReceipt``
    /// when the message is no longer held by this receiver.
    public func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {
        try await withQueue(message.queue) { info in
            _ = try await client.call(SQSAPI.ChangeMessageVisibility(
                queueURL: info.url, receiptHandle: message.receiptHandle, visibilityTimeout: Swift.min(Self.seconds(duration), 43_200)
            ))
        }
    }

    /// Keeps `messages` invisible for `duration` from now (at most 12 h) with `ChangeMessageVisibilityBatch`, in
    /// chunks of 10 per queue, up to ``Configuration/maxConcurrentBatches`` chunks in flight (`ChangeMessageVisibility`
    /// for a single message).
    ///
    /// Unlike the single-message `extendVisibility(_:by:)`, receipts that are no longer valid (the message was
    /// acknowledged or redelivered meanwhile) are ignored, as ``acknowledge(_:)`` ignores them. Entries that fail for
    /// a transient reason are retried. Every chunk runs to its end even when another fails; then one error counts the
    /// messages that could not be extended and those that may or may not have been.
    public func extendVisibility(_ messages: [ReceivedMessage], by duration: Duration) async throws {
        try await changeVisibility(messages, to: Self.seconds(duration), verb: "extended")
    }

    /// Sets the visibility timeout of `messages` to `seconds` from now, queue by queue; see the batch
    /// `extendVisibility(_:by:)`. `verb` names the operation in errors and logs.
    func changeVisibility(_ messages: [ReceivedMessage], to seconds: Int, verb: String) async throws {
        guard !messages.isEmpty else { return }
        let seconds = Swift.min(Swift.max(0, seconds), 43_200)
        for (queue, group) in Dictionary(grouping: messages, by: \.queue) {
            try await withQueue(queue) { info in
                try await changeVisibility(group.map(\.receiptHandle), to: seconds, url: info.url, queue: queue, verb: verb)
            }
        }
    }

    func changeVisibility(_ handles: [String], to seconds: Int, url: String, queue: String, verb: String) async throws {
        if handles.count == 1 {
            do {
                _ = try await client.call(SQSAPI.ChangeMessageVisibility(queueURL: url, receiptHandle: handles[0], visibilityTimeout: seconds))
            } catch let error as ConveyorError where Self.isStaleReceipt(error) {
                logger.debug("visibility change ignored an invalid receipt", metadata: [
                    "conveyor.queue": "\(queue)", "conveyor.operation": "\(verb)",
                ])
            }
            return
        }
        // Chunks of 10, several in flight (``Configuration/maxConcurrentBatches``); every chunk runs, then one error.
        let ignored = try await receiptBatch(handles: handles, queue: queue, verb: verb) { entries in
            SQSAPI.ChangeMessageVisibilityBatch(queueURL: url, entries: entries, visibilityTimeout: seconds)
        } isStale: { failure in
            Self.isStaleReceipt(code: failure.code, message: failure.message)
        }
        if ignored > 0 {
            logger.debug("visibility change ignored invalid receipts", metadata: [
                "conveyor.queue": "\(queue)", "conveyor.operation": "\(verb)", "conveyor.count": "\(ignored)",
            ])
        }
    }

    /// Whether a failed batch entry means the receipt is no longer valid (the message was deleted, or received
    /// again by someone else): `ReceiptHandleIsInvalid`, `MessageNotInflight`, or `InvalidParameterValue`
    /// (`InvalidParameterValueException` in the JSON protocol) about the receipt handle, as SQS answers for a
    /// receipt whose message was deleted ("Message does not exist or is not available for visibility timeout
    /// change").
    static func isStaleReceipt(code: String, message: String) -> Bool {
        if ConveyorError.sqs(type: code, message: "", status: 400, action: "").code == .invalidReceipt { return true }
        return code.contains("InvalidParameterValue") && mentionsReceipt(message)
    }

    /// Whether a failed call means the receipt is no longer valid; see ``isStaleReceipt(code:message:)``.
    static func isStaleReceipt(_ error: ConveyorError) -> Bool {
        error.code == .invalidReceipt || (error.code == .invalidParameter && mentionsReceipt(error.message))
    }

    private static func mentionsReceipt(_ text: String) -> Bool {
        let lowered = text.lowercased()
        return lowered.contains("receipthandle") || lowered.contains("receipt handle")
    }
}
