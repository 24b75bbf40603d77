import Conveyor

extension SQSQueueProvider: PausingProvider {
    /// The queue tag that holds the paused state: `"true"` while paused, `"false"` after a resume.
    static let pausedTag = "conveyor-paused"

    /// Pauses or resumes `queue` by tagging it (`TagQueue`, ``pausedTag``); needs `sqs:TagQueue`.
    public func setPaused(_ paused: Bool, queue: String) async throws {
        try await withQueue(queue) { info in
            _ = try await client.call(SQSAPI.TagQueue(queueURL: info.url, tags: [Self.pausedTag: paused ? "true" : "false"]))
        }
    }

    /// Whether `queue` is paused: one `ListQueueTags` (needs `sqs:ListQueueTags`).
    public func isPaused(_ queue: String) async throws -> Bool {
        try await withQueue(queue) { info in
            try await client.call(SQSAPI.ListQueueTags(queueURL: info.url))[Self.pausedTag] == "true"
        }
    }
}
