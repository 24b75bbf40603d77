import Foundation
import Synchronization

/// An in-process queue provider: the embedded default for development and tests.
///
/// It behaves like the broker providers so that code tested on it behaves the same in production: received
/// messages stay invisible for a visibility timeout and are redelivered with a higher attempt number unless
/// acknowledged; delays, priorities (0-9, higher first, FIFO within a priority), deduplication keys within a
/// window, per-queue dead-letter queues with reasons, and broker-side dead-lettering after `maxReceiveCount`
/// receives (like an SQS redrive policy).
///
/// `receive` never polls: a waiting receiver is resumed when a message is enqueued, and one timer per queue
/// wakes waiters when a delay or visibility timeout passes or their wait ends. Messages are kept as
/// ``Envelope`` values, without a JSON round trip; ``enqueueRaw(_:to:delay:)`` stores a raw body instead, to
/// exercise the handling of malformed messages.
public final class MemoryQueueProvider: QueueProvider, ReleasingQueueProvider, Sendable {
    /// How the memory provider behaves.
    public struct Configuration: Sendable {
        /// How long a received message stays invisible before it is delivered again. Default: 30 seconds.
        public var visibilityTimeout: Duration
        /// How long a deduplication key is remembered. Default: 300 seconds (as SQS FIFO queues).
        public var deduplicationWindow: Duration
        /// Receives after which the provider itself moves an unsettled message to the dead-letter queue instead
        /// of delivering it again (like an SQS redrive policy): as on SQS, the move happens when the message
        /// would be delivered for the next time, with the reason code `max_receive_count_exceeded`. Values below
        /// 1 act as 1. Default: `nil`, no limit.
        public var maxReceiveCount: Int?
        /// Whether using an unknown queue creates it. When false, unknown queues throw
        /// ``ConveyorError/Code/queueNotFound``. Default: `true`.
        public var autoCreateQueues: Bool
        /// The clock that delays, visibility timeouts, the deduplication window and receive waits follow. A test
        /// clock (one that moves only when the test advances it, such as swift-clocks' `TestClock`) makes tests
        /// of timing deterministic and instant; give the ``Worker`` the same clock
        /// (``Worker/Configuration/clock``). Message timestamps (``ReceivedMessage/enqueuedAt``) stay wall-clock
        /// dates. Default: `ContinuousClock()`.
        public var clock: any Clock<Duration>

        /// Creates a configuration.
        public init(
            visibilityTimeout: Duration = .seconds(30),
            deduplicationWindow: Duration = .seconds(300),
            maxReceiveCount: Int? = nil,
            autoCreateQueues: Bool = true,
            clock: any Clock<Duration> = ContinuousClock()
        ) {
            self.visibilityTimeout = visibilityTimeout
            self.deduplicationWindow = deduplicationWindow
            self.maxReceiveCount = maxReceiveCount
            self.autoCreateQueues = autoCreateQueues
            self.clock = clock
        }
    }

    /// The configuration this provider was created with.
    public let configuration: Configuration
    let state: Mutex<MemoryBrokerState>
    /// ``Configuration/clock``.
    let clock: InjectedClock
    /// Event subscriptions: the subscription queues of each observed queue.
    let eventSubscriptions = Mutex<[String: Set<String>]>([:])
    /// How many event subscriptions exist, so that a worker asks per job without taking a lock.
    let eventSubscriptionCount = Atomic<Int>(0)

    /// Creates an empty provider.
    public init(configuration: Configuration = .init()) {
        self.configuration = configuration
        self.clock = InjectedClock(configuration.clock)
        self.state = Mutex(MemoryBrokerState(configuration: configuration, generation: UInt64.random(in: 1...UInt64.max)))
    }

    /// `"memory"`.
    public var name: String { "memory" }

    /// Priorities, visibility timeouts, unbounded delays and deduplication, with no size limit.
    public var capabilities: ProviderCapabilities {
        ProviderCapabilities(
            priorities: true,
            visibilityTimeout: true,
            maximumNativeDelay: nil,
            deduplication: true,
            deduplicationWindow: configuration.deduplicationWindow,
            maximumMessageBytes: nil
        )
    }

    // MARK: QueueProvider

    /// Adds messages to `queue`; a message whose deduplication key was seen within the window is dropped and
    /// reported with `deduplicated: true`.
    public func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
        let now = clock.now
        let date = Date()
        return try withState { state, actions throws(ConveyorError) in
            try state.enqueue(messages, to: queue, now: now, date: date, actions: &actions)
        }
    }

    /// Stores a raw message body as a broker would receive it from a foreign producer. The body is decoded with
    /// ``EnvelopeCodec/decode(_:)``; a body that does not decode is delivered as a ``ReceivedMessage`` whose
    /// `envelope` is the decoding error and whose `rawBody` is `body`.
    public func enqueueRaw(_ body: [UInt8], to queue: String, delay: Duration = .zero) async throws {
        let decoded = Result { () throws(ConveyorError) -> Envelope in try EnvelopeCodec.decode(body) }
        switch decoded {
        case .success(let envelope):
            _ = try await enqueue([OutgoingMessage(envelope: envelope, delay: delay)], to: queue)
        case .failure(let error):
            let now = clock.now
            let date = Date()
            try withState { state, actions throws(ConveyorError) in
                try state.enqueueMalformed(body, error: error, to: queue, delay: delay, now: now, date: date, actions: &actions)
            }
        }
    }

    /// Returns up to `max` ready messages, highest priority first, waiting up to `wait` for one to arrive or
    /// become due. Cancelling the calling task ends the wait with no messages; closing the provider ends it with
    /// ``ConveyorError/Code/closed``.
    public func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        guard max >= 1 else {
            throw ConveyorError(.invalidParameter, "receive max must be at least 1 (got \(max))")
        }
        let start = clock.now
        let willWait = wait > .zero && !Task.isCancelled
        let outcome = try withState { state, actions throws(ConveyorError) in
            try state.receive(from: queue, max: max, now: start, willWait: willWait, actions: &actions)
        }
        switch outcome {
        case .messages(let messages):
            return messages
        case .wait(let waiterID):
            let deadline = start + MemoryQueue.clamped(wait)
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[ReceivedMessage], any Error>) in
                    let waiter = MemoryWaiter(id: waiterID, max: max, deadline: deadline, continuation: continuation)
                    withState { state, actions in
                        // Checked under the lock: a cancellation that ran its handler before the waiter was
                        // registered is seen here.
                        state.addWaiter(waiter, to: queue, now: clock.now, cancelled: Task.isCancelled, actions: &actions)
                    }
                }
            } onCancel: {
                run(state.withLock { $0.cancelWaiter(waiterID, queue: queue) })
            }
        }
    }

    /// Deletes the messages for good. Stale receipts (the message timed out and was delivered again, or was
    /// already settled) are ignored.
    public func acknowledge(_ messages: [ReceivedMessage]) async throws {
        try state.withLock { state throws(ConveyorError) in try state.acknowledge(messages) }
    }

    /// Returns the message for redelivery after `retryAfter`, or moves it to the dead-letter queue with `reason`
    /// when `retryAfter` is nil. Stale receipts are ignored.
    public func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
        let now = clock.now
        try withState { state, actions throws(ConveyorError) in
            try state.fail(message, reason: reason, retryAfter: retryAfter, now: now, actions: &actions)
        }
    }

    /// `false`: a released message comes back with the attempt number it had, as if it had not been received.
    public var releaseCountsAsAttempt: Bool { false }

    /// Makes the messages available again at once, as if they had not been received (their attempt number
    /// does not grow). Stale receipts are ignored.
    public func release(_ messages: [ReceivedMessage]) async throws {
        let now = clock.now
        try withState { state, actions throws(ConveyorError) in
            try state.release(messages, now: now, actions: &actions)
        }
    }

    /// Keeps the message invisible for `duration` from now (zero makes it visible at once). Stale receipts are
    /// ignored.
    public func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {
        let now = clock.now
        try withState { state, actions throws(ConveyorError) in
            try state.extendVisibility(message, by: duration, now: now, actions: &actions)
        }
    }

    /// Exact counts of `queue`.
    /// ``Configuration/visibilityTimeout``, the same for every queue.
    public func visibilityTimeout(of queue: String) async throws -> Duration? {
        configuration.visibilityTimeout
    }

    public func stats(of queue: String) async throws -> QueueStats {
        let now = clock.now
        return try withState { state, actions throws(ConveyorError) in
            try state.stats(of: queue, now: now, actions: &actions)
        }
    }

    /// Drops every queue and message and wakes pending receives with ``ConveyorError/Code/closed``; later calls
    /// throw that error. Closing twice is harmless.
    public func close() async throws {
        run(state.withLock { $0.close() })
    }

    // MARK: Actions

    /// Runs `body` on the locked state with an empty action list, then, with the lock released, the actions it
    /// decided (none when it throws).
    func withState<T, Failure: Error>(
        _ body: (inout MemoryBrokerState, inout [MemoryAction]) throws(Failure) -> sending T
    ) throws(Failure) -> sending T {
        var actions: [MemoryAction] = []
        let result = try state.withLock { state throws(Failure) in try body(&state, &actions) }
        run(actions)
        return result
    }

    /// Runs actions decided under the lock.
    func run(_ actions: [MemoryAction]) {
        for action in actions {
            switch action {
            case .resume(let continuation, let result):
                continuation.resume(with: result)
            case .cancelTimer(let task):
                task.cancel()
            case .startTimer(let queue, let id, let at):
                let clock = self.clock
                let task = Task { [weak self] in
                    var wakeAt = at
                    while true {
                        do {
                            try await clock.sleep(until: wakeAt)
                        } catch {
                            return  // superseded or closed
                        }
                        guard let self, let next = self.timerFired(id: id, queue: queue) else { return }
                        wakeAt = next
                    }
                }
                if let superseded = state.withLock({ $0.attachTimer(task, id: id, queue: queue) }) {
                    superseded.cancel()
                }
            }
        }
    }

    private func timerFired(id: UInt64, queue: String) -> ContinuousClock.Instant? {
        withState { state, actions in state.timerFired(id: id, queue: queue, now: clock.now, actions: &actions) }
    }
}
