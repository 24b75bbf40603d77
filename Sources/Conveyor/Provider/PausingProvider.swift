/// A provider that keeps whether a queue is paused in the broker, so that every worker of the queue, in any
/// process, sees it, and it outlives worker restarts.
///
/// A paused queue still accepts jobs; workers stop taking new ones from it (they check about every
/// ``Worker/Configuration/pauseCheckInterval``, 1 s by default) and let running ones finish. See
/// ``ConveyorClient/pause(_:)``.
public protocol PausingProvider: QueueProvider {
    /// Pauses (`true`) or resumes (`false`) `queue`. Idempotent.
    func setPaused(_ paused: Bool, queue: String) async throws
    /// Whether `queue` is paused. One broker request (RabbitMQ: a queue declaration; SQS: `ListQueueTags`).
    func isPaused(_ queue: String) async throws -> Bool
}
