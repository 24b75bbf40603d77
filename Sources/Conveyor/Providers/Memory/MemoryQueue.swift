import DequeModule
import Foundation
import HeapModule

/// Counters shared by all queues of one memory provider.
struct MemoryCounters {
    /// Last delivery number handed out (``MemoryReceipt/sequence``).
    var delivery: UInt64 = 0
    /// Last id handed out for waiters, timers and delayed-entry ordering.
    var serial: UInt64 = 0

    mutating func next() -> UInt64 {
        serial &+= 1
        return serial
    }
}

/// The state of one memory queue and its dead-letter queue.
struct MemoryQueue {
    static let priorityLevels = 10
    /// Longest delay, timeout or wait the provider applies (100 years): longer ones are clamped, so that
    /// clock arithmetic and timers never overflow.
    static let longestDuration: Duration = .seconds(3_153_600_000)

    /// `duration` within `0...longestDuration`.
    static func clamped(_ duration: Duration) -> Duration {
        Swift.min(Swift.max(duration, .zero), longestDuration)
    }

    /// Visibility timeout of received messages.
    var visibilityTimeout: Duration
    /// Receives after which a message is dead-lettered instead of delivered again.
    var maxReceiveCount: Int?
    /// How long deduplication keys are remembered.
    var deduplicationWindow: Duration

    /// Ready messages, one FIFO per priority level (index = priority).
    var ready: [Deque<MemoryMessage>]
    var readyCount = 0
    /// Messages waiting for a delay, earliest first.
    var delayed = Heap<MemoryDelayedEntry>()
    /// Unsettled deliveries by delivery number.
    var inFlight: [UInt64: MemoryInFlightEntry] = [:]
    /// Timeouts of deliveries with the queue's default visibility timeout; in deadline order because the
    /// timeout is constant and the clock monotonic.
    var expiries = Deque<MemoryExpiry>()
    /// Timeouts set by `extendVisibility`, in any order.
    var extendedExpiries = Heap<MemoryExpiry>()
    /// The dead-letter queue, oldest first.
    var deadLetters = Deque<MemoryDeadLetterEntry>()
    /// Deduplication keys and when they expire, plus the same in expiry order for pruning.
    var deduplicationKeys: [String: ContinuousClock.Instant] = [:]
    var deduplicationOrder = Deque<(key: String, expires: ContinuousClock.Instant)>()
    /// Suspended receivers, first come first served.
    var waiters = Deque<MemoryWaiter>()
    /// The wake-up timer serving `waiters`: its id, when it fires, and its task once attached.
    var timerID: UInt64?
    var timerWakeAt: ContinuousClock.Instant?
    var timerTask: Task<Void, Never>?

    init(visibilityTimeout: Duration, maxReceiveCount: Int?, deduplicationWindow: Duration) {
        self.visibilityTimeout = visibilityTimeout
        self.maxReceiveCount = maxReceiveCount
        self.deduplicationWindow = deduplicationWindow
        self.ready = Array(repeating: Deque(), count: Self.priorityLevels)
    }

    // MARK: Enqueue

    /// Records `key`; false if it was already seen within the deduplication window.
    mutating func admitDeduplicationKey(_ key: String, now: ContinuousClock.Instant) -> Bool {
        while let first = deduplicationOrder.first, first.expires <= now {
            deduplicationOrder.removeFirst()
            if deduplicationKeys[first.key] == first.expires {
                deduplicationKeys[first.key] = nil
            }
        }
        if let expires = deduplicationKeys[key], expires > now {
            return false
        }
        let expires = now + Self.clamped(deduplicationWindow)
        deduplicationKeys[key] = expires
        deduplicationOrder.append((key, expires))
        return true
    }

    /// Adds a message, ready at once or after `delay`.
    mutating func add(
        _ message: MemoryMessage,
        delay: Duration,
        now: ContinuousClock.Instant,
        counters: inout MemoryCounters
    ) {
        if delay > .zero {
            delayed.insert(MemoryDelayedEntry(due: now + Self.clamped(delay), order: counters.next(), message: message))
        } else {
            ready[message.priority].append(message)
            readyCount += 1
        }
    }

    // MARK: Time

    /// Moves due delayed messages and timed-out deliveries to the ready queues.
    mutating func advance(now: ContinuousClock.Instant) {
        while let first = delayed.min, first.due <= now {
            let message = delayed.removeMin().message
            ready[message.priority].append(message)
            readyCount += 1
        }
        while let first = expiries.first, first.deadline <= now {
            expiries.removeFirst()
            expire(first)
        }
        while let first = extendedExpiries.min, first.deadline <= now {
            extendedExpiries.removeMin()
            expire(first)
        }
    }

    private mutating func expire(_ expiry: MemoryExpiry) {
        guard let entry = inFlight[expiry.sequence], entry.deadline == expiry.deadline else { return }  // stale
        inFlight[expiry.sequence] = nil
        ready[entry.message.priority].append(entry.message)
        readyCount += 1
    }

    /// The next time something becomes ready on its own (a delay or a visibility timeout passes).
    var nextDue: ContinuousClock.Instant? {
        var next = delayed.min?.due
        if let e = expiries.first?.deadline, next.map({ e < $0 }) ?? true { next = e }
        if let e = extendedExpiries.min?.deadline, next.map({ e < $0 }) ?? true { next = e }
        return next
    }

    // MARK: Receive

    /// Hands out up to `max` ready messages, highest priority first, appending them to `out`. Messages received
    /// `maxReceiveCount` times already are dead-lettered instead.
    mutating func take(
        max: Int,
        queue: String,
        generation: UInt64,
        now: ContinuousClock.Instant,
        counters: inout MemoryCounters,
        into out: inout [ReceivedMessage]
    ) {
        guard readyCount > 0 else { return }
        let deadline = now + visibilityTimeout
        var level = Self.priorityLevels - 1
        var taken = 0
        while taken < max, readyCount > 0 {
            while ready[level].isEmpty { level -= 1 }
            let message = ready[level].removeFirst()
            readyCount -= 1
            if let limit = maxReceiveCount, message.receiveCount >= limit {
                deadLetters.append(
                    MemoryDeadLetterEntry(
                        message: message,
                        reason: FailureReason(
                            code: "max_receive_count_exceeded",
                            message: "received \(message.receiveCount) times without being settled (maxReceiveCount \(limit))"
                        ),
                        attempts: message.attempt
                    )
                )
                continue
            }
            message.receiveCount += 1
            counters.delivery &+= 1
            let sequence = counters.delivery
            inFlight[sequence] = MemoryInFlightEntry(message: message, deadline: deadline)
            expiries.append(MemoryExpiry(deadline: deadline, sequence: sequence))
            out.append(
                ReceivedMessage(
                    queue: queue,
                    receipt: Receipt(MemoryReceipt(sequence: sequence, generation: generation)),
                    attempt: message.attempt,
                    envelope: message.envelope,
                    rawBody: message.rawBody,
                    enqueuedAt: message.enqueuedAt
                )
            )
            taken += 1
        }
    }

    /// Gives ready messages to suspended receivers, oldest waiter first.
    mutating func serveWaiters(
        queue: String,
        generation: UInt64,
        now: ContinuousClock.Instant,
        counters: inout MemoryCounters,
        actions: inout [MemoryAction]
    ) {
        while readyCount > 0, let waiter = waiters.first {
            var batch: [ReceivedMessage] = []
            batch.reserveCapacity(Swift.min(waiter.max, readyCount))
            take(max: waiter.max, queue: queue, generation: generation, now: now, counters: &counters, into: &batch)
            if batch.isEmpty { break }  // everything ready was dead-lettered
            waiters.removeFirst()
            actions.append(.resume(waiter.continuation, .success(batch)))
        }
    }

    /// Resumes, with no messages, waiters whose wait has passed.
    mutating func expireWaiters(now: ContinuousClock.Instant, actions: inout [MemoryAction]) {
        guard waiters.contains(where: { $0.deadline <= now }) else { return }
        waiters.removeAll { waiter in
            guard waiter.deadline <= now else { return false }
            actions.append(.resume(waiter.continuation, .success([])))
            return true
        }
    }

    /// Makes sure a timer fires when the first waiter's wait passes or the next message becomes due.
    mutating func scheduleTimer(queue: String, counters: inout MemoryCounters, actions: inout [MemoryAction]) {
        guard var need = waiters.first?.deadline else { return }
        for waiter in waiters where waiter.deadline < need { need = waiter.deadline }
        if let due = nextDue, due < need { need = due }
        if let current = timerWakeAt, current <= need { return }  // the running timer fires early enough
        if let task = timerTask { actions.append(.cancelTimer(task)) }
        let id = counters.next()
        timerID = id
        timerWakeAt = need
        timerTask = nil
        actions.append(.startTimer(queue: queue, id: id, at: need))
    }

    /// Drops the timer state and returns the task to cancel, if any.
    mutating func clearTimer() -> Task<Void, Never>? {
        defer {
            timerID = nil
            timerWakeAt = nil
            timerTask = nil
        }
        return timerTask
    }

    // MARK: Settle

    /// Removes the in-flight entry of `sequence`, if it is current. Call ``sweepExpiries()`` after a batch.
    mutating func acknowledge(_ sequence: UInt64) {
        inFlight.removeValue(forKey: sequence)
    }

    /// Removes the in-flight entry of `sequence`, if it is current.
    mutating func settle(_ sequence: UInt64) -> MemoryMessage? {
        guard let entry = inFlight.removeValue(forKey: sequence) else { return nil }
        sweepExpiries()
        return entry.message
    }

    mutating func extend(_ sequence: UInt64, by duration: Duration, now: ContinuousClock.Instant) {
        guard inFlight[sequence] != nil else { return }
        let deadline = now + Self.clamped(duration)
        inFlight[sequence]!.deadline = deadline
        extendedExpiries.insert(MemoryExpiry(deadline: deadline, sequence: sequence))
        if extendedExpiries.count > 2 * inFlight.count + 64 {
            extendedExpiries = Heap(extendedExpiries.unordered.filter { inFlight[$0.sequence]?.deadline == $0.deadline })
        }
    }

    /// Drops stale timeouts at the front and compacts when stale entries pile up behind a long-held delivery.
    mutating func sweepExpiries() {
        while let first = expiries.first, inFlight[first.sequence]?.deadline != first.deadline {
            expiries.removeFirst()
        }
        if expiries.count > 2 * inFlight.count + 1024 {
            expiries = Deque(expiries.filter { inFlight[$0.sequence]?.deadline == $0.deadline })
        }
    }

    // MARK: Stats

    var stats: QueueStats {
        QueueStats(ready: readyCount, inFlight: inFlight.count, delayed: delayed.count, deadLettered: deadLetters.count)
    }
}
