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
/// - nothing is ever queued: ``receive(from:max:wait:)`` waits for `wait` (ending early on cancellation, or on
///   ``close()``, which makes it throw ``ConveyorError/Code/closed``) and returns no message, and ``stats(of:)``
///   is all zeros.
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
    private let state = Mutex(State())

    /// A `receive` suspended until its wait passes, its task is cancelled or the provider closes.
    private struct Waiter {
        var continuation: CheckedContinuation<Void, any Error>
        /// Resumes the receive once its wait has passed; attached right after registration.
        var timer: Task<Void, Never>?
    }

    /// Mutable state, guarded by `state`.
    private struct State {
        var closed = false
        var lastWaiterID: UInt64 = 0
        var waiters: [UInt64: Waiter] = [:]
    }

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

    /// Waits for `wait` and returns no message: inline jobs are never queued. Ends early, with no message, when the
    /// calling task is cancelled, and throws ``ConveyorError/Code/closed`` when ``close()`` is called meanwhile.
    public func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        try checkOpen()
        guard wait > .zero, !Task.isCancelled else { return [] }
        let id = state.withLock { state in
            state.lastWaiterID &+= 1
            return state.lastWaiterID
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                // Checked under the lock: a close, or a cancellation whose handler ran before the waiter was
                // registered, is seen here.
                let immediate: Result<Void, ConveyorError>? = state.withLock { state in
                    if state.closed { return .failure(Self.closedError()) }
                    if Task.isCancelled { return .success(()) }
                    state.waiters[id] = Waiter(continuation: continuation)
                    return nil
                }
                if let immediate {
                    continuation.resume(with: immediate)
                    return
                }
                let timer = Task { [weak self] in
                    do {
                        try await Task.sleep(for: wait)
                    } catch {
                        return  // woken early: cancelled or closed
                    }
                    self?.wake(id, with: .success(()))
                }
                let attached = state.withLock { state in
                    guard state.waiters[id] != nil else { return false }
                    state.waiters[id]?.timer = timer
                    return true
                }
                if !attached { timer.cancel() }
            }
        } onCancel: {
            wake(id, with: .success(()))
        }
        return []
    }

    /// Resumes waiter `id` with `result` (if it is still waiting) and stops its timer.
    private func wake(_ id: UInt64, with result: Result<Void, ConveyorError>) {
        guard let waiter = state.withLock({ $0.waiters.removeValue(forKey: id) }) else { return }
        waiter.timer?.cancel()
        waiter.continuation.resume(with: result)
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

    /// Marks the provider closed and wakes every pending ``receive(from:max:wait:)`` with
    /// ``ConveyorError/Code/closed``; further calls throw that error. Closing twice is harmless.
    public func close() async throws {
        let waiters = state.withLock { state in
            state.closed = true
            defer { state.waiters.removeAll() }
            return Array(state.waiters.values)
        }
        for waiter in waiters {
            waiter.timer?.cancel()
            waiter.continuation.resume(throwing: Self.closedError())
        }
    }

    /// The number of receives currently suspended (for tests).
    var pendingReceives: Int {
        state.withLock { $0.waiters.count }
    }

    private static func closedError() -> ConveyorError {
        ConveyorError(.closed, "the inline provider has been closed")
    }

    private func checkOpen() throws {
        if state.withLock({ $0.closed }) {
            throw Self.closedError()
        }
    }
}
