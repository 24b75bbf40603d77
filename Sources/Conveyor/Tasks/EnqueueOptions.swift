import Foundation

/// Per-call options of `ConveyorClient.enqueue(_:_:options:)`; each overrides the task's default.
///
/// Values are checked when the job is enqueued: an out-of-range one makes the enqueue throw
/// ``ConveyorError/Code/invalidParameter`` before anything is sent.
public struct EnqueueOptions: Sendable, Hashable {
    /// Run no earlier than this delay from now (ending no later than the year 9999).
    public var delay: Duration?
    /// Run no earlier than this time, at the latest in the year 9999 (takes precedence over ``delay``).
    public var runAt: Date?
    /// Priority 0 (lowest) to 9 (highest); `nil`: the task's.
    public var priority: Int?
    /// Deduplication key: a second job with the same key on the same queue within the provider's window is dropped.
    public var deduplicationKey: String?
    /// Correlation id; `nil`: the current job's correlation id when enqueued from a handler, else the job id.
    public var correlationID: String?
    /// Queue; `nil`: the task's.
    public var queue: String?
    /// Maximum attempts, at least 1; `nil`: the task's.
    public var maxAttempts: Int?
    /// Message group for FIFO queues; `nil`: the task's ``TaskOptions/groupID``.
    public var groupID: String?
    /// Explicit job id; `nil`: a random one.
    public var jobID: JobID?
    /// The key the task's flow limits count this job by (e.g. a tenant id), at most 256 bytes; `nil`: the task's
    /// ``ConveyorTask/limitKey(for:)``. Sent as the header ``Envelope/HeaderKey/limitKey``.
    public var limitKey: String?
    /// Where the worker sends the outcome, set by the tracking enqueue (`ConveyorClient.enqueue(_:_:options:tracking:)`).
    var reply: ReplyRequest?

    /// A reply queue's address and whether events go there too.
    struct ReplyRequest: Sendable, Hashable {
        var address: String
        var events: Bool
    }

    /// Creates options; all default to `nil` (use the task's defaults).
    public init(
        delay: Duration? = nil,
        runAt: Date? = nil,
        priority: Int? = nil,
        deduplicationKey: String? = nil,
        correlationID: String? = nil,
        queue: String? = nil,
        maxAttempts: Int? = nil,
        groupID: String? = nil,
        jobID: JobID? = nil,
        limitKey: String? = nil
    ) {
        self.delay = delay
        self.runAt = runAt
        self.priority = priority
        self.deduplicationKey = deduplicationKey
        self.correlationID = correlationID
        self.queue = queue
        self.maxAttempts = maxAttempts
        self.groupID = groupID
        self.jobID = jobID
        self.limitKey = limitKey
    }
}

/// What `ConveyorClient.enqueue(_:_:options:)` returns: the job's id, where it went, and, with the inline
/// provider, its output.
public struct JobHandle<Task: ConveyorTask>: Sendable {
    /// The job's id.
    public let id: JobID
    /// The queue it was sent to.
    public let queue: String
    /// True when the provider dropped it as a duplicate of an earlier job with the same deduplication key.
    public let deduplicated: Bool
    /// The task's output, when the provider ran it at once (inline provider); otherwise `nil`.
    public let output: Task.Output?

    /// Creates a handle.
    public init(id: JobID, queue: String, deduplicated: Bool, output: Task.Output?) {
        self.id = id
        self.queue = queue
        self.deduplicated = deduplicated
        self.output = output
    }
}
