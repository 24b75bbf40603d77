import DequeModule
import Foundation

/// Everything the memory provider knows, as a value guarded by the provider's `Mutex`. Methods return the
/// actions (resume continuations, start or cancel timers) that the provider runs after releasing the lock.
struct MemoryBrokerState {
    let configuration: MemoryQueueProvider.Configuration
    /// Distinguishes this provider's receipts from another instance's.
    let generation: UInt64
    var queues: [String: MemoryQueue] = [:]
    var counters = MemoryCounters()
    var closed = false

    init(configuration: MemoryQueueProvider.Configuration, generation: UInt64) {
        self.configuration = configuration
        self.generation = generation
    }

    /// The outcome of a receive that found nothing ready.
    enum ReceiveOutcome {
        case messages([ReceivedMessage])
        case wait(waiterID: UInt64)
    }

    // MARK: Queues

    private func closedError() -> ConveyorError {
        ConveyorError(.closed, "the memory provider has been closed; create a new MemoryQueueProvider")
    }

    private func notFound(_ queue: String) -> ConveyorError {
        ConveyorError(
            .queueNotFound,
            "memory queue \"\(queue)\" does not exist; create it with createQueue(_:options:) or enable autoCreateQueues"
        )
    }

    private func newQueue(options: QueueOptions? = nil) -> MemoryQueue {
        MemoryQueue(
            visibilityTimeout: options?.visibilityTimeout ?? configuration.visibilityTimeout,
            maxReceiveCount: options.map { $0.maxReceiveCount } ?? configuration.maxReceiveCount,
            deduplicationWindow: configuration.deduplicationWindow
        )
    }

    /// Checks the provider is open and `queue` exists, creating it when configured to.
    private mutating func prepare(_ queue: String) throws(ConveyorError) {
        guard !closed else { throw closedError() }
        if queues[queue] == nil {
            guard configuration.autoCreateQueues else { throw notFound(queue) }
            queues[queue] = newQueue()
        }
    }

    mutating func createQueue(_ queue: String, options: QueueOptions) throws(ConveyorError) {
        guard !closed else { throw closedError() }
        if queues[queue] == nil {
            queues[queue] = newQueue(options: options)
        }
    }

    mutating func deleteQueue(_ queue: String) throws(ConveyorError) -> [MemoryAction] {
        guard !closed else { throw closedError() }
        guard var removed = queues.removeValue(forKey: queue) else { return [] }
        var actions: [MemoryAction] = []
        for waiter in removed.waiters {
            actions.append(.resume(waiter.continuation, .success([])))
        }
        if let task = removed.clearTimer() { actions.append(.cancelTimer(task)) }
        return actions
    }

    // MARK: Enqueue

    mutating func enqueue(
        _ messages: [OutgoingMessage],
        to queue: String,
        now: ContinuousClock.Instant,
        date: Date,
        actions: inout [MemoryAction]
    ) throws(ConveyorError) -> [EnqueueResult] {
        try prepare(queue)
        var results: [EnqueueResult] = []
        results.reserveCapacity(messages.count)
        for message in messages {
            if let key = message.envelope.deduplicationKey,
               !queues[queue]!.admitDeduplicationKey(key, now: now) {
                results.append(EnqueueResult(jobID: message.envelope.id, deduplicated: true))
                continue
            }
            let stored = MemoryMessage(envelope: .success(message.envelope), rawBody: nil, enqueuedAt: date)
            queues[queue]!.add(stored, delay: message.delay, now: now, counters: &counters)
            results.append(EnqueueResult(jobID: message.envelope.id))
        }
        wake(queue, now: now, delayedAdded: true, actions: &actions)
        return results
    }

    mutating func enqueueMalformed(
        _ body: [UInt8],
        error: ConveyorError,
        to queue: String,
        delay: Duration,
        now: ContinuousClock.Instant,
        date: Date,
        actions: inout [MemoryAction]
    ) throws(ConveyorError) {
        try prepare(queue)
        let stored = MemoryMessage(envelope: .failure(error), rawBody: body, enqueuedAt: date)
        queues[queue]!.add(stored, delay: delay, now: now, counters: &counters)
        wake(queue, now: now, delayedAdded: true, actions: &actions)
    }

    /// After a change to `queue`: serve waiters and, if some still wait, make sure a timer will wake them.
    private mutating func wake(
        _ queue: String,
        now: ContinuousClock.Instant,
        delayedAdded: Bool,
        actions: inout [MemoryAction]
    ) {
        guard !queues[queue]!.waiters.isEmpty else { return }
        queues[queue]!.serveWaiters(queue: queue, generation: generation, now: now, counters: &counters, actions: &actions)
        if delayedAdded, !queues[queue]!.waiters.isEmpty {
            queues[queue]!.scheduleTimer(queue: queue, counters: &counters, actions: &actions)
        }
    }

    // MARK: Receive

    /// Takes what is ready; when nothing is, returns a waiter id to suspend with (`wait > 0`).
    mutating func receive(
        from queue: String,
        max: Int,
        now: ContinuousClock.Instant,
        willWait: Bool,
        actions: inout [MemoryAction]
    ) throws(ConveyorError) -> ReceiveOutcome {
        try prepare(queue)
        queues[queue]!.advance(now: now)
        var out: [ReceivedMessage] = []
        if queues[queue]!.readyCount > 0 {
            // Earlier waiters come first.
            queues[queue]!.serveWaiters(queue: queue, generation: generation, now: now, counters: &counters, actions: &actions)
            out.reserveCapacity(Swift.min(max, queues[queue]!.readyCount))
            queues[queue]!.take(max: max, queue: queue, generation: generation, now: now, counters: &counters, into: &out)
        }
        if !out.isEmpty || !willWait { return .messages(out) }
        return .wait(waiterID: counters.next())
    }

    /// Registers a suspended receiver, or resumes it at once if messages arrived, the task was cancelled or the
    /// provider closed since ``receive(from:max:now:willWait:actions:)``.
    mutating func addWaiter(
        _ waiter: MemoryWaiter,
        to queue: String,
        now: ContinuousClock.Instant,
        cancelled: Bool,
        actions: inout [MemoryAction]
    ) {
        if closed {
            actions.append(.resume(waiter.continuation, .failure(closedError())))
            return
        }
        guard queues[queue] != nil, !cancelled else {
            actions.append(.resume(waiter.continuation, .success([])))
            return
        }
        queues[queue]!.advance(now: now)
        queues[queue]!.waiters.append(waiter)
        queues[queue]!.serveWaiters(queue: queue, generation: generation, now: now, counters: &counters, actions: &actions)
        queues[queue]!.scheduleTimer(queue: queue, counters: &counters, actions: &actions)
    }

    /// Resumes a cancelled receiver with no messages (if it is still waiting).
    mutating func cancelWaiter(_ id: UInt64, queue: String) -> [MemoryAction] {
        guard queues[queue] != nil,
              let index = queues[queue]!.waiters.firstIndex(where: { $0.id == id }) else { return [] }
        let waiter = queues[queue]!.waiters.remove(at: index)
        return [.resume(waiter.continuation, .success([]))]
    }

    /// Stores the task of timer `id`, or returns it for cancellation if the timer was superseded meanwhile.
    mutating func attachTimer(_ task: Task<Void, Never>, id: UInt64, queue: String) -> Task<Void, Never>? {
        guard !closed, queues[queue]?.timerID == id else { return task }
        queues[queue]!.timerTask = task
        return nil
    }

    /// Timer `id` of `queue` fired: moves due messages, serves and expires waiters. Returns when to fire next,
    /// or nil when the timer is no longer needed (or was superseded).
    mutating func timerFired(
        id: UInt64,
        queue: String,
        now: ContinuousClock.Instant,
        actions: inout [MemoryAction]
    ) -> ContinuousClock.Instant? {
        guard !closed, queues[queue]?.timerID == id else { return nil }
        queues[queue]!.advance(now: now)
        queues[queue]!.serveWaiters(queue: queue, generation: generation, now: now, counters: &counters, actions: &actions)
        queues[queue]!.expireWaiters(now: now, actions: &actions)
        guard var next = queues[queue]!.waiters.first?.deadline else {
            _ = queues[queue]!.clearTimer()  // this very task: it ends by returning nil
            return nil
        }
        for waiter in queues[queue]!.waiters where waiter.deadline < next { next = waiter.deadline }
        if let due = queues[queue]!.nextDue, due < next { next = due }
        queues[queue]!.timerWakeAt = next
        return next
    }

    // MARK: Settle

    mutating func acknowledge(_ messages: [ReceivedMessage]) throws(ConveyorError) {
        guard !closed else { throw closedError() }
        for message in messages where message.receipt.generation == generation {
            queues[message.queue]?.acknowledge(message.receipt.sequence)
        }
    }

    mutating func fail(
        _ message: ReceivedMessage,
        reason: FailureReason,
        retryAfter: Duration?,
        now: ContinuousClock.Instant,
        actions: inout [MemoryAction]
    ) throws(ConveyorError) {
        guard !closed else { throw closedError() }
        let queue = message.queue
        guard message.receipt.generation == generation,
              queues[queue] != nil,
              let stored = queues[queue]!.settle(message.receipt.sequence) else { return }  // stale receipt
        if let retryAfter {
            queues[queue]!.add(stored, delay: retryAfter, now: now, counters: &counters)
            wake(queue, now: now, delayedAdded: true, actions: &actions)
        } else {
            queues[queue]!.deadLetters.append(MemoryDeadLetterEntry(message: stored, reason: reason, attempts: stored.attempt))
        }
    }

    mutating func extendVisibility(
        _ message: ReceivedMessage,
        by duration: Duration,
        now: ContinuousClock.Instant,
        actions: inout [MemoryAction]
    ) throws(ConveyorError) {
        guard !closed else { throw closedError() }
        let queue = message.queue
        guard message.receipt.generation == generation, queues[queue] != nil else { return }
        queues[queue]!.extend(message.receipt.sequence, by: duration, now: now)
        // A shorter timeout (down to zero: visible at once) may concern waiters; a longer one only makes their
        // timer fire early, after which it re-arms.
        queues[queue]!.advance(now: now)
        wake(queue, now: now, delayedAdded: true, actions: &actions)
    }

    mutating func stats(of queue: String, now: ContinuousClock.Instant, actions: inout [MemoryAction]) throws(ConveyorError) -> QueueStats {
        guard !closed else { throw closedError() }
        guard queues[queue] != nil else {
            guard configuration.autoCreateQueues else { throw notFound(queue) }
            return QueueStats()
        }
        queues[queue]!.advance(now: now)
        wake(queue, now: now, delayedAdded: false, actions: &actions)
        return queues[queue]!.stats
    }

    // MARK: Dead letters

    mutating func deadLetters(of queue: String, limit: Int) throws(ConveyorError) -> [DeadLetter] {
        guard !closed else { throw closedError() }
        guard let q = queues[queue] else {
            guard configuration.autoCreateQueues else { throw notFound(queue) }
            return []
        }
        return q.deadLetters.prefix(Swift.max(limit, 0)).map { entry in
            DeadLetter(envelope: entry.message.envelope, rawBody: entry.message.rawBody, reason: entry.reason, attempts: entry.attempts)
        }
    }

    mutating func redrive(
        _ queue: String,
        ids: Set<JobID>?,
        now: ContinuousClock.Instant,
        date: Date,
        actions: inout [MemoryAction]
    ) throws(ConveyorError) -> Int {
        guard !closed else { throw closedError() }
        guard queues[queue] != nil else {
            guard configuration.autoCreateQueues else { throw notFound(queue) }
            return 0
        }
        var kept = Deque<MemoryDeadLetterEntry>()
        var moved = 0
        for entry in queues[queue]!.deadLetters {
            let selected: Bool
            if let ids {
                if case .success(let envelope) = entry.message.envelope { selected = ids.contains(envelope.id) } else { selected = false }
            } else {
                selected = true
            }
            guard selected else {
                kept.append(entry)
                continue
            }
            var envelope = entry.message.envelope
            if case .success(var e) = envelope {
                e.attemptOffset = 0
                envelope = .success(e)
            }
            let fresh = MemoryMessage(envelope: envelope, rawBody: entry.message.rawBody, enqueuedAt: date)
            queues[queue]!.add(fresh, delay: .zero, now: now, counters: &counters)
            moved += 1
        }
        queues[queue]!.deadLetters = kept
        wake(queue, now: now, delayedAdded: false, actions: &actions)
        return moved
    }

    mutating func purgeDeadLetters(of queue: String) throws(ConveyorError) -> Int {
        guard !closed else { throw closedError() }
        guard queues[queue] != nil else {
            guard configuration.autoCreateQueues else { throw notFound(queue) }
            return 0
        }
        let count = queues[queue]!.deadLetters.count
        queues[queue]!.deadLetters.removeAll()
        return count
    }

    // MARK: Close

    mutating func close() -> [MemoryAction] {
        guard !closed else { return [] }
        closed = true
        var actions: [MemoryAction] = []
        for name in queues.keys {
            for waiter in queues[name]!.waiters {
                actions.append(.resume(waiter.continuation, .failure(closedError())))
            }
            if let task = queues[name]!.clearTimer() { actions.append(.cancelTimer(task)) }
        }
        queues.removeAll()
        return actions
    }
}
