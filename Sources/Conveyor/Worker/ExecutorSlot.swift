import Synchronization

/// One of the worker's `concurrency` executors: the job it runs, that job's timeout and heartbeat deadlines, and
/// the signals between the executor (a child task that runs jobs one after another) and its supervising parent
/// task (which owns the timer and cancels the child on timeout or forced shutdown).
final class ExecutorSlot: Sendable {
    /// Why a running job was cancelled.
    enum CancelReason: Sendable { case timeout, shutdown }

    struct Running: Sendable {
        var token: UInt64
        var job: Job
        var timeoutAt: ContinuousClock.Instant?
        var nextHeartbeat: ContinuousClock.Instant?
        /// No heartbeat extends the visibility beyond this instant (12 hours after receipt).
        var heartbeatLimit: ContinuousClock.Instant

        var nextDeadline: ContinuousClock.Instant? {
            switch (timeoutAt, nextHeartbeat) {
            case (let a?, let b?): return min(a, b)
            case (let a?, nil): return a
            case (nil, let b?): return b
            case (nil, nil): return nil
            }
        }
    }

    /// What the parent must do.
    struct Signals: Sendable {
        /// Start a timer that fires at this instant with this generation.
        var arm: (at: ContinuousClock.Instant, generation: UInt64)?
        var timerFired = false
        var cancel = false
        var executorExited = false
        var isEmpty: Bool { arm == nil && !timerFired && !cancel && !executorExited }
    }

    /// What the timer found due.
    enum TimerAction: Sendable {
        case none
        case cancel
        case extend(ReceivedMessage, Duration)
    }

    private struct State {
        var running: Running?
        var nextToken: UInt64 = 0
        var cancelReason: CancelReason?
        /// When the armed timer fires (`nil`: not armed).
        var armedAt: ContinuousClock.Instant?
        var timerGeneration: UInt64 = 0
        var signals = Signals()
        var waiter: UnsafeContinuation<Signals, Never>?
        /// Forced shutdown: cancel the running job and any job that starts from now on.
        var shutdownCancel = false
    }

    private let state = Mutex(State())

    // MARK: Executor side

    /// Records the start of a job and arms the timer if its first deadline comes before the armed one.
    func begin(_ job: Job, timeoutAt: ContinuousClock.Instant?, now: ContinuousClock.Instant) {
        let waiter: (UnsafeContinuation<Signals, Never>, Signals)? = state.withLock { state in
            state.nextToken &+= 1
            let running = Running(
                token: state.nextToken,
                job: job,
                timeoutAt: timeoutAt,
                // Counted from receipt, not start: a job that waited in the local buffer has used part of its
                // visibility timeout already (a first heartbeat already due fires at once).
                nextHeartbeat: job.heartbeatInterval.map { Self.heartbeat(after: job.receivedAt, every: $0) },
                heartbeatLimit: job.receivedAt + .seconds(12 * 3600)
            )
            state.running = running
            if state.shutdownCancel && state.cancelReason == nil {
                state.cancelReason = .shutdown
                state.signals.cancel = true
                return takeWaiter(&state)
            }
            guard let deadline = running.nextDeadline else { return nil }
            if let armed = state.armedAt, armed <= deadline { return nil }
            state.armedAt = deadline
            state.timerGeneration &+= 1
            state.signals.arm = (deadline, state.timerGeneration)
            return takeWaiter(&state)
        }
        if let (continuation, signals) = waiter { continuation.resume(returning: signals) }
    }

    /// Records the end of the running job; returns why it was cancelled, if it was.
    func end() -> CancelReason? {
        state.withLock { state in
            state.running = nil
            return state.cancelReason
        }
    }

    /// Tells the parent that the executor child returned.
    func executorExited() {
        signal { $0.executorExited = true }
    }

    // MARK: Parent side

    /// Waits for the next signals.
    func nextSignals() async -> Signals {
        await withUnsafeContinuation { continuation in
            let ready: Signals? = state.withLock { state in
                if !state.signals.isEmpty {
                    defer { state.signals = Signals() }
                    return state.signals
                }
                state.waiter = continuation
                return nil
            }
            if let ready { continuation.resume(returning: ready) }
        }
    }

    /// Called by the timer task when the armed instant passed.
    func timerFired(generation: UInt64) {
        signal { $0.timerFired = true } precondition: { state in
            state.timerGeneration == generation
        }
    }

    /// Checks the running job against `now`: returns what is due and re-arms the timer for its next deadline
    /// (the new arming instant is returned in `arm`).
    func checkTimer(now: ContinuousClock.Instant) -> (TimerAction, arm: (at: ContinuousClock.Instant, generation: UInt64)?) {
        state.withLock { state in
            state.armedAt = nil
            guard state.cancelReason == nil, var running = state.running else { return (.none, nil) }
            var action = TimerAction.none
            if let timeoutAt = running.timeoutAt, timeoutAt <= now {
                state.cancelReason = .timeout
                return (.cancel, nil)
            }
            if let beat = running.nextHeartbeat, beat <= now, let visibilityTimeout = running.job.visibilityTimeout {
                let remaining = running.heartbeatLimit - now
                if remaining > .zero {
                    action = .extend(running.job.message, min(visibilityTimeout, remaining))
                    let interval = visibilityTimeout * 0.7
                    let next = Self.heartbeat(after: now, every: interval)
                    running.nextHeartbeat = next < running.heartbeatLimit ? next : nil
                } else {
                    running.nextHeartbeat = nil
                }
                state.running = running
            }
            guard let next = running.nextDeadline else { return (action, nil) }
            state.armedAt = next
            state.timerGeneration &+= 1
            return (action, (next, state.timerGeneration))
        }
    }

    /// Asks the parent to cancel the running job (forced shutdown); no-op when idle or already cancelling.
    func requestCancel(_ reason: CancelReason) {
        signal { _ in } precondition: { state in
            if reason == .shutdown { state.shutdownCancel = true }
            guard state.running != nil, state.cancelReason == nil else { return false }
            state.cancelReason = reason
            state.signals.cancel = true
            return true
        }
    }

    /// Clears the cancellation state before a new executor child starts.
    func reset() {
        state.withLock { state in
            state.cancelReason = nil
            state.running = nil
            state.armedAt = nil
        }
    }

    // MARK: Internals

    /// The instant heartbeats are aligned to: the worker's heartbeats fall on whole seconds after it, so that
    /// those of jobs started within the same second fire together and go to the broker in one call.
    private static let epoch = ContinuousClock.now

    /// The next heartbeat after `now`: `now + interval` rounded down to a whole second after ``epoch`` (never
    /// later than `now + interval`); intervals under 2 s are not rounded.
    static func heartbeat(after now: ContinuousClock.Instant, every interval: Duration) -> ContinuousClock.Instant {
        let due = now + interval
        guard interval >= .seconds(2) else { return due }
        let elapsed = due - epoch
        guard elapsed > .zero else { return due }
        return epoch + .seconds(elapsed.components.seconds)
    }

    private func signal(_ update: (inout Signals) -> Void, precondition: (inout State) -> Bool = { _ in true }) {
        let waiter: (UnsafeContinuation<Signals, Never>, Signals)? = state.withLock { state in
            guard precondition(&state) else { return nil }
            update(&state.signals)
            return takeWaiter(&state)
        }
        if let (continuation, signals) = waiter { continuation.resume(returning: signals) }
    }

    private func takeWaiter(_ state: inout State) -> (UnsafeContinuation<Signals, Never>, Signals)? {
        guard let waiter = state.waiter else { return nil }
        state.waiter = nil
        defer { state.signals = Signals() }
        return (waiter, state.signals)
    }
}
