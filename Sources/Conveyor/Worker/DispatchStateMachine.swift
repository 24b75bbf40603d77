import DequeModule

/// A job as ``DispatchStateMachine`` sees it.
protocol DispatchableJob {
    /// The job's task and that task's concurrency limit; `nil` when the task has no limit (or is unknown).
    var concurrencyLimit: (task: String, limit: Int)? { get }
    /// When the worker received it.
    var receivedAt: ContinuousClock.Instant { get }
    /// The queue it came from.
    var queue: String { get }
}

/// The worker's local buffer and slot accounting, as a value: receivers reserve and deliver batches, a fixed pool
/// of executors takes jobs one by one, per-task limits hold jobs back locally, shutdown drains.
///
/// Events go in, actions come out: nothing here suspends, reads a clock or resumes anything. Waiting executors
/// and receivers are opaque values (``JobDispatcher`` uses their continuations, tests use numbers) that come back
/// in ``Actions`` with what to resume them with. The shutdown and idle waiters are single flags: the owner keeps
/// their continuations and resumes them when an event says so.
struct DispatchStateMachine<Item: DispatchableJob, Executor, Receiver> {
    /// What the owner must do after an event, outside its lock.
    struct Actions {
        /// Executors to resume, with their job (`nil`: the worker drains, exit).
        var executors: [(Executor, Item?)] = []
        /// Receivers to resume, with the number of messages to ask for (0: the worker drains, stop).
        var receivers: [(Receiver, Int)] = []
        /// Resume the waiter of ``registerIdleWaiter()``.
        var wakeIdleWaiter = false
        /// The number of running jobs, when the event may have changed it.
        var running: Int?
        /// Jobs to give back to the broker: the worker drains.
        var release: [Item] = []
    }

    /// What an executor that asks for a job gets.
    enum Take {
        /// Run this job; `running` jobs run now.
        case job(Item, running: Int)
        /// The worker drains: exit.
        case none
        /// Nothing runnable yet: wait (the executor was queued if one was given).
        case wait
    }

    /// The most messages held (buffered, held back, running) plus those asked for by receives in flight.
    let capacity: Int
    /// The number of messages one receive asks for.
    let batchSize: Int

    private(set) var buffer: Deque<Item> = []
    /// Jobs whose task is at its concurrency limit, by task name, in order of arrival.
    private(set) var blocked: [String: Deque<Item>] = [:]
    private(set) var blockedCount = 0
    private(set) var runningPerTask: [String: Int] = [:]
    private(set) var running = 0
    /// Messages held (buffered, blocked, running) plus those asked for by receives in flight.
    private(set) var outstanding = 0
    /// Executors waiting for a job; the last one to arrive is served first.
    private(set) var idleExecutors: [Executor] = []
    /// Receivers waiting for room for a batch, served in order of arrival.
    private(set) var receiverWaiters: Deque<Receiver> = []
    private(set) var draining = false
    /// Queues paused (``pause(_:)``): their jobs are not dispatched; deliveries of them are released.
    private(set) var paused: Set<String> = []
    private(set) var shutdownRequested = false
    /// True when the grace period is over, or skipped (immediate shutdown).
    private(set) var graceExpired = false
    private(set) var shutdownWaiting = false
    private(set) var idleWaiting = false

    /// `receivers` is the number of receive loops (queues × receivers per queue); each may hold one batch on top
    /// of the `concurrency` running jobs.
    init(concurrency: Int, batchSize: Int, receivers: Int) {
        self.capacity = concurrency + batchSize * receivers
        self.batchSize = min(batchSize, concurrency + batchSize * receivers)
    }

    // MARK: Receivers

    /// A receiver wants to receive: returns the number of messages to ask for when a whole batch fits (and
    /// reserves it), 0 when the worker drains, `nil` when it must wait; then `receiver`, if given, is queued and
    /// comes back in a later event's ``Actions/receivers``.
    mutating func reserveBatch(queueing receiver: Receiver? = nil) -> Int? {
        if draining { return 0 }
        if receiverWaiters.isEmpty && capacity - outstanding >= batchSize {
            outstanding += batchSize
            return batchSize
        }
        if let receiver { receiverWaiters.append(receiver) }
        return nil
    }

    /// A receive ended with `jobs`; `reserved` is what ``reserveBatch(queueing:)`` returned for it. The jobs go
    /// to idle executors or the buffer, or back to the broker (``Actions/release``) when the worker drains.
    mutating func deliver(_ jobs: [Item], reserved: Int) -> Actions {
        var actions = Actions()
        outstanding -= reserved
        if draining {
            wakeAll(&actions)
            actions.release = jobs
            return actions
        }
        var jobs = jobs
        if !paused.isEmpty {
            actions.release = jobs.filter { paused.contains($0.queue) }
            jobs.removeAll { paused.contains($0.queue) }
        }
        outstanding += jobs.count
        buffer.append(contentsOf: jobs)
        dispatch(&actions)
        actions.running = running
        admitReceivers(&actions)
        return actions
    }

    // MARK: Executors

    /// An executor wants a job: returns one that may run now, ``Take/none`` when the worker drains, or
    /// ``Take/wait``; then `executor`, if given, is queued and comes back in a later event's
    /// ``Actions/executors``.
    mutating func executorWantsJob(queueing executor: Executor? = nil) -> Take {
        if let job = takeRunnable() { return .job(job, running: running) }
        if draining { return .none }
        if let executor { idleExecutors.append(executor) }
        return .wait
    }

    /// `job` was settled: frees its slot, lets the oldest held-back job of its task run, admits receivers, and
    /// wakes the idle waiter when the worker drains and nothing runs any more.
    mutating func finish(_ job: Item) -> Actions {
        var actions = Actions()
        running -= 1
        outstanding -= 1
        if let task = job.concurrencyLimit?.task {
            runningPerTask[task, default: 1] -= 1
            if var held = blocked[task], let first = held.popFirst() {
                blocked[task] = held.isEmpty ? nil : held
                blockedCount -= 1
                buffer.prepend(first)
            }
        }
        if !buffer.isEmpty && !idleExecutors.isEmpty {
            dispatch(&actions)
        }
        admitReceivers(&actions)
        if draining && running == 0 && idleWaiting {
            idleWaiting = false
            actions.wakeIdleWaiter = true
        }
        actions.running = running
        return actions
    }

    // MARK: Shutdown

    /// Records a shutdown request (graceful, or `immediate`: no grace period); returns true when the waiter of
    /// ``registerShutdownWaiter()`` must be resumed.
    mutating func requestShutdown(immediate: Bool) -> Bool {
        shutdownRequested = true
        if immediate { graceExpired = true }
        defer { shutdownWaiting = false }
        return shutdownWaiting
    }

    /// The supervisor waits for a shutdown request: returns false when one was made already (do not wait),
    /// true when the waiter is registered (``requestShutdown(immediate:)`` will say when to resume it).
    mutating func registerShutdownWaiter() -> Bool {
        if shutdownRequested { return false }
        shutdownWaiting = true
        return true
    }

    /// Stops dispatching: idle executors get `nil`, waiting receivers 0, and buffered and held-back jobs are
    /// returned in ``Actions/release``.
    mutating func beginDrain() -> Actions {
        var actions = Actions()
        draining = true
        var jobs = Array(buffer)
        buffer.removeAll()
        for (_, held) in blocked { jobs.append(contentsOf: held) }
        blocked.removeAll()
        blockedCount = 0
        outstanding -= jobs.count
        wakeAll(&actions)
        actions.release = jobs
        return actions
    }

    /// Pauses `queue`: its jobs waiting here (buffered, or held back by a per-task limit) are returned in
    /// ``Actions/release``, and so are its jobs delivered later, until ``resume(_:)``. Running jobs go on.
    mutating func pause(_ queue: String) -> Actions {
        paused.insert(queue)
        return withdraw { $0.queue == queue }
    }

    /// Resumes `queue` (see ``pause(_:)``).
    mutating func resume(_ queue: String) {
        paused.remove(queue)
    }

    /// Takes back the jobs received but not running (buffered, or held back by a per-task limit) that match
    /// `predicate`, returned in ``Actions/release``; the room they leave admits waiting receivers.
    mutating func withdraw(where predicate: (Item) -> Bool) -> Actions {
        var actions = Actions()
        var jobs: [Item] = []
        var kept = Deque<Item>()
        for job in buffer {
            if predicate(job) { jobs.append(job) } else { kept.append(job) }
        }
        buffer = kept
        for (task, held) in blocked {
            let withdrawn = held.filter(predicate)
            guard !withdrawn.isEmpty else { continue }
            jobs += withdrawn
            blockedCount -= withdrawn.count
            let rest = held.filter { !predicate($0) }
            blocked[task] = rest.isEmpty ? nil : Deque(rest)
        }
        outstanding -= jobs.count
        actions.release = jobs
        admitReceivers(&actions)
        return actions
    }

    /// Jobs received but not running (buffered, or held back by a per-task limit) since at least `cutoff`.
    func heldJobs(receivedBefore cutoff: ContinuousClock.Instant) -> [Item] {
        var jobs: [Item] = buffer.filter { $0.receivedAt <= cutoff }
        for (_, held) in blocked { jobs.append(contentsOf: held.filter { $0.receivedAt <= cutoff }) }
        return jobs
    }

    /// The grace period is over; returns true when the idle waiter must be resumed.
    mutating func expireGrace() -> Bool {
        graceExpired = true
        defer { idleWaiting = false }
        return idleWaiting
    }

    /// The supervisor waits until no job runs or the grace period is over: returns false when that is the case
    /// already (do not wait), true when the waiter is registered (``finish(_:)``, ``deliver(_:reserved:)``,
    /// ``beginDrain()`` or ``expireGrace()`` will say when to resume it).
    mutating func registerIdleWaiter() -> Bool {
        if running == 0 || graceExpired { return false }
        idleWaiting = true
        return true
    }

    // MARK: Internals

    /// The next buffered job that may run now, counted as running; jobs of tasks at their limit met on the way
    /// are held back.
    private mutating func takeRunnable() -> Item? {
        guard !draining else { return nil }
        while let job = buffer.popFirst() {
            if let (task, limit) = job.concurrencyLimit {
                let runningOfTask = runningPerTask[task, default: 0]
                if runningOfTask >= limit {
                    blocked[task, default: []].append(job)
                    blockedCount += 1
                    continue
                }
                runningPerTask[task] = runningOfTask + 1
            }
            running += 1
            return job
        }
        return nil
    }

    /// Pairs idle executors with runnable jobs.
    private mutating func dispatch(_ actions: inout Actions) {
        while !idleExecutors.isEmpty, let job = takeRunnable() {
            actions.executors.append((idleExecutors.removeLast(), job))
        }
    }

    private mutating func admitReceivers(_ actions: inout Actions) {
        while !receiverWaiters.isEmpty && capacity - outstanding >= batchSize {
            outstanding += batchSize
            actions.receivers.append((receiverWaiters.removeFirst(), batchSize))
        }
    }

    private mutating func wakeAll(_ actions: inout Actions) {
        for executor in idleExecutors { actions.executors.append((executor, nil)) }
        idleExecutors.removeAll()
        for receiver in receiverWaiters { actions.receivers.append((receiver, 0)) }
        receiverWaiters.removeAll()
        if running == 0 && idleWaiting {
            idleWaiting = false
            actions.wakeIdleWaiter = true
        }
    }
}
