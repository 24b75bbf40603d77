import DequeModule

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

        var isEmpty: Bool { resume.isEmpty && yield.isEmpty && finish.isEmpty }

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

    /// Events kept per job for subscribers that come late.
    static let maximumHistory = 64

    private(set) var entries: [JobID: Entry] = [:]
    /// Jobs whose final event came, oldest first: beyond ``retainedOutcomes`` the oldest are forgotten.
    private var finishedOrder = Deque<JobID>()
    let retainedOutcomes: Int
    private var nextToken: UInt64 = 0
    /// Set by ``close(_:)``: every later wait fails with it.
    private(set) var closedError: (any Error)?

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

    /// Waits for `id`'s final event: resumed at once when it came already.
    mutating func wait(for id: JobID, token: UInt64, _ waiter: Waiter) -> Actions {
        var actions = Actions()
        if let closedError {
            actions.resume = [(waiter, .failure(closedError))]
        } else if let entry = entries[id] {
            if let final = entry.final {
                actions.resume = [(waiter, .success(final))]
            } else {
                entries[id]?.waiters[token] = waiter
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

    /// The tracker closed: every waiter fails with `error`, every stream ends, and later waits fail.
    mutating func close(_ error: any Error) -> Actions {
        closedError = error
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
