/// One received message on its way through a worker. A class, so that moving it between the buffer, executors
/// and timers costs one reference count instead of one per field of the message.
final class Job: Sendable {
    let message: ReceivedMessage
    /// The registered task, when the envelope decoded and names one.
    let entry: TaskEntry?
    /// When the worker received it.
    let receivedAt: ContinuousClock.Instant
    /// Its queue's visibility timeout (``QueueProvider/visibilityTimeout(of:)``); `nil`: no heartbeats.
    let visibilityTimeout: Duration?

    init(message: ReceivedMessage, entry: TaskEntry?, receivedAt: ContinuousClock.Instant, visibilityTimeout: Duration? = nil) {
        self.message = message
        self.entry = entry
        self.receivedAt = receivedAt
        self.visibilityTimeout = visibilityTimeout
    }
}

extension Job: DispatchableJob {
    var queue: String { message.queue }

    var concurrencyLimit: (task: String, limit: Int)? {
        guard let entry, let limit = entry.limit else { return nil }
        return (entry.name, limit)
    }
}

extension Job: HeartbeatedJob {}
