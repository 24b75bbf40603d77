/// What a provider supports; the worker and the conformance suite adapt to it.
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

    /// Creates a capability set.
    public init(
        priorities: Bool,
        visibilityTimeout: Bool,
        maximumNativeDelay: Duration?,
        deduplication: Bool,
        deduplicationWindow: Duration = .seconds(300),
        maximumMessageBytes: Int?
    ) {
        self.priorities = priorities
        self.visibilityTimeout = visibilityTimeout
        self.maximumNativeDelay = maximumNativeDelay
        self.deduplication = deduplication
        self.deduplicationWindow = deduplicationWindow
        self.maximumMessageBytes = maximumMessageBytes
    }
}
