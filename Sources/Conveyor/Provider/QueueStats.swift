/// Message counts of one queue, as the broker reports them (SQS counts are approximate).
public struct QueueStats: Sendable, Hashable, Codable {
    /// Messages ready to be received.
    public var ready: Int
    /// Messages received and not yet settled.
    public var inFlight: Int
    /// Messages waiting for their delay to pass.
    public var delayed: Int
    /// Messages in the queue's dead-letter queue.
    public var deadLettered: Int

    /// Creates a stats value.
    public init(ready: Int = 0, inFlight: Int = 0, delayed: Int = 0, deadLettered: Int = 0) {
        self.ready = ready
        self.inFlight = inFlight
        self.delayed = delayed
        self.deadLettered = deadLettered
    }
}

/// One dead-lettered job, as listed by ``DeadLetterQueueProvider/deadLetters(of:limit:)``.
public struct DeadLetter: Sendable {
    /// The envelope, or why it could not be decoded.
    public var envelope: Result<Envelope, ConveyorError>
    /// The raw body when it could not be decoded.
    public var rawBody: [UInt8]?
    /// Why it was dead-lettered.
    public var reason: FailureReason
    /// The attempt on which it was dead-lettered (0 when unknown).
    public var attempts: Int

    /// Creates a dead letter.
    public init(envelope: Result<Envelope, ConveyorError>, rawBody: [UInt8]? = nil, reason: FailureReason, attempts: Int) {
        self.envelope = envelope
        self.rawBody = rawBody
        self.reason = reason
        self.attempts = attempts
    }
}

/// How to create a queue.
public struct QueueOptions: Sendable, Hashable {
    /// A FIFO queue (SQS `.fifo`): strict order per group and deduplication.
    public var fifo: Bool
    /// Also create a dead-letter queue and route exhausted messages there.
    public var deadLetterQueue: Bool
    /// Receives after which the broker itself dead-letters a message (SQS `maxReceiveCount`); `nil`: only
    /// explicit dead-lettering.
    public var maxReceiveCount: Int?
    /// Default visibility timeout of received messages.
    public var visibilityTimeout: Duration
    /// How long the broker keeps a message, counted from when it was sent, for brokers that drop old messages (SQS
    /// `MessageRetentionPeriod`, 60 s to 14 days); `nil`: the broker's default (SQS: 4 days). Others ignore it.
    public var messageRetention: Duration?
    /// The largest message the queue accepts, in bytes (envelope plus the broker's message attributes), for brokers
    /// with a per-queue limit (SQS `MaximumMessageSize`, 1,024 to 1,048,576; also set on the dead-letter queue so
    /// that dead-letter copies fit); `nil`: the broker's default (SQS: 262,144). Others ignore it. A value out of that
    /// range makes ``QueueProvisioningProvider/createQueue(_:options:)`` throw
    /// ``ConveyorError/Code/invalidConfiguration``.
    public var maximumMessageBytes: Int?
    /// FIFO high throughput, for SQS FIFO queues only: deduplication and the throughput quota are per message group
    /// (SQS `DeduplicationScope=messageGroup`, `FifoThroughputLimit=perMessageGroupId`), so that many groups together
    /// go far beyond the 300 (3,000 batched) messages per second of a FIFO queue. Needs ``fifo``: without it
    /// ``QueueProvisioningProvider/createQueue(_:options:)`` throws ``ConveyorError/Code/invalidConfiguration``.
    /// Brokers without FIFO queues ignore it.
    public var highThroughput: Bool

    /// Creates queue options. Defaults: standard queue with a dead-letter queue, no broker-side receive limit,
    /// 30 s visibility timeout, the broker's message retention and message size limit, no FIFO high throughput.
    public init(
        fifo: Bool = false, deadLetterQueue: Bool = true, maxReceiveCount: Int? = nil, visibilityTimeout: Duration = .seconds(30),
        messageRetention: Duration? = nil, maximumMessageBytes: Int? = nil, highThroughput: Bool = false
    ) {
        self.fifo = fifo
        self.deadLetterQueue = deadLetterQueue
        self.maxReceiveCount = maxReceiveCount
        self.visibilityTimeout = visibilityTimeout
        self.messageRetention = messageRetention
        self.maximumMessageBytes = maximumMessageBytes
        self.highThroughput = highThroughput
    }
}
