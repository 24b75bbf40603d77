import Synchronization

/// One of the worker's `concurrency` executors: the job it runs, that job's timeout and heartbeat deadlines, and
/// the signals between the executor (a child task that runs jobs one after another) and its supervising parent
/// task (which owns the timer and cancels the child on timeout or forced shutdown). The rules are
/// ``ExecutorSlotStateMachine``'s; this class keeps it behind a `Mutex` with the parent's continuation, and
/// resumes it outside the lock.
final class ExecutorSlot: Sendable {
    /// Why a running job was cancelled.
    enum CancelReason: Sendable {
        case timeout, shutdown
        /// The job was cancelled by its id (``ConveyorClient/cancel(_:in:expiresAfter:)``).
        case cancelled
    }

    typealias Machine = ExecutorSlotStateMachine<Job>
    typealias Signals = Machine.Signals

    /// What the timer found due.
    enum TimerAction: Sendable {
        case none
        case cancel
        case extend(ReceivedMessage, Duration)
    }

    private struct State {
        var machine = Machine(epoch: ExecutorSlot.epoch)
        /// The parent, while it waits for signals.
        var waiter: UnsafeContinuation<Signals, Never>?

        /// Takes the waiting parent when an event produced `signals` for it.
        mutating func waiter(for signals: Signals?) -> (UnsafeContinuation<Signals, Never>, Signals)? {
            guard let signals, let waiter else { return nil }
            self.waiter = nil
            return (waiter, signals)
        }
    }

    /// The instant heartbeats are aligned to (``ExecutorSlotStateMachine/epoch``), the same for all slots.
    private static let epoch = ContinuousClock.now

    private let state = Mutex(State())

    // MARK: Executor side

    /// Records the start of a job and arms the timer if its first heartbeat comes before the armed instant.
    func begin(_ job: Job) {
        resume(state.withLock { $0.waiter(for: $0.machine.begin(job)) })
    }

    /// Gives the running job a timeout at `deadline` (``TimeoutMiddleware``): past it, the parent cancels the job.
    func setTimeout(at deadline: ContinuousClock.Instant) {
        resume(state.withLock { $0.waiter(for: $0.machine.setTimeout(at: deadline)) })
    }

    /// Records the end of the running job; returns why it was cancelled, if it was.
    func end() -> CancelReason? {
        state.withLock { $0.machine.end() }
    }

    /// Tells the parent that the executor child returned.
    func executorExited() {
        resume(state.withLock { $0.waiter(for: $0.machine.executorExited()) })
    }

    // MARK: Parent side

    /// Waits for the next signals.
    func nextSignals() async -> Signals {
        await withUnsafeContinuation { continuation in
            let ready: Signals? = state.withLock { state in
                if let ready = state.machine.nextSignals() { return ready }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Called by the timer task when the armed instant passed.
    func timerFired(generation: UInt64) {
        resume(state.withLock { $0.waiter(for: $0.machine.timerFired(generation: generation)) })
    }

    /// Checks the running job against `now`: returns what is due and re-arms the timer for its next deadline
    /// (the new arming instant is returned in `arm`).
    func checkTimer(now: ContinuousClock.Instant) -> (TimerAction, arm: (at: ContinuousClock.Instant, generation: UInt64)?) {
        let checked = state.withLock { $0.machine.checkTimer(now: now) }
        switch checked.0 {
        case .none: return (.none, checked.arm)
        case .cancel: return (.cancel, checked.arm)
        case .extend(let job, let duration): return (.extend(job.message, duration), checked.arm)
        }
    }

    /// Asks the parent to cancel the running job (forced shutdown); no-op when idle or already cancelling.
    func requestCancel(_ reason: CancelReason) {
        resume(state.withLock { $0.waiter(for: $0.machine.requestCancel(reason)) })
    }

    /// Asks the parent to cancel the running job for `reason` if `matches` says it is the one; no-op otherwise.
    func requestCancel(_ reason: CancelReason, ifRunning matches: @Sendable (Job) -> Bool) {
        resume(state.withLock { $0.waiter(for: $0.machine.requestCancel(reason, ifRunning: matches)) })
    }

    /// Clears the cancellation state before a new executor child starts.
    func reset() {
        state.withLock { $0.machine.reset() }
    }

    // MARK: Internals

    private func resume(_ waiter: (UnsafeContinuation<Signals, Never>, Signals)?) {
        if let (continuation, signals) = waiter { continuation.resume(returning: signals) }
    }
}
