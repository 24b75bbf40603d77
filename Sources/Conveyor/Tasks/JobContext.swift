import Logging

/// What a task handler knows about the job it runs.
public struct JobContext: Sendable {
    /// The job's id.
    public let jobID: JobID
    /// The task's name.
    public let taskName: String
    /// The queue it came from.
    public let queue: String
    /// This attempt, from 1.
    public let attempt: Int
    /// Attempts allowed before dead-lettering.
    public let maxAttempts: Int
    /// The correlation id shared with related jobs.
    public let correlationID: String?
    /// The full envelope (headers, trace context, creation time).
    public let envelope: Envelope
    /// A logger carrying `job.id`, `job.task`, `job.attempt`, `conveyor.queue` and `correlation.id` metadata.
    public var logger: Logger
    private let progressSink: @Sendable (Double, String?) -> Void

    /// Creates a context (workers and providers do this; tests may too).
    public init(
        envelope: Envelope,
        queue: String,
        attempt: Int,
        maxAttempts: Int,
        logger: Logger,
        progress: @escaping @Sendable (Double, String?) -> Void = { _, _ in }
    ) {
        self.jobID = envelope.id
        self.taskName = envelope.task
        self.queue = queue
        self.attempt = attempt
        self.maxAttempts = maxAttempts
        self.correlationID = envelope.correlationID
        self.envelope = envelope
        var logger = logger
        logger[metadataKey: "job.id"] = .string(envelope.id.rawValue)
        logger[metadataKey: "job.task"] = .string(envelope.task)
        logger[metadataKey: "job.attempt"] = .stringConvertible(attempt)
        logger[metadataKey: "conveyor.queue"] = .string(queue)
        if let correlationID = envelope.correlationID {
            logger[metadataKey: "correlation.id"] = .string(correlationID)
        }
        self.logger = logger
        self.progressSink = progress
    }

    /// Reports progress, a fraction from 0 to 1, with an optional note; observers see a
    /// ``WorkerEvent/Kind/progressed`` event.
    public func progress(_ fraction: Double, _ note: String? = nil) {
        progressSink(min(max(fraction, 0), 1), note)
    }

    /// True on the last attempt: a failure now dead-letters the job.
    public var isLastAttempt: Bool { attempt >= maxAttempts }
}
