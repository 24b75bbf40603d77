/// Something that happened to a job in a ``Worker``; observe them with ``Worker/events(bufferingPolicy:)``.
public struct WorkerEvent: Sendable, CustomStringConvertible {
    /// What happened. An extensible set: compare with the static members.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        /// The kind's stable identifier, e.g. `"dead_lettered"`.
        public let rawValue: String
        /// Creates a kind.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// The raw value.
        public var description: String { rawValue }

        /// The handler started an attempt.
        public static let started = Kind("started")
        /// The handler reported progress (``WorkerEvent/progress``, ``WorkerEvent/note``).
        public static let progressed = Kind("progressed")
        /// The attempt succeeded and the message was acknowledged.
        public static let succeeded = Kind("succeeded")
        /// The attempt failed and the job will be retried after ``WorkerEvent/retryAfter``.
        public static let retried = Kind("retried")
        /// The job was moved to the dead-letter queue (attempts exhausted, non-retryable error, unknown task,
        /// undecodable payload or malformed message).
        public static let deadLettered = Kind("dead_lettered")
        /// The attempt was interrupted by shutdown and its message returned for redelivery, or its message could
        /// not be settled; the broker will deliver it again.
        public static let failed = Kind("failed")
        /// The job was cancelled (``ConveyorClient/cancel(_:in:expiresAfter:)``) before or while it ran; its message
        /// was acknowledged, not retried nor dead-lettered.
        public static let cancelled = Kind("cancelled")
    }

    /// What happened.
    public var kind: Kind
    /// The job's id; `nil` for a message whose body could not be decoded.
    public var jobID: JobID?
    /// The task's name; `nil` for a message whose body could not be decoded.
    public var task: String?
    /// The queue the job came from.
    public var queue: String
    /// The attempt, from 1.
    public var attempt: Int
    /// How long the attempt ran (``Kind/succeeded``, ``Kind/retried``, ``Kind/deadLettered``, ``Kind/failed``).
    public var duration: Duration?
    /// Progress fraction, 0 to 1 (``Kind/progressed``).
    public var progress: Double?
    /// The note passed with progress (``Kind/progressed``).
    public var note: String?
    /// The error, for failures: `code: message`.
    public var error: String?
    /// Delay before the retry (``Kind/retried``).
    public var retryAfter: Duration?

    /// Creates an event.
    public init(
        kind: Kind,
        jobID: JobID?,
        task: String?,
        queue: String,
        attempt: Int,
        duration: Duration? = nil,
        progress: Double? = nil,
        note: String? = nil,
        error: String? = nil,
        retryAfter: Duration? = nil
    ) {
        self.kind = kind
        self.jobID = jobID
        self.task = task
        self.queue = queue
        self.attempt = attempt
        self.duration = duration
        self.progress = progress
        self.note = note
        self.error = error
        self.retryAfter = retryAfter
    }

    /// A one-line summary, e.g. `retried send-email 3f2… attempt 1 on default retry in 2.0 seconds error: …`.
    public var description: String {
        var text = "\(kind) \(task ?? "<malformed>") \(jobID?.rawValue ?? "-") attempt \(attempt) on \(queue)"
        // Whatever the event holds (its initializer is public), the text never traps: a value that is not a
        // number prints as such, others as a clamped percentage.
        if let progress {
            text += progress.isNaN ? " ?%" : " \(Int((min(max(progress, 0), 1) * 100).rounded()))%"
        }
        if let note { text += " \(note)" }
        if let retryAfter { text += " retry in \(retryAfter)" }
        if let error { text += " error: \(error)" }
        return text
    }
}
