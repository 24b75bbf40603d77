import Conveyor

extension SQSQueueProvider: ReleasingQueueProvider {
    /// `true`: SQS counts every receive in `ApproximateReceiveCount`, so a released message comes back with the
    /// next attempt number, and a redrive policy's `maxReceiveCount` counts the release.
    public var releaseCountsAsAttempt: Bool { true }

    /// Makes `messages` visible again at once: `ChangeMessageVisibilityBatch` with `VisibilityTimeout` 0 in chunks
    /// of 10 per queue (`ChangeMessageVisibility` for a single message).
    ///
    /// SQS still counts the receive: `ApproximateReceiveCount` keeps it, so the next delivery's
    /// ``Conveyor/ReceivedMessage/attempt`` is one higher and a queue's redrive policy (`maxReceiveCount`) counts it
    /// too. Receipts that are no longer valid are ignored; entries that fail for a transient reason are retried;
    /// entries that still fail make the call throw an error that counts them (the others were released).
    public func release(_ messages: [ReceivedMessage]) async throws {
        try await changeVisibility(messages, to: 0, verb: "released")
    }
}
