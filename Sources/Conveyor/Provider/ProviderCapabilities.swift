/// What a provider is like: the facts about its broker that the worker, the scheduler, the CLI and the conformance
/// suite adapt to.
///
/// The rule for capabilities: a fact that needs no operation of its own is a field here; a capability that adds
/// operations is a small protocol (``ReleasingQueueProvider``, ``DeadLetterQueueProvider``,
/// ``QueueProvisioningProvider``, ``PrefetchingQueueProvider``, ``DelayedJobCancellingProvider``,
/// ``SessionOpeningProvider``), never mirrored by a field, and probed only through the typed accessors on
/// ``QueueProvider`` (``QueueProvider/releasing``, ``QueueProvider/deadLetterQueues``, …).
public struct ProviderCapabilities: Sendable, Hashable {
    /// Messages with a higher ``OutgoingMessage/priority`` are received first.
    public var priorities: Bool
    /// ``QueueProvider/extendVisibility(_:by:)`` works and unacknowledged messages reappear after a visibility
    /// timeout. False for RabbitMQ, where unacked messages come back when the channel closes.
    public var visibilityTimeout: Bool
    /// Longest delay the broker applies natively in one hop (`nil`: unbounded).
    public var maximumNativeDelay: Duration?
    /// Messages with the same deduplication key are dropped within ``deduplicationWindow``.
    public var deduplication: Bool
    /// How long a deduplication key is remembered (SQS FIFO: 5 minutes).
    public var deduplicationWindow: Duration
    /// Largest message body the broker accepts, in bytes (`nil`: no practical limit).
    public var maximumMessageBytes: Int?
    /// ``ReceivedMessage/enqueuedAt`` is the broker's own clock at the moment it accepted that copy of the message
    /// (SQS `SentTimestamp`). The worker and the scheduler then compute when a hopping job is due from the broker's
    /// timestamps rather than from the local clock, so a worker whose clock is off does not run a long-delayed job
    /// early or late.
    public var brokerTimestamps: Bool
    /// Queues come into existence when first used (RabbitMQ declares a queue on its first enqueue or receive), so
    /// a queue that does not exist yet is not a configuration error.
    public var declaresQueuesOnUse: Bool

    /// Creates a capability set.
    public init(
        priorities: Bool,
        visibilityTimeout: Bool,
        maximumNativeDelay: Duration?,
        deduplication: Bool,
        deduplicationWindow: Duration = .seconds(300),
        maximumMessageBytes: Int?,
        brokerTimestamps: Bool = false,
        declaresQueuesOnUse: Bool = false
    ) {
        self.priorities = priorities
        self.visibilityTimeout = visibilityTimeout
        self.maximumNativeDelay = maximumNativeDelay
        self.deduplication = deduplication
        self.deduplicationWindow = deduplicationWindow
        self.maximumMessageBytes = maximumMessageBytes
        self.brokerTimestamps = brokerTimestamps
        self.declaresQueuesOnUse = declaresQueuesOnUse
    }
}
