import DequeModule
import Foundation

/// Everything the memory provider knows, as a value guarded by the provider's `Mutex`. Methods return the
/// actions (resume continuations, start or cancel timers) that the provider runs after releasing the lock.
///
/// Queues are reached through dictionary indices and mutated in place (`queues.values[index]`), never read
/// through `queues[name]`, which would copy the whole queue state.
struct MemoryBrokerState {
    typealias QueueIndex = Dictionary<String, MemoryQueue>.Index

    let configuration: MemoryQueueProvider.Configuration
    /// Distinguishes this provider's receipts from another instance's.
    let generation: UInt64
    var queues: [String: MemoryQueue] = [:]
    var counters = MemoryCounters()
    var closed = false
    /// Queues paused (``PausingProvider``); a queue need not exist to be paused.
    var paused: Set<String> = []
    /// Cancellation markers (``CancellingProvider``) per queue: job id and expiry.
    var cancellations: [String: [JobID: Date]] = [:]

    init(configuration: MemoryQueueProvider.Configuration, generation: UInt64) {
        self.configuration = configuration
        self.generation = generation
    }

    /// The outcome of a receive.
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
        let maxReceiveCount = options.map { $0.maxReceiveCount } ?? configuration.maxReceiveCount
        return MemoryQueue(
            visibilityTimeout: MemoryQueue.clamped(options?.visibilityTimeout ?? configuration.visibilityTimeout),
            maxReceiveCount: maxReceiveCount.map { Swift.max($0, 1) },
            deduplicationWindow: configuration.deduplicationWindow
        )
    }

    /// Runs `body` on the queue at `index`, in place.
    @inline(__always)
    private mutating func update<R>(_ index: QueueIndex, _ body: (inout MemoryQueue, inout MemoryCounters) -> R) -> R {
        body(&queues.values[index], &counters)
    }

    /// Checks the provider is open and returns the index of `queue`, creating the queue when configured to.
    private mutating func prepare(_ queue: String) throws(ConveyorError) -> QueueIndex {
        guard !closed else { throw closedError() }
        if let index = queues.index(forKey: queue) { return index }
        guard configuration.autoCreateQueues else { throw notFound(queue) }
        queues[queue] = newQueue()
        return queues.index(forKey: queue)!
    }

    /// The index of an existing queue; nil (or queueNotFound when queues are not auto-created) otherwise.
    private func existing(_ queue: String) throws(ConveyorError) -> QueueIndex? {
        guard !closed else { throw closedError() }
        if let index = queues.index(forKey: queue) { return index }
        guard configuration.autoCreateQueues else { throw notFound(queue) }
        return nil
    }

    mutating func createQueue(_ queue: String, options: QueueOptions) throws(ConveyorError) {
        guard !closed else { throw closedError() }
        if queues.index(forKey: queue) == nil {
            queues[queue] = newQueue(options: options)
        }
    }

    mutating func deleteQueue(_ queue: String) throws(ConveyorError) -> [MemoryAction] {
        guard !closed else { throw closedError() }
        paused.remove(queue)
        cancellations[queue] = nil
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
        let index = try prepare(queue)
        let results = update(index) { q, counters in
            var results: [EnqueueResult] = []
            results.reserveCapacity(messages.count)
            for message in messages {
                if let key = message.envelope.deduplicationKey, !q.admitDeduplicationKey(key, now: now) {
                    results.append(EnqueueResult(jobID: message.envelope.id, deduplicated: true))
                    continue
                }
                let stored = MemoryMessage(envelope: .success(message.envelope), rawBody: nil, enqueuedAt: date)
                q.add(stored, delay: message.delay, now: now, counters: &counters)
                results.append(EnqueueResult(jobID: message.envelope.id))
            }
            return results
        }
        wake(index, queue, now: now, rearm: true, actions: &actions)
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
        let index = try prepare(queue)
        let stored = MemoryMessage(envelope: .failure(error), rawBody: body, enqueuedAt: date)
        update(index) { q, counters in q.add(stored, delay: delay, now: now, counters: &counters) }
        wake(index, queue, now: now, rearm: true, actions: &actions)
    }

    /// After a change to a queue: serve its waiters and, with `rearm`, make sure a timer wakes those still
    /// waiting in time (a new delay or timeout may be earlier than the armed one).
    private mutating func wake(
        _ index: QueueIndex,
        _ queue: String,
        now: ContinuousClock.Instant,
        rearm: Bool,
        actions: inout [MemoryAction]
    ) {
        let generation = generation
        update(index) { q, counters in
            guard !q.waiters.isEmpty else { return }
            q.serveWaiters(queue: queue, generation: generation, now: now, counters: &counters, actions: &actions)
            if rearm, !q.waiters.isEmpty {
                q.scheduleTimer(queue: queue, counters: &counters, actions: &actions)
            }
        }
    }

    // MARK: Receive

    /// Takes what is ready; when nothing is and `willWait`, returns a waiter id to suspend with.
    mutating func receive(
        from queue: String,
        max: Int,
        now: ContinuousClock.Instant,
        willWait: Bool,
        actions: inout [MemoryAction]
    ) throws(ConveyorError) -> ReceiveOutcome {
        let index = try prepare(queue)
        let generation = generation
        return update(index) { q, counters in
            q.advance(now: now)
            var out: [ReceivedMessage] = []
            if q.readyCount > 0 {
                // Earlier waiters come first.
                q.serveWaiters(queue: queue, generation: generation, now: now, counters: &counters, actions: &actions)
                out.reserveCapacity(Swift.min(max, q.readyCount))
                q.take(max: max, queue: queue, generation: generation, now: now, counters: &counters, into: &out)
            }
            if !out.isEmpty || !willWait { return .messages(out) }
            return .wait(waiterID: counters.next())
        }
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
        guard let index = queues.index(forKey: queue), !cancelled else {
            actions.append(.resume(waiter.continuation, .success([])))
            return
        }
        let generation = generation
        update(index) { q, counters in
            q.advance(now: now)
            q.waiters.append(waiter)
            q.serveWaiters(queue: queue, generation: generation, now: now, counters: &counters, actions: &actions)
            q.scheduleTimer(queue: queue, counters: &counters, actions: &actions)
        }
    }

    /// Resumes a cancelled receiver with no messages (if it is still waiting).
    mutating func cancelWaiter(_ id: UInt64, queue: String) -> [MemoryAction] {
        guard let index = queues.index(forKey: queue) else { return [] }
        return update(index) { q, _ in
            guard let position = q.waiters.firstIndex(where: { $0.id == id }) else { return [] }
            let waiter = q.waiters.remove(at: position)
            return [.resume(waiter.continuation, .success([]))]
        }
    }

    /// Stores the task of timer `id`, or returns it for cancellation if the timer was superseded meanwhile.
    mutating func attachTimer(_ task: Task<Void, Never>, id: UInt64, queue: String) -> Task<Void, Never>? {
        guard !closed, let index = queues.index(forKey: queue) else { return task }
        return update(index) { q, _ in
            guard q.timerID == id else { return task }
            q.timerTask = task
            return nil
        }
    }

    /// Timer `id` of `queue` fired: expires waiters whose wait has passed, moves due messages, serves the
    /// remaining waiters. Returns when to fire next, or nil when the timer is no longer needed (or superseded).
    mutating func timerFired(
        id: UInt64,
        queue: String,
        now: ContinuousClock.Instant,
        actions: inout [MemoryAction]
    ) -> ContinuousClock.Instant? {
        guard !closed, let index = queues.index(forKey: queue) else { return nil }
        let generation = generation
        return update(index) { q, counters in
            guard q.timerID == id else { return nil }
            // Waiters whose wait has passed go first, empty-handed: when the timer runs late (a busy machine), a
            // message that became due after a waiter's deadline must not reach it.
            q.expireWaiters(now: now, actions: &actions)
            q.advance(now: now)
            q.serveWaiters(queue: queue, generation: generation, now: now, counters: &counters, actions: &actions)
            guard var next = q.waiters.first?.deadline else {
                _ = q.clearTimer()  // this very task: it ends when it gets nil
                return nil
            }
            for waiter in q.waiters where waiter.deadline < next { next = waiter.deadline }
            if let due = q.nextDue, due < next { next = due }
            q.timerWakeAt = next
            return next
        }
    }

    // MARK: Settle

    mutating func acknowledge(_ messages: [ReceivedMessage]) throws(ConveyorError) {
        guard !closed else { throw closedError() }
        // Batches usually come from one queue: look it up once per run of equal names, and sweep its stale
        // timeouts once at the end of the run.
        var current: (name: String, index: QueueIndex?)?
        for message in messages where message.memoryReceipt.generation == generation {
            if current?.name != message.queue {
                if let index = current?.index { update(index) { q, _ in q.sweepExpiries() } }
                current = (message.queue, queues.index(forKey: message.queue))
            }
            guard let index = current?.index else { continue }
            update(index) { q, _ in q.acknowledge(message.memoryReceipt.sequence) }
        }
        if let index = current?.index { update(index) { q, _ in q.sweepExpiries() } }
    }

    mutating func fail(
        _ message: ReceivedMessage,
        reason: FailureReason,
        retryAfter: Duration?,
        now: ContinuousClock.Instant,
        actions: inout [MemoryAction]
    ) throws(ConveyorError) {
        guard !closed else { throw closedError() }
        guard message.memoryReceipt.generation == generation, let index = queues.index(forKey: message.queue) else { return }
        let settled: Bool = update(index) { q, counters in
            guard let stored = q.settle(message.memoryReceipt.sequence) else { return false }  // stale receipt
            if let retryAfter {
                q.add(stored, delay: retryAfter, now: now, counters: &counters)
            } else {
                q.deadLetters.append(MemoryDeadLetterEntry(message: stored, reason: reason, attempts: stored.attempt))
            }
            return true
        }
        if settled, retryAfter != nil {
            wake(index, message.queue, now: now, rearm: true, actions: &actions)
        }
    }

    /// Puts received messages back at once with the receive that handed them out undone.
    mutating func release(_ messages: [ReceivedMessage], now: ContinuousClock.Instant, actions: inout [MemoryAction]) throws(ConveyorError) {
        guard !closed else { throw closedError() }
        var woken: Set<String> = []
        for message in messages where message.memoryReceipt.generation == generation {
            guard let index = queues.index(forKey: message.queue) else { continue }
            let released: Bool = update(index) { q, counters in
                guard let stored = q.settle(message.memoryReceipt.sequence) else { return false }  // stale receipt
                stored.receiveCount = max(0, stored.receiveCount - 1)
                q.add(stored, delay: .zero, now: now, counters: &counters)
                return true
            }
            if released && woken.insert(message.queue).inserted {
                wake(index, message.queue, now: now, rearm: true, actions: &actions)
            }
        }
    }

    mutating func extendVisibility(
        _ message: ReceivedMessage,
        by duration: Duration,
        now: ContinuousClock.Instant,
        actions: inout [MemoryAction]
    ) throws(ConveyorError) {
        guard !closed else { throw closedError() }
        guard message.memoryReceipt.generation == generation, let index = queues.index(forKey: message.queue) else { return }
        update(index) { q, _ in
            q.extend(message.memoryReceipt.sequence, by: duration, now: now)
            q.advance(now: now)
        }
        // A shorter timeout (down to zero: visible at once) may concern waiters; a longer one only makes their
        // timer fire early, after which it re-arms.
        wake(index, message.queue, now: now, rearm: true, actions: &actions)
    }

    mutating func stats(of queue: String, now: ContinuousClock.Instant, actions: inout [MemoryAction]) throws(ConveyorError) -> QueueStats {
        guard let index = try existing(queue) else { return QueueStats() }
        update(index) { q, _ in q.advance(now: now) }
        wake(index, queue, now: now, rearm: false, actions: &actions)
        return queues.values[index].stats
    }

    // MARK: Dead letters

    mutating func deadLetters(of queue: String, limit: Int) throws(ConveyorError) -> [DeadLetter] {
        guard let index = try existing(queue) else { return [] }
        return queues.values[index].deadLetters.prefix(Swift.max(limit, 0)).map { entry in
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
        guard let index = try existing(queue) else { return 0 }
        let moved = update(index) { q, counters in
            var kept = Deque<MemoryDeadLetterEntry>()
            var moved = 0
            for entry in q.deadLetters {
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
                if case .success(let e) = envelope {
                    envelope = .success(e.redriven())
                }
                let fresh = MemoryMessage(envelope: envelope, rawBody: entry.message.rawBody, enqueuedAt: date)
                q.add(fresh, delay: .zero, now: now, counters: &counters)
                moved += 1
            }
            q.deadLetters = kept
            return moved
        }
        wake(index, queue, now: now, rearm: false, actions: &actions)
        return moved
    }

    mutating func purgeDeadLetters(of queue: String) throws(ConveyorError) -> Int {
        guard let index = try existing(queue) else { return 0 }
        return update(index) { q, _ in
            let count = q.deadLetters.count
            q.deadLetters.removeAll()
            return count
        }
    }

    // MARK: Close

    mutating func close() -> [MemoryAction] {
        guard !closed else { return [] }
        closed = true
        var actions: [MemoryAction] = []
        let error = closedError()
        for index in queues.indices {
            update(index) { q, _ in
                for waiter in q.waiters {
                    actions.append(.resume(waiter.continuation, .failure(error)))
                }
                if let task = q.clearTimer() { actions.append(.cancelTimer(task)) }
            }
        }
        queues.removeAll()
        return actions
    }
}
