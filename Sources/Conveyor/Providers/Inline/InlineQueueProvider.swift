import Logging
import Synchronization

/// A provider that runs each job at once, in the caller's task, when it is enqueued (the `inline` provider).
///
/// Meant for unit tests of application code: `try await client.enqueue(Resize.self, input)` runs the handler
/// before it returns, the returned ``JobHandle/output`` holds the decoded output, and an error thrown by the
/// handler is rethrown to the caller.
///
/// Semantics, chosen to keep tests direct and deterministic:
/// - one attempt only: no retries, whatever ``TaskOptions/maxAttempts`` says (an error is rethrown at once);
/// - delays, `runAt`, priorities and deduplication keys are ignored; the task's timeout is not enforced;
/// - an unknown task throws ``ConveyorError/Code/unknownTask``, an undecodable payload
///   ``ConveyorError/Code/payloadDecodingFailed``;
/// - nothing is ever queued: ``receive(from:max:wait:)`` waits for `wait` (or cancellation) and returns no
///   message, and ``stats(of:)`` is all zeros.
public final class InlineQueueProvider: QueueProvider {
    /// `"inline"`.
    public var name: String { "inline" }

    /// No priorities, no visibility timeout, unbounded delays (ignored), no deduplication.
    public var capabilities: ProviderCapabilities {
        ProviderCapabilities(
            priorities: false,
            visibilityTimeout: false,
            maximumNativeDelay: nil,
            deduplication: false,
            maximumMessageBytes: nil
        )
    }

    private let registry: TaskRegistry
    private let logger: Logger
    private let closed = Atomic<Bool>(false)

    /// Creates an inline provider that runs the tasks of `registry`.
    public init(registry: TaskRegistry, logger: Logger = Logger(label: "conveyor.inline")) {
        self.registry = registry
        self.logger = logger
    }

    /// Runs every message's job in turn and returns results carrying the encoded outputs. The first error thrown
    /// (by a handler or while decoding its input) is rethrown; later messages are then not run.
    public func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
        try checkOpen()
        var results: [EnqueueResult] = []
        results.reserveCapacity(messages.count)
        for message in messages {
            let envelope = message.envelope
            let maxAttempts = envelope.maxAttempts ?? registry.options(for: envelope.task)?.maxAttempts ?? 1
            let context = JobContext(envelope: envelope, queue: queue, attempt: 1 + envelope.attemptOffset, maxAttempts: maxAttempts, logger: logger)
            logger.debug("running inline", metadata: ["job.id": .string(envelope.id.rawValue), "job.task": .string(envelope.task)])
            let output = try await registry.run(context)
            results.append(EnqueueResult(jobID: envelope.id, output: output))
        }
        return results
    }

    /// Waits for `wait` (ending early on cancellation) and returns no message: inline jobs are never queued.
    public func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        try checkOpen()
        try? await Task.sleep(for: wait)
        return []
    }

    /// Does nothing: inline jobs are never queued.
    public func acknowledge(_ messages: [ReceivedMessage]) async throws {}

    /// Does nothing: inline jobs are never queued.
    public func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {}

    /// Does nothing: inline jobs are never queued.
    public func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {}

    /// All zeros.
    public func stats(of queue: String) async throws -> QueueStats {
        try checkOpen()
        return QueueStats()
    }

    /// Marks the provider closed; further calls throw ``ConveyorError/Code/closed``.
    public func close() async throws {
        closed.store(true, ordering: .relaxed)
    }

    private func checkOpen() throws {
        if closed.load(ordering: .relaxed) {
            throw ConveyorError(.closed, "the inline provider has been closed")
        }
    }
}
