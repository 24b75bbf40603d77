import Foundation

/// How much of a tracked job's life its producer hears about
/// (``ConveyorClient/enqueue(_:_:options:tracking:)``).
public struct Tracking: Sendable, Hashable {
    /// Whether the worker also sends started, progress and retrying events (else only the final outcome).
    public var events: Bool

    /// Only the final outcome: ``TrackedJob/result(timeout:)`` and ``TrackedJob/outcome(timeout:)``; the
    /// ``TrackedJob/events`` sequence holds the final event alone.
    public static let result = Tracking(events: false)
    /// The final outcome and every started, progress and retrying event before it.
    public static let events = Tracking(events: true)
}

/// The handle of a job enqueued with tracking, without its task's types (for tools and raw payloads).
public struct TrackedRawJob: Sendable {
    /// The job's id.
    public let id: JobID
    /// The queue it was sent to.
    public let queue: String
    /// True when the provider dropped it as a duplicate of an earlier job with the same deduplication key: its
    /// outcome goes to that job's producer, and waiting for it here throws ``ConveyorError/Code/unsupported``.
    public let deduplicated: Bool
    let tracker: ResultTracker?
    /// The outcome known at enqueue (inline provider).
    let known: JobEvent?

    package init(id: JobID, queue: String, deduplicated: Bool, tracker: ResultTracker?, known: JobEvent? = nil) {
        self.id = id
        self.queue = queue
        self.deduplicated = deduplicated
        self.tracker = tracker
        self.known = known
    }

    /// The job's final event (``JobEvent/Kind/succeeded``, ``JobEvent/Kind/deadLettered``,
    /// ``JobEvent/Kind/failed`` or ``JobEvent/Kind/cancelled``), waiting for it at most `timeout` (`nil`: no limit).
    ///
    /// A timeout throws ``ConveyorError/Code/timeout`` and cancelling the calling task throws `CancellationError`:
    /// both stop the waiting only; the job goes on, and a later call can still get its outcome.
    public func outcome(timeout: Duration? = nil) async throws -> JobEvent {
        if let known { return known }
        guard !deduplicated, let tracker else {
            throw ConveyorError(.unsupported, "job \(id) was dropped as a duplicate: its outcome goes to the producer of the first job with its deduplication key")
        }
        return try await tracker.finalEvent(for: id, timeout: timeout)
    }

    /// The job's output as JSON once it succeeded; throws ``JobFailure`` when it was dead-lettered, cancelled or failed for
    /// good, and what ``outcome(timeout:)`` throws.
    public func output(timeout: Duration? = nil) async throws -> [UInt8] {
        let event = try await outcome(timeout: timeout)
        guard event.kind == .succeeded else { throw JobFailure(event) }
        return event.output ?? Array("null".utf8)
    }

    /// The job's events as they come (started, progress, retrying, with ``Tracking/events``), ending with its final
    /// event. A sequence started late begins with the events received so far.
    public var events: AsyncStream<JobEvent> {
        if let known {
            return AsyncStream { $0.yield(known); $0.finish() }
        }
        guard !deduplicated, let tracker else { return AsyncStream { $0.finish() } }
        return tracker.events(for: id)
    }
}

/// The handle of a job of `Task` enqueued with tracking: its typed output, its outcome and its events.
///
/// ```swift
/// let job = try await client.enqueue(Resize.self, input, tracking: .events)
/// for await event in job.events where event.kind == .progress { print(event.progress ?? 0) }
/// let output = try await job.result(timeout: .seconds(30))
/// ```
public struct TrackedJob<Task: ConveyorTask>: Sendable {
    /// The untyped handle.
    public let raw: TrackedRawJob

    /// The job's id.
    public var id: JobID { raw.id }
    /// The queue it was sent to.
    public var queue: String { raw.queue }
    /// True when the provider dropped it as a duplicate (see ``TrackedRawJob/deduplicated``).
    public var deduplicated: Bool { raw.deduplicated }

    /// The task's output once the job succeeded, waiting at most `timeout` (`nil`: no limit).
    ///
    /// Throws ``JobFailure`` when the job was dead-lettered, cancelled or failed for good (with the final reason and the
    /// attempts), ``ConveyorError/Code/payloadDecodingFailed`` when the output does not decode as `Task.Output`,
    /// ``ConveyorError/Code/timeout`` after `timeout`, and `CancellationError` when the calling task is cancelled;
    /// the last two stop the waiting only, the job goes on.
    public func result(timeout: Duration? = nil) async throws -> Task.Output {
        let bytes = try await raw.output(timeout: timeout)
        if let output = try? FastJSONDecoder.decode(Task.Output.self, from: bytes) { return output }
        do {
            return try JSONDecoder().decode(Task.Output.self, from: Data(bytes))
        } catch {
            throw ConveyorError(.payloadDecodingFailed, "\(Task.name): output of job \(id): \(describeCodingError(error))")
        }
    }

    /// The job's final event; see ``TrackedRawJob/outcome(timeout:)``.
    public func outcome(timeout: Duration? = nil) async throws -> JobEvent {
        try await raw.outcome(timeout: timeout)
    }

    /// The job's events, ending with its final one; see ``TrackedRawJob/events``.
    public var events: AsyncStream<JobEvent> { raw.events }
}

/// A tracked job that did not succeed: dead-lettered, cancelled, or failed for good (for example its output was larger
/// than the broker allows).
public struct JobFailure: Error, Sendable, CustomStringConvertible {
    /// The job.
    public var jobID: JobID
    /// ``JobEvent/Kind/deadLettered``, ``JobEvent/Kind/cancelled`` or ``JobEvent/Kind/failed``.
    public var kind: JobEvent.Kind
    /// The final reason: its code (`task_error`, `non_retryable`, `timeout`, `unknown_task`, `result_too_large`, …)
    /// and message.
    public var reason: FailureReason
    /// The attempts the job used.
    public var attempts: Int

    /// The failure a final event reports.
    public init(_ event: JobEvent) {
        jobID = event.jobID
        kind = event.kind
        reason = event.reason ?? FailureReason(code: "unknown", message: "the worker gave no reason")
        attempts = event.attempt
    }

    /// E.g. `job 3f2… dead_lettered after 3 attempts: task_error: boom`.
    public var description: String {
        "job \(jobID) \(kind) after \(attempts) attempt\(attempts == 1 ? "" : "s"): \(reason)"
    }
}
