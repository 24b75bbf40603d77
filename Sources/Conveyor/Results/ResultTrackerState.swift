import DequeModule
import HeapModule

/// The bookkeeping of a ``ResultTracker`` as a value: which jobs are tracked, the events each has had, who waits
/// for them. Every change returns what to do (resume a waiter, yield to a stream) so that it runs outside the
/// lock; unit-tested without I/O.
struct ResultTrackerState {
    /// A waiter for a job's final event.
    typealias Waiter = CheckedContinuation<JobEvent, any Error>
    /// A subscriber to a job's events.
    typealias Subscriber = AsyncStream<JobEvent>.Continuation

    struct Entry {
        /// Events so far (at most ``maximumHistory``; older progress events go first).
        var history: [JobEvent] = []
        /// The final event, once it came.
        var final: JobEvent?
        var waiters: [UInt64: Waiter] = [:]
        var subscribers: [UInt64: Subscriber] = [:]
    }

    /// What to do after a change, outside the lock.
    struct Actions {
        var resume: [(Waiter, Result<JobEvent, any Error>)] = []
        var yield: [(Subscriber, JobEvent)] = []
        var finish: [Subscriber] = []
        /// Start the timer: call ``expire(now:timer:)`` with this generation at this instant (any earlier timer is
        /// superseded and may be cancelled).
        var arm: Timer?

        var isEmpty: Bool { resume.isEmpty && yield.isEmpty && finish.isEmpty && arm == nil }

        /// Runs the actions.
        func run() {
            for (waiter, result) in resume { waiter.resume(with: result) }
            for (subscriber, event) in yield { subscriber.yield(event) }
            for subscriber in finish { subscriber.finish() }
        }
    }

    /// What became of a delivered event.
    enum Delivery: Equatable {
        /// It was new: handed to the job's waiters and subscribers.
        case delivered
        /// The job is not tracked here (another producer's, or forgotten).
        case untracked
        /// The job already had its final event: a duplicate (a retry, a redelivery), dropped.
        case duplicate
    }

    /// The one timer of the tracker, which fails waiters whose timeout passed.
    struct Timer: Equatable {
        var at: ContinuousClock.Instant
        var generation: UInt64
    }

    /// A waiter with a timeout.
    private struct Deadline: Comparable {
        var at: ContinuousClock.Instant
        var token: UInt64
        static func < (a: Deadline, b: Deadline) -> Bool { (a.at, a.token) < (b.at, b.token) }
    }

    /// Events kept per job for subscribers that come late.
    static let maximumHistory = 64

    private(set) var entries: [JobID: Entry] = [:]
    /// Jobs whose final event came, oldest first: beyond ``retainedOutcomes`` the oldest are forgotten.
    private var finishedOrder = Deque<JobID>()
    let retainedOutcomes: Int
    private var nextToken: UInt64 = 0
    /// Set by ``close(_:)``: every later wait fails with it.
    private(set) var closedError: (any Error)?
    /// Waiters with a timeout, by token: their job and timeout. A waiter leaves when resumed.
    private var timed: [UInt64: (id: JobID, timeout: Duration, at: ContinuousClock.Instant)] = [:]
    /// The deadlines of ``timed``, earliest first; entries of waiters resumed since stay until popped or compacted.
    private var deadlines = Heap<Deadline>()
    /// The timer armed last, if it has not fired.
    private var armed: Timer?
    private var timerGeneration: UInt64 = 0

    init(retainedOutcomes: Int = 10_000) {
        self.retainedOutcomes = max(1, retainedOutcomes)
    }

    /// A token naming one waiter or subscriber.
    mutating func makeToken() -> UInt64 {
        nextToken &+= 1
        return nextToken
    }

    /// Starts tracking `ids` (again: an id already tracked keeps its events).
    mutating func track(_ ids: [JobID]) {
        for id in ids where entries[id] == nil { entries[id] = Entry() }
    }

    /// Stops tracking `ids` (their enqueue failed): their waiters fail with `error`.
    mutating func untrack(_ ids: [JobID], error: any Error) -> Actions {
        var actions = Actions()
        for id in ids {
            guard let entry = entries.removeValue(forKey: id) else { continue }
            for token in entry.waiters.keys { timed[token] = nil }
            actions.resume += entry.waiters.values.map { ($0, .failure(error)) }
            actions.finish += entry.subscribers.values
        }
        return actions
    }

    /// An event arrived from the reply queue.
    mutating func deliver(_ event: JobEvent) -> (Delivery, Actions) {
        guard var entry = entries[event.jobID] else { return (.untracked, Actions()) }
        guard entry.final == nil else { return (.duplicate, Actions()) }
        var actions = Actions()
        actions.yield = entry.subscribers.values.map { ($0, event) }
        if entry.history.count >= Self.maximumHistory {
            let index = entry.history.firstIndex { $0.kind == .progress } ?? 0
            entry.history.remove(at: index)
        }
        entry.history.append(event)
        if event.kind.isFinal {
            entry.final = event
            for token in entry.waiters.keys { timed[token] = nil }
            actions.resume = entry.waiters.values.map { ($0, .success(event)) }
            actions.finish = Array(entry.subscribers.values)
            entry.waiters = [:]
            entry.subscribers = [:]
            finishedOrder.append(event.jobID)
        }
        entries[event.jobID] = entry
        while finishedOrder.count > retainedOutcomes, let oldest = finishedOrder.popFirst() {
            entries[oldest] = nil
        }
        return (.delivered, actions)
    }

    /// Waits for `id`'s final event: resumed at once when it came already; with a `timeout`, failed with
    /// ``ConveyorError/Code/timeout`` by the timer once it passed (`now` plus `timeout`).
    mutating func wait(
        for id: JobID, token: UInt64, timeout: Duration? = nil, now: ContinuousClock.Instant = .now, _ waiter: Waiter
    ) -> Actions {
        var actions = Actions()
        if let closedError {
            actions.resume = [(waiter, .failure(closedError))]
        } else if let entry = entries[id] {
            if let final = entry.final {
                actions.resume = [(waiter, .success(final))]
            } else {
                entries[id]?.waiters[token] = waiter
                if let timeout {
                    // `timeout` is the caller's: a huge one must not overflow the instant.
                    let at = now.advanced(by: min(timeout, .seconds(86_400 * 365 * 100)))
                    timed[token] = (id, timeout, at)
                    deadlines.insert(Deadline(at: at, token: token))
                    compactDeadlines()
                    if armed.map({ at < $0.at }) ?? true { actions.arm = arm(at) }
                }
            }
        } else {
            actions.resume = [(waiter, .failure(ConveyorError(
                .invalidParameter,
                "job \(id) is not tracked by this process (enqueue it with tracking, or its outcome was forgotten after \(retainedOutcomes) newer ones)"
            )))]
        }
        return actions
    }

    /// The waiter `token` of `id` gave up (cancelled or timed out): it fails with `error`.
    mutating func stopWaiting(for id: JobID, token: UInt64, error: any Error) -> Actions {
        guard let waiter = entries[id]?.waiters.removeValue(forKey: token) else { return Actions() }
        timed[token] = nil
        var actions = Actions()
        actions.resume = [(waiter, .failure(error))]
        return actions
    }

    /// Subscribes to `id`'s events: the events so far are replayed, and the stream ends after the final one.
    mutating func subscribe(to id: JobID, token: UInt64, _ subscriber: Subscriber) -> Actions {
        var actions = Actions()
        guard closedError == nil, let entry = entries[id] else {
            actions.finish = [subscriber]
            return actions
        }
        actions.yield = entry.history.map { (subscriber, $0) }
        if entry.final != nil {
            actions.finish = [subscriber]
        } else {
            entries[id]?.subscribers[token] = subscriber
        }
        return actions
    }

    /// Ends subscription `token` of `id`.
    mutating func unsubscribe(from id: JobID, token: UInt64) {
        entries[id]?.subscribers[token] = nil
    }

    /// The timer `timer` fired at `now`: waiters whose timeout passed fail with ``ConveyorError/Code/timeout``,
    /// and the timer is armed again for the next deadline. A superseded timer does nothing.
    mutating func expire(now: ContinuousClock.Instant, timer: Timer) -> Actions {
        var actions = Actions()
        guard armed == timer else { return actions }
        armed = nil
        while let first = deadlines.min, first.at <= now {
            deadlines.removeMin()
            guard let waiting = timed[first.token], waiting.at == first.at else { continue }  // resumed since
            timed[first.token] = nil
            guard let waiter = entries[waiting.id]?.waiters.removeValue(forKey: first.token) else { continue }
            actions.resume.append((waiter, .failure(ConveyorError(
                .timeout, "job \(waiting.id) had no outcome within \(waiting.timeout); it goes on, only the waiting stopped"
            ))))
        }
        // The next live deadline (entries of resumed waiters are dropped on the way).
        while let first = deadlines.min, timed[first.token]?.at != first.at { deadlines.removeMin() }
        if let next = deadlines.min { actions.arm = arm(next.at) }
        return actions
    }

    private mutating func arm(_ at: ContinuousClock.Instant) -> Timer {
        timerGeneration &+= 1
        let timer = Timer(at: at, generation: timerGeneration)
        armed = timer
        return timer
    }

    /// Rebuilds the deadline heap from the live waiters when most of its entries belong to waiters resumed since,
    /// so that its size follows the waiters, not the jobs awaited over the timeout.
    private mutating func compactDeadlines() {
        guard deadlines.count > 64, deadlines.count > 2 * timed.count else { return }
        deadlines = Heap(timed.map { Deadline(at: $0.value.at, token: $0.key) })
    }

    /// Waiters with a timeout that are still waiting, and the entries kept for them (for tests).
    var timedCounts: (waiters: Int, deadlines: Int) { (timed.count, deadlines.count) }

    /// The tracker closed: every waiter fails with `error`, every stream ends, and later waits fail.
    mutating func close(_ error: any Error) -> Actions {
        closedError = error
        timed = [:]
        deadlines = Heap()
        armed = nil
        var actions = Actions()
        for entry in entries.values {
            actions.resume += entry.waiters.values.map { ($0, .failure(error)) }
            actions.finish += entry.subscribers.values
        }
        entries = [:]
        finishedOrder = []
        return actions
    }

    /// Jobs tracked that have no final event yet.
    var pendingCount: Int { entries.values.count { $0.final == nil } }
}
