import ServiceLifecycle

/// A message broker, as Conveyor sees it. The shape mirrors Amazon SQS: messages are enqueued, received with a
/// long poll, then acknowledged (deleted), failed (returned for redelivery after a delay, or dead-lettered), or
/// kept invisible longer while a job runs.
///
/// Every method takes the queue by name, so one provider serves all the queues of an application. Implementations
/// must never block Swift's cooperative thread pool: blocking C libraries run on threads the provider owns.
///
/// Providers that lack a feature say so in ``capabilities``; optional operations live in small protocols
/// (``DeadLetterQueueProvider``, ``QueueProvisioningProvider``, …), reached through typed accessors such as
/// ``provisioning``.
///
/// A provider is a swift-service-lifecycle `Service`: put it in the application's `ServiceGroup` ahead of the
/// services that use it (a ``Worker``, a ``JobScheduler``, an HTTP server), and the group closes it after they
/// have stopped (see ``run()``), so it cannot be left open.
public protocol QueueProvider: Service {
    /// A short name for logs and metrics labels, e.g. `"memory"`, `"sqs"`, `"rabbitmq"`.
    var name: String { get }

    /// What this provider supports.
    var capabilities: ProviderCapabilities { get }

    /// Sends messages to a queue and returns, in order, one result per message. It returns only after the broker
    /// has accepted (confirmed) every message; a message that could not be sent makes it throw.
    func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult]

    /// Waits until at least one message is available on `queue` or `wait` has passed, then returns up to `max`
    /// messages (possibly none). It must not poll in a sleep loop: use continuations, long polling or a push
    /// consumer. Cancelling the calling task ends the wait promptly (returning what it has, or throwing
    /// `CancellationError`). Received messages are invisible to other receivers until acknowledged, failed, or
    /// their visibility timeout passes.
    func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage]

    /// Removes successfully processed messages for good. A receipt that is no longer valid (the message was
    /// redelivered meanwhile) is ignored, not thrown.
    func acknowledge(_ messages: [ReceivedMessage]) async throws

    /// Settles a message that failed: with `retryAfter` it is made available again after that delay (the attempt
    /// number grows); with `retryAfter == nil` it is moved to the queue's dead-letter queue with `reason`.
    func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws

    /// Keeps a received message invisible for `duration` from now (SQS `ChangeMessageVisibility`). Providers
    /// without visibility timeouts (RabbitMQ) treat it as a no-op.
    func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws
    /// Keeps several received messages invisible for `duration` from now, in as few broker calls as the broker
    /// allows (SQS `ChangeMessageVisibilityBatch`). The default calls ``extendVisibility(_:by:)`` per message.
    func extendVisibility(_ messages: [ReceivedMessage], by duration: Duration) async throws

    /// Counts of messages in `queue`.
    func stats(of queue: String) async throws -> QueueStats

    /// How long a message received from `queue` stays invisible before the broker delivers it again, unless it is
    /// settled or its visibility extended: the one value the worker heartbeats by (every 70 % of it). `nil` for a
    /// provider without visibility timeouts (RabbitMQ redelivers when the channel closes).
    ///
    /// The provider owns this value (its configuration, or the queue's own setting), so that the timeout asked for on
    /// receive and the worker's heartbeats cannot disagree. The default returns `nil` when
    /// ``ProviderCapabilities/visibilityTimeout`` is false and 30 seconds otherwise; providers with visibility timeouts
    /// should implement it.
    func visibilityTimeout(of queue: String) async throws -> Duration?

    /// The name of the queue to use where messages must be deduplicated by ``Envelope/deduplicationKey`` on every
    /// enqueue, made from `base` (the scheduler's claim queue). A queue of that name, created with
    /// ``QueueProvisioningProvider/createQueue(_:options:)`` or on first use, honours deduplication keys within
    /// ``ProviderCapabilities/deduplicationWindow``. The default returns `base`, for brokers that deduplicate on any
    /// queue (memory, RabbitMQ); SQS, which deduplicates only on FIFO queues, appends `.fifo` unless `base` already
    /// ends with it.
    func deduplicatingQueueName(_ base: String) -> String

    /// Closes connections and wakes every pending `receive`. Further calls throw ``ConveyorError/Code/closed``.
    func close() async throws
}

extension QueueProvider {
    /// Sends one message.
    @discardableResult
    public func enqueue(_ message: OutgoingMessage, to queue: String) async throws -> EnqueueResult {
        try await enqueue([message], to: queue)[0]
    }

    /// Extends each message's visibility with ``extendVisibility(_:by:)``, one call per message.
    public func extendVisibility(_ messages: [ReceivedMessage], by duration: Duration) async throws {
        for message in messages { try await extendVisibility(message, by: duration) }
    }

    /// `nil` without ``ProviderCapabilities/visibilityTimeout``, else 30 seconds.
    public func visibilityTimeout(of queue: String) async throws -> Duration? {
        capabilities.visibilityTimeout ? .seconds(30) : nil
    }

    /// `base`: the provider deduplicates on every queue.
    public func deduplicatingQueueName(_ base: String) -> String { base }

    /// Acknowledges one message.
    public func acknowledge(_ message: ReceivedMessage) async throws {
        try await acknowledge([message])
    }
}

/// A provider that can list, redrive and purge dead-lettered messages.
public protocol DeadLetterQueueProvider: QueueProvider {
    /// Up to `limit` dead-lettered messages of `queue`, oldest first, without removing them.
    func deadLetters(of queue: String, limit: Int) async throws -> [DeadLetter]

    /// Moves dead-lettered messages of `queue` back to it; `ids == nil` moves all. Returns how many moved. Moved
    /// jobs start over with a fresh attempt count.
    func redrive(_ queue: String, ids: Set<JobID>?) async throws -> Int

    /// Deletes every dead-lettered message of `queue`; returns how many were deleted (when the broker tells).
    func purgeDeadLetters(of queue: String) async throws -> Int
}

/// A provider that can create and delete queues (development, tests, provisioning).
public protocol QueueProvisioningProvider: QueueProvider {
    /// Creates `queue` (and its dead-letter queue) if it does not exist. Idempotent.
    func createQueue(_ queue: String, options: QueueOptions) async throws

    /// Deletes `queue` and its dead-letter queue. Deleting a missing queue is not an error.
    func deleteQueue(_ queue: String) async throws
}
