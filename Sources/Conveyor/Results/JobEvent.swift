import Foundation

/// Something that happened to one job, as its producer (``TrackedJob/events``) and observers see it across
/// processes: started, progress, retrying, and its one final outcome (succeeded, dead-lettered, failed or
/// cancelled).
///
/// Workers send these to the reply queue named in the job's ``Envelope/replyTo``; the wire form is documented in
/// `docs/wire-format.md` ("Replies and events").
public struct JobEvent: Sendable, Hashable, CustomStringConvertible {
    /// What happened. An extensible set: compare with the static members.
    public struct Kind: Hashable, Sendable, CustomStringConvertible {
        /// The kind's stable identifier on the wire, e.g. `"dead_lettered"`.
        public let rawValue: String
        /// Creates a kind.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// The raw value.
        public var description: String { rawValue }

        /// An attempt started.
        public static let started = Kind("started")
        /// The handler reported progress (``JobEvent/progress``, ``JobEvent/note``).
        public static let progress = Kind("progress")
        /// An attempt failed; the job runs again after ``JobEvent/retryAfter`` (``JobEvent/reason`` says why).
        public static let retrying = Kind("retrying")
        /// Final: the job succeeded; ``JobEvent/output`` holds its output.
        public static let succeeded = Kind("succeeded")
        /// Final: the job was dead-lettered (attempts exhausted, a non-retryable error, an unknown task or an
        /// undecodable input); ``JobEvent/reason`` says why.
        public static let deadLettered = Kind("dead_lettered")
        /// Final: the job ended but its outcome cannot be delivered (for example an output larger than the broker
        /// allows: reason code `result_too_large`).
        public static let failed = Kind("failed")
        /// Final: the job was cancelled (``ConveyorClient/cancel(_:in:expiresAfter:)``) before it ran or while it
        /// ran; it is not retried nor dead-lettered. ``JobEvent/reason`` has code `cancelled`.
        public static let cancelled = Kind("cancelled")
        /// Observers only: the job was enqueued.
        public static let enqueued = Kind("enqueued")
        /// Observers only: an attempt was interrupted (the worker shut down, or its message could not be settled);
        /// the broker delivers the job again.
        public static let interrupted = Kind("interrupted")

        /// Observers only: a worker's heartbeat (``JobEvent/workerHeartbeat``). Its ``JobEvent/jobID`` is the
        /// worker's id; it is about no job.
        public static let workerHeartbeat = Kind("worker_heartbeat")

        /// Whether this kind ends the job: nothing follows it.
        public var isFinal: Bool { self == .succeeded || self == .deadLettered || self == .failed || self == .cancelled }
    }

    /// What happened.
    public var kind: Kind
    /// The job.
    public var jobID: JobID
    /// The job's task.
    public var task: String
    /// The queue the job ran from.
    public var queue: String
    /// The attempt, from 1.
    public var attempt: Int
    /// When the worker sent it.
    public var at: Date
    /// Progress fraction, 0 to 1 (``Kind/progress``).
    public var progress: Double?
    /// The note passed with progress (``Kind/progress``).
    public var note: String?
    /// The task's output as JSON (``Kind/succeeded``).
    public var output: [UInt8]?
    /// Why the attempt or the job failed (``Kind/retrying``, ``Kind/deadLettered``, ``Kind/failed``,
    /// ``Kind/cancelled``).
    public var reason: FailureReason?
    /// Delay before the next attempt (``Kind/retrying``).
    public var retryAfter: Duration?
    /// The worker's state (``Kind/workerHeartbeat``).
    public var workerHeartbeat: WorkerHeartbeat?

    /// Creates an event.
    public init(
        kind: Kind, jobID: JobID, task: String, queue: String, attempt: Int, at: Date = Date(), progress: Double? = nil,
        note: String? = nil, output: [UInt8]? = nil, reason: FailureReason? = nil, retryAfter: Duration? = nil
    ) {
        self.kind = kind
        self.jobID = jobID
        self.task = task
        self.queue = queue
        self.attempt = attempt
        self.at = at
        self.progress = progress
        self.note = note
        self.output = output
        self.reason = reason
        self.retryAfter = retryAfter
    }

    /// The heartbeat event of a worker, sent to `queue`'s observers.
    public init(heartbeat: WorkerHeartbeat, queue: String, at: Date = Date()) {
        self.init(kind: .workerHeartbeat, jobID: JobID(heartbeat.workerID), task: "", queue: queue, attempt: 1, at: at)
        self.workerHeartbeat = heartbeat
    }

    /// A one-line summary, e.g. `progress resize 3f2… attempt 1 on images 40%`.
    public var description: String {
        var text = "\(kind) \(task) \(jobID) attempt \(attempt) on \(queue)"
        if let progress { text += progress.isNaN ? " ?%" : " \(Int((min(max(progress, 0), 1) * 100).rounded()))%" }
        if let note { text += " \(note)" }
        if let reason { text += " \(reason)" }
        return text
    }
}
