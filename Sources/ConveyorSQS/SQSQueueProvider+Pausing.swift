import Conveyor

extension SQSQueueProvider: PausingProvider {
    /// The queue tag that holds the paused state: `"true"` while paused, `"false"` after a resume.
    static let pausedTag = "conveyor-paused"

    /// How long a reading of a queue's tags answers both ``isPaused(_:)`` and ``cancellations(in:)``: a worker
    /// asks the two one after the other, which costs one `ListQueueTags`.
    static let controlTagsReuse: Duration = .milliseconds(250)

    /// Pauses or resumes `queue` by tagging it (`TagQueue`, ``pausedTag``); needs `sqs:TagQueue`.
    public func setPaused(_ paused: Bool, queue: String) async throws {
        try await withQueue(queue) { info in
            _ = try await client.call(SQSAPI.TagQueue(queueURL: info.url, tags: [Self.pausedTag: paused ? "true" : "false"]))
            forgetControlTags(info.url)
        }
    }

    /// Whether `queue` is paused: one `ListQueueTags` (needs `sqs:ListQueueTags`).
    public func isPaused(_ queue: String) async throws -> Bool {
        try await controlTags(of: queue)[Self.pausedTag] == "true"
    }

    /// `queue`'s tags: those read less than ``controlTagsReuse`` ago, else one `ListQueueTags`.
    func controlTags(of queue: String) async throws -> [String: String] {
        try await withQueue(queue) { info in
            let now = ContinuousClock.now
            if let last = controlTagReadings.withLock({ $0[info.url] }), now - last.readAt < Self.controlTagsReuse {
                return last.tags
            }
            let tags = try await client.call(SQSAPI.ListQueueTags(queueURL: info.url))
            controlTagReadings.withLock { $0[info.url] = (tags, now) }
            return tags
        }
    }

    /// Drops the reading of a queue whose tags this provider just changed.
    func forgetControlTags(_ url: String) {
        _ = controlTagReadings.withLock { $0.removeValue(forKey: url) }
    }
}
