import DequeModule
import Synchronization

/// The worker's local buffer and slot accounting: receivers deliver batches, a fixed pool of executors takes
/// jobs one by one, per-task limits hold jobs back locally. A state machine behind a `Mutex`; continuations are
/// resumed outside the lock.
final class JobDispatcher: Sendable {
    private struct State {
        var buffer: Deque<Job> = []
        /// Jobs whose task is at its concurrency limit, by task name.
        var blocked: [String: Deque<Job>] = [:]
        var blockedCount = 0
        var runningPerTask: [String: Int] = [:]
        var running = 0
        /// Messages held (buffered, blocked, running) plus those asked for by receives in flight.
        var outstanding = 0
        var idleExecutors: [UnsafeContinuation<Job?, Never>] = []
        var receiverWaiters: Deque<UnsafeContinuation<Int, Never>> = []
        var draining = false
        var shutdownRequested = false
        var shutdownWaiter: UnsafeContinuation<Void, Never>?
        var graceExpired = false
        var idleWaiter: UnsafeContinuation<Void, Never>?
    }

    /// What to do outside the lock.
    private struct Wakeups {
        var executors: [(UnsafeContinuation<Job?, Never>, Job?)] = []
        var receivers: [(UnsafeContinuation<Int, Never>, Int)] = []
        var waiters: [UnsafeContinuation<Void, Never>] = []

        func run() {
            for (continuation, job) in executors { continuation.resume(returning: job) }
            for (continuation, count) in receivers { continuation.resume(returning: count) }
            for continuation in waiters { continuation.resume() }
        }
    }

    let capacity: Int
    let batchSize: Int
    private let state = Mutex(State())
    /// Called with the number of running jobs whenever it changes.
    private let onRunningChange: @Sendable (Int) -> Void

    /// `receivers` is the number of receive loops (queues × receivers per queue); each may hold one batch on top
    /// of the `concurrency` running jobs.
    init(concurrency: Int, batchSize: Int, receivers: Int, onRunningChange: @escaping @Sendable (Int) -> Void) {
        self.capacity = concurrency + batchSize * receivers
        self.batchSize = min(batchSize, concurrency + batchSize * receivers)
        self.onRunningChange = onRunningChange
    }

    // MARK: Receivers

    /// Waits until a whole batch fits and reserves it; returns the number of messages to ask for, or 0 when the
    /// worker is draining.
    func reserveBatch() async -> Int {
        let fast: Int? = state.withLock { state in
            if state.draining { return 0 }
            if state.receiverWaiters.isEmpty && capacity - state.outstanding >= batchSize {
                state.outstanding += batchSize
                return batchSize
            }
            return nil
        }
        if let fast { return fast }
        return await withUnsafeContinuation { continuation in
            let immediate: Int? = state.withLock { state in
                if state.draining { return 0 }
                if state.receiverWaiters.isEmpty && capacity - state.outstanding >= batchSize {
                    state.outstanding += batchSize
                    return batchSize
                }
                state.receiverWaiters.append(continuation)
                return nil
            }
            if let immediate { continuation.resume(returning: immediate) }
        }
    }

    /// Hands received messages to idle executors or the buffer. `reserved` is what ``reserveBatch()`` returned.
    /// Returns the jobs to release (give back to the broker) because the worker is draining.
    func deliver(_ jobs: [Job], reserved: Int) -> [Job] {
        var wakeups = Wakeups()
        var running = -1
        let rejected: [Job] = state.withLock { state in
            state.outstanding -= reserved
            if state.draining {
                wakeAll(&state, &wakeups)
                return jobs
            }
            state.outstanding += jobs.count
            state.buffer.append(contentsOf: jobs)
            running = dispatch(&state, &wakeups)
            admitReceivers(&state, &wakeups)
            return []
        }
        if running >= 0 { onRunningChange(running) }
        wakeups.run()
        return rejected
    }

    // MARK: Executors

    /// The next job to run, waiting until one is delivered; `nil` when the worker is draining.
    func next() async -> Job? {
        enum Fast { case job(Job, Int), none, wait }
        let fast: Fast = state.withLock { state in
            if let job = takeRunnable(&state) { return .job(job, state.running) }
            return state.draining ? .none : .wait
        }
        switch fast {
        case .job(let job, let running):
            onRunningChange(running)
            return job
        case .none:
            return nil
        case .wait:
            break
        }
        return await withUnsafeContinuation { continuation in
            let immediate: Fast = state.withLock { state in
                if let job = takeRunnable(&state) { return .job(job, state.running) }
                if state.draining { return .none }
                state.idleExecutors.append(continuation)
                return .wait
            }
            switch immediate {
            case .job(let job, let running):
                onRunningChange(running)
                continuation.resume(returning: job)
            case .none:
                continuation.resume(returning: nil)
            case .wait:
                break
            }
        }
    }

    /// Marks `job` as settled: frees its slot, lets a held-back job of the same task run, wakes receivers.
    func finish(_ job: Job) {
        var wakeups = Wakeups()
        let running: Int = state.withLock { state in
            state.running -= 1
            state.outstanding -= 1
            if let entry = job.entry, entry.limit != nil {
                state.runningPerTask[entry.name, default: 1] -= 1
                if var held = state.blocked[entry.name], let first = held.popFirst() {
                    state.blocked[entry.name] = held.isEmpty ? nil : held
                    state.blockedCount -= 1
                    state.buffer.prepend(first)
                }
            }
            if !state.buffer.isEmpty && !state.idleExecutors.isEmpty {
                _ = dispatch(&state, &wakeups)
            }
            admitReceivers(&state, &wakeups)
            if state.draining && state.running == 0, let waiter = state.idleWaiter {
                state.idleWaiter = nil
                wakeups.waiters.append(waiter)
            }
            return state.running
        }
        onRunningChange(running)
        wakeups.run()
    }

    // MARK: Shutdown

    /// Records a shutdown request (graceful, or `immediate` on cancellation) and wakes the supervisor.
    func requestShutdown(immediate: Bool) {
        let waiter: UnsafeContinuation<Void, Never>? = state.withLock { state in
            state.shutdownRequested = true
            if immediate { state.graceExpired = true }
            defer { state.shutdownWaiter = nil }
            return state.shutdownWaiter
        }
        waiter?.resume()
    }

    /// Waits until ``requestShutdown(immediate:)`` is called.
    func waitForShutdownRequest() async {
        if state.withLock({ $0.shutdownRequested }) { return }
        await withUnsafeContinuation { continuation in
            let now = state.withLock { state in
                if state.shutdownRequested { return true }
                state.shutdownWaiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
    }

    /// Stops dispatching: wakes idle executors (they exit) and waiting receivers; returns buffered and held-back
    /// jobs, which the caller gives back to the broker.
    func beginDrain() -> [Job] {
        var wakeups = Wakeups()
        let jobs: [Job] = state.withLock { state in
            state.draining = true
            var jobs = Array(state.buffer)
            state.buffer.removeAll()
            for (_, held) in state.blocked { jobs.append(contentsOf: held) }
            state.blocked.removeAll()
            state.blockedCount = 0
            state.outstanding -= jobs.count
            wakeAll(&state, &wakeups)
            return jobs
        }
        wakeups.run()
        return jobs
    }

    /// Jobs received but not running (buffered, or held back by a per-task limit) since at least `cutoff`.
    func heldJobs(receivedBefore cutoff: ContinuousClock.Instant) -> [Job] {
        state.withLock { state in
            var jobs: [Job] = state.buffer.filter { $0.receivedAt <= cutoff }
            for (_, held) in state.blocked { jobs.append(contentsOf: held.filter { $0.receivedAt <= cutoff }) }
            return jobs
        }
    }

    /// True when the grace period should be skipped (the worker's task was cancelled).
    var skipGracePeriod: Bool { state.withLock { $0.graceExpired } }

    /// Ends ``waitUntilIdleOrGraceExpired()`` early.
    func graceExpired() {
        let waiter: UnsafeContinuation<Void, Never>? = state.withLock { state in
            state.graceExpired = true
            defer { state.idleWaiter = nil }
            return state.idleWaiter
        }
        waiter?.resume()
    }

    /// Waits until no job runs, or the grace period expired; returns true when idle.
    func waitUntilIdleOrGraceExpired() async -> Bool {
        await withUnsafeContinuation { continuation in
            let now = state.withLock { state in
                if state.running == 0 || state.graceExpired { return true }
                state.idleWaiter = continuation
                return false
            }
            if now { continuation.resume() }
        }
        return state.withLock { $0.running == 0 }
    }

    // MARK: Internals (called with the lock held)

    private func takeRunnable(_ state: inout State) -> Job? {
        guard !state.draining else { return nil }
        while let job = state.buffer.popFirst() {
            if let entry = job.entry, let limit = entry.limit {
                let running = state.runningPerTask[entry.name, default: 0]
                if running >= limit {
                    state.blocked[entry.name, default: []].append(job)
                    state.blockedCount += 1
                    continue
                }
                state.runningPerTask[entry.name] = running + 1
            }
            state.running += 1
            return job
        }
        return nil
    }

    /// Pairs idle executors with runnable jobs; returns the running count.
    private func dispatch(_ state: inout State, _ wakeups: inout Wakeups) -> Int {
        while !state.idleExecutors.isEmpty, let job = takeRunnable(&state) {
            wakeups.executors.append((state.idleExecutors.removeLast(), job))
        }
        return state.running
    }

    private func admitReceivers(_ state: inout State, _ wakeups: inout Wakeups) {
        while !state.receiverWaiters.isEmpty && capacity - state.outstanding >= batchSize {
            state.outstanding += batchSize
            wakeups.receivers.append((state.receiverWaiters.removeFirst(), batchSize))
        }
    }

    private func wakeAll(_ state: inout State, _ wakeups: inout Wakeups) {
        for continuation in state.idleExecutors { wakeups.executors.append((continuation, nil)) }
        state.idleExecutors.removeAll()
        for continuation in state.receiverWaiters { wakeups.receivers.append((continuation, 0)) }
        state.receiverWaiters.removeAll()
        if state.running == 0, let waiter = state.idleWaiter {
            state.idleWaiter = nil
            wakeups.waiters.append(waiter)
        }
    }
}
