import Foundation

/// The wire form of one job: what a producer sends and a worker receives.
///
/// The JSON form is documented in `docs/wire-format.md` (version ``Envelope/currentVersion``). Field names on the
/// wire are snake_case; optional fields are omitted when absent.
public struct Envelope: Sendable, Hashable {
    /// The wire-format version this build writes and reads.
    public static let currentVersion = 1
    /// Largest ``attemptOffset`` a decoded envelope may carry (one million): a larger value is malformed, so attempt
    /// arithmetic on it can never overflow.
    public static let maximumAttemptOffset = 1_000_000

    /// Wire-format version (`v`).
    public var version: Int
    /// Job identifier (`id`).
    public var id: JobID
    /// Registered task name (`task`).
    public var task: String
    /// The task input, as UTF-8 JSON bytes (`payload`, embedded as a JSON value on the wire).
    public var payload: [UInt8]
    /// When the producer created the job (`created_at`, RFC 3339 UTC with milliseconds).
    public var createdAt: Date
    /// Correlation id shared by related jobs (`correlation_id`).
    public var correlationID: String?
    /// Deduplication key (`dedup_key`): a second job with the same key on the same queue within the provider's
    /// deduplication window is dropped.
    public var deduplicationKey: String?
    /// Priority (`priority`), 0 (lowest) to 9 (highest). Default 0.
    public var priority: Int
    /// Maximum attempts the producer asks for (`max_attempts`); `nil` means the task's registered option.
    public var maxAttempts: Int?
    /// Attempts already used before this copy was sent (`attempt_offset`): a provider that re-publishes a
    /// message for retry (RabbitMQ) or redrives it sets this so the attempt count survives the copy.
    public var attemptOffset: Int
    /// The earliest time the job may run (`not_before`); providers with bounded native delays hop until then.
    public var notBefore: Date?
    /// W3C trace context (`trace`): `traceparent` and optional `tracestate`.
    public var traceContext: [String: String]
    /// Free-form string headers (`headers`) for extensions (schedule ids, dead-letter reasons, ...).
    public var headers: [String: String]
    /// Where the worker sends this job's outcome (`reply_to`): the address of the producer's reply queue, as its
    /// provider named it (see ``ReplyingProvider``); `nil`: nobody waits for it.
    public var replyTo: String?
    /// Whether the worker also sends the job's started, progress and retrying events to ``replyTo``
    /// (`reply_events`); otherwise only the final outcome. Default `false`.
    public var replyEvents: Bool

    /// Creates an envelope.
    public init(
        id: JobID = .random(),
        task: String,
        payload: [UInt8],
        createdAt: Date = Date(),
        correlationID: String? = nil,
        deduplicationKey: String? = nil,
        priority: Int = 0,
        maxAttempts: Int? = nil,
        attemptOffset: Int = 0,
        notBefore: Date? = nil,
        traceContext: [String: String] = [:],
        headers: [String: String] = [:],
        replyTo: String? = nil,
        replyEvents: Bool = false,
        version: Int = Envelope.currentVersion
    ) {
        self.version = version
        self.id = id
        self.task = task
        self.payload = payload
        self.createdAt = createdAt
        self.correlationID = correlationID
        self.deduplicationKey = deduplicationKey
        self.priority = priority
        self.maxAttempts = maxAttempts
        self.attemptOffset = attemptOffset
        self.notBefore = notBefore
        self.traceContext = traceContext
        self.headers = headers
        self.replyTo = replyTo
        self.replyEvents = replyEvents
    }
}

extension Envelope {
    /// Well-known keys in ``headers``.
    public enum HeaderKey {
        /// Why a job was dead-lettered.
        public static let deadLetterReason = "x-dead-letter-reason"
        /// The error code that dead-lettered the job.
        public static let deadLetterCode = "x-dead-letter-code"
        /// The queue a dead-lettered job came from.
        public static let deadLetterSourceQueue = "x-dead-letter-source"
        /// The attempt on which the job was dead-lettered.
        public static let deadLetterAttempt = "x-dead-letter-attempt"
        /// When the job was dead-lettered (RFC 3339).
        public static let deadLetteredAt = "x-dead-lettered-at"
        /// The last error message of a retried job.
        public static let lastError = "x-last-error"
        /// The key a job's flow limits are counted by (``ConveyorTask/limitKey(for:)``, ``EnqueueOptions/limitKey``):
        /// jobs of one task with different keys have separate global concurrency and rate limits, e.g. one per
        /// tenant. Absent: the task's one limit.
        public static let limitKey = "x-limit-key"
        /// How many times a job was sent back because its flow limit had no permit or token free: each time adds a
        /// quarter second to the next delay (at most 2 s), so a long backlog behind a limit is not received and sent back
        /// over and over.
        public static let limitDeferrals = "x-limit-deferrals"
    }
}
