/// A message to enqueue: an envelope plus how the broker should deliver it.
public struct OutgoingMessage: Sendable {
    /// The job.
    public var envelope: Envelope
    /// Delay before the message becomes visible (`.zero`: at once). Providers cap it at their native maximum;
    /// longer delays are carried by ``Envelope/notBefore`` and hops.
    public var delay: Duration
    /// Message group for FIFO queues (SQS `MessageGroupId`); ignored elsewhere.
    public var groupID: String?

    /// The priority, from the envelope.
    public var priority: Int { envelope.priority }
    /// The deduplication key, from the envelope.
    public var deduplicationKey: String? { envelope.deduplicationKey }

    /// Creates an outgoing message.
    public init(envelope: Envelope, delay: Duration = .zero, groupID: String? = nil) {
        self.envelope = envelope
        self.delay = delay
        self.groupID = groupID
    }
}

/// The broker's answer to one enqueued message.
public struct EnqueueResult: Sendable {
    /// The job's id.
    public var jobID: JobID
    /// True when the broker dropped the message as a duplicate of an earlier one with the same key.
    public var deduplicated: Bool
    /// The broker's own message id, when it has one.
    public var brokerMessageID: String?
    /// The JSON-encoded output, when the provider ran the job at once (the inline provider).
    public var output: [UInt8]?

    /// Creates a result.
    public init(jobID: JobID, deduplicated: Bool = false, brokerMessageID: String? = nil, output: [UInt8]? = nil) {
        self.jobID = jobID
        self.deduplicated = deduplicated
        self.brokerMessageID = brokerMessageID
        self.output = output
    }
}
