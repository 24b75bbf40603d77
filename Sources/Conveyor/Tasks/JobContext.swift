import Logging
import Synchronization

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
    ///
    /// The metadata is attached on first use, so jobs that never log pay nothing for it.
    public var logger: Logger {
        get { loggerBox.logger(for: self) }
        set { loggerBox = LoggerBox(ready: newValue) }
    }
    private var loggerBox: LoggerBox
    /// Where ``progress(_:_:)`` goes; middleware may wrap it (``withProgressSink(_:)``).
    private(set) var progressSink: @Sendable (Double, String?) -> Void
    /// The job as the worker holds it (message, task entry), when a worker runs it: the worker's own middleware
    /// reads the message's trace context and enqueue time and the task's timeout. A reference, so that passing the
    /// context down the chain copies one pointer, not a message.
    var job: Job?
    /// The executor slot that runs the job, when a worker runs it (``TimeoutMiddleware`` sets its deadline).
    var slot: ExecutorSlot?

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
        self.loggerBox = LoggerBox(base: logger)
        self.progressSink = progress
    }

    /// Reports progress, a fraction from 0 to 1 (values outside are clamped; not-a-number is ignored), with an
    /// optional note; observers see a ``WorkerEvent/Kind/progressed`` event.
    public func progress(_ fraction: Double, _ note: String? = nil) {
        guard !fraction.isNaN else { return }
        progressSink(min(max(fraction, 0), 1), note)
    }

    /// A copy whose progress reports go to `sink`.
    func withProgressSink(_ sink: @escaping @Sendable (Double, String?) -> Void) -> JobContext {
        var copy = self
        copy.progressSink = sink
        return copy
    }

    /// True on the last attempt: a failure now dead-letters the job.
    public var isLastAttempt: Bool { attempt >= maxAttempts }
}

/// Holds a job's logger; the job metadata is added once, when the logger is first read.
private final class LoggerBox: Sendable {
    private let state: Mutex<(logger: Logger, ready: Bool)>

    init(base: Logger) { state = Mutex((base, false)) }
    init(ready logger: Logger) { state = Mutex((logger, true)) }

    func logger(for context: JobContext) -> Logger {
        state.withLock { state in
            if !state.ready {
                var metadata = state.logger.handler.metadata
                metadata["job.id"] = .string(context.jobID.rawValue)
                metadata["job.task"] = .string(context.taskName)
                metadata["job.attempt"] = .stringConvertible(context.attempt)
                metadata["conveyor.queue"] = .string(context.queue)
                if let correlationID = context.correlationID {
                    metadata["correlation.id"] = .string(correlationID)
                }
                state.logger.handler.metadata = metadata
                state.ready = true
            }
            return state.logger
        }
    }
}
