import Synchronization

/// The worker's local buffer and slot accounting: receivers deliver batches, a fixed pool of executors takes
/// jobs one by one, per-task limits hold jobs back locally. The rules are ``DispatchStateMachine``'s; this class
/// keeps it behind a `Mutex` with the waiting continuations, and resumes them outside the lock.
final class JobDispatcher: Sendable {
    typealias Machine = DispatchStateMachine<Job, UnsafeContinuation<Job?, Never>, UnsafeContinuation<Int, Never>>

    private struct State {
        var machine: Machine
        var shutdownWaiter: UnsafeContinuation<Void, Never>?
        var idleWaiter: UnsafeContinuation<Void, Never>?

        /// Takes the idle waiter when `actions` say to wake it.
        mutating func idleWaiter(for actions: Machine.Actions) -> UnsafeContinuation<Void, Never>? {
            guard actions.wakeIdleWaiter else { return nil }
            defer { idleWaiter = nil }
            return idleWaiter
        }
    }

    private let state: Mutex<State>
    /// Called with the number of running jobs whenever it changes.
    private let onRunningChange: @Sendable (Int) -> Void

    /// `receivers` is the number of receive loops (queues × receivers per queue); each may hold one batch on top
    /// of the `concurrency` running jobs.
    init(concurrency: Int, batchSize: Int, receivers: Int, onRunningChange: @escaping @Sendable (Int) -> Void) {
        self.state = Mutex(State(machine: Machine(concurrency: concurrency, batchSize: batchSize, receivers: receivers)))
        self.onRunningChange = onRunningChange
    }

    // MARK: Receivers

    /// Waits until a whole batch fits and reserves it; returns the number of messages to ask for, or 0 when the
    /// worker is draining.
    func reserveBatch() async -> Int {
        if let fast = state.withLock({ $0.machine.reserveBatch() }) { return fast }
        return await withUnsafeContinuation { continuation in
            if let immediate = state.withLock({ $0.machine.reserveBatch(queueing: continuation) }) {
                continuation.resume(returning: immediate)
            }
        }
    }

    /// Hands received messages to idle executors or the buffer. `reserved` is what ``reserveBatch()`` returned.
    /// Returns the jobs to release (give back to the broker) because the worker is draining or their queue is
    /// paused.
    func deliver(_ jobs: [Job], reserved: Int) -> [Job] {
        let (actions, idleWaiter) = state.withLock { state in
            let actions = state.machine.deliver(jobs, reserved: reserved)
            return (actions, state.idleWaiter(for: actions))
        }
        run(actions, idleWaiter)
        return actions.release
    }

    /// Pauses `queue`: returns its jobs waiting in the worker (not running), to give back to the broker; its jobs
    /// delivered later come back from ``deliver(_:reserved:)`` the same way, until ``resume(queue:)``.
    func pause(queue: String) -> [Job] {
        let (actions, idleWaiter) = state.withLock { state in
            let actions = state.machine.pause(queue)
            return (actions, state.idleWaiter(for: actions))
        }
        run(actions, idleWaiter)
        return actions.release
    }

    /// Resumes `queue` (see ``pause(queue:)``).
    func resume(queue: String) {
        state.withLock { $0.machine.resume(queue) }
    }

    // MARK: Executors

    /// The next job to run, waiting until one is delivered; `nil` when the worker is draining.
    func next() async -> Job? {
        switch state.withLock({ $0.machine.executorWantsJob() }) {
        case .job(let job, let running):
            onRunningChange(running)
            return job
        case .none:
            return nil
        case .wait:
            break
        }
        return await withUnsafeContinuation { continuation in
            switch state.withLock({ $0.machine.executorWantsJob(queueing: continuation) }) {
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
        let (actions, idleWaiter) = state.withLock { state in
            let actions = state.machine.finish(job)
            return (actions, state.idleWaiter(for: actions))
        }
        run(actions, idleWaiter)
    }

    // MARK: Shutdown

    /// Records a shutdown request (graceful, or `immediate` on cancellation) and wakes the supervisor.
    func requestShutdown(immediate: Bool) {
        let waiter: UnsafeContinuation<Void, Never>? = state.withLock { state in
            guard state.machine.requestShutdown(immediate: immediate) else { return nil }
            defer { state.shutdownWaiter = nil }
            return state.shutdownWaiter
        }
        waiter?.resume()
    }

    /// Waits until ``requestShutdown(immediate:)`` is called.
    func waitForShutdownRequest() async {
        if state.withLock({ $0.machine.shutdownRequested }) { return }
        await withUnsafeContinuation { continuation in
            let wait = state.withLock { state in
                guard state.machine.registerShutdownWaiter() else { return false }
                state.shutdownWaiter = continuation
                return true
            }
            if !wait { continuation.resume() }
        }
    }

    /// Stops dispatching: wakes idle executors (they exit) and waiting receivers; returns buffered and held-back
    /// jobs, which the caller gives back to the broker.
    func beginDrain() -> [Job] {
        let (actions, idleWaiter) = state.withLock { state in
            let actions = state.machine.beginDrain()
            return (actions, state.idleWaiter(for: actions))
        }
        run(actions, idleWaiter)
        return actions.release
    }

    /// Jobs received but not running (buffered, or held back by a per-task limit) since at least `cutoff`.
    func heldJobs(receivedBefore cutoff: ContinuousClock.Instant) -> [Job] {
        state.withLock { $0.machine.heldJobs(receivedBefore: cutoff) }
    }

    /// True when the grace period should be skipped (the worker's task was cancelled).
    var skipGracePeriod: Bool { state.withLock { $0.machine.graceExpired } }

    /// Ends ``waitUntilIdleOrGraceExpired()`` early.
    func graceExpired() {
        let waiter: UnsafeContinuation<Void, Never>? = state.withLock { state in
            guard state.machine.expireGrace() else { return nil }
            defer { state.idleWaiter = nil }
            return state.idleWaiter
        }
        waiter?.resume()
    }

    /// Waits until no job runs, or the grace period expired; returns true when idle.
    func waitUntilIdleOrGraceExpired() async -> Bool {
        await withUnsafeContinuation { continuation in
            let wait = state.withLock { state in
                guard state.machine.registerIdleWaiter() else { return false }
                state.idleWaiter = continuation
                return true
            }
            if !wait { continuation.resume() }
        }
        return state.withLock { $0.machine.running == 0 }
    }

    // MARK: Internals

    /// Carries out `actions` (after the lock is released): reports the running count, then resumes executors,
    /// receivers and the idle waiter.
    private func run(_ actions: Machine.Actions, _ idleWaiter: UnsafeContinuation<Void, Never>?) {
        if let running = actions.running { onRunningChange(running) }
        for (continuation, job) in actions.executors { continuation.resume(returning: job) }
        for (continuation, count) in actions.receivers { continuation.resume(returning: count) }
        idleWaiter?.resume()
    }
}
