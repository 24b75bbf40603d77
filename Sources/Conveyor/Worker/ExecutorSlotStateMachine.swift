/// A job as ``ExecutorSlotStateMachine`` sees it.
protocol HeartbeatedJob {
    /// When the worker received it.
    var receivedAt: ContinuousClock.Instant { get }
    /// Its queue's visibility timeout; `nil`: no heartbeats.
    var visibilityTimeout: Duration? { get }
}

/// One executor slot's deadlines and signals, as a value: the running job's timeout and heartbeats, the timer
/// that serves them (one armed instant, with a generation so that a stale timer is ignored), and cancellation.
///
/// Events go in, actions come out; time comes in as `now`. The parent task that owns the timer waits for
/// ``Signals``: an event that produces some while the parent waits (``nextSignals()`` returned `nil`) returns
/// them, and the owner resumes the parent with them; otherwise they stay pending for the next ``nextSignals()``.
struct ExecutorSlotStateMachine<Item: HeartbeatedJob> {
    /// Why a running job was cancelled.
    typealias CancelReason = ExecutorSlot.CancelReason

    struct Running {
        var token: UInt64
        var job: Item
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
    struct Signals {
        /// Start a timer that fires at this instant with this generation.
        var arm: (at: ContinuousClock.Instant, generation: UInt64)?
        var timerFired = false
        var cancel = false
        var executorExited = false
        var isEmpty: Bool { arm == nil && !timerFired && !cancel && !executorExited }
    }

    /// What the timer found due.
    enum TimerAction {
        case none
        case cancel
        /// Extend the job's visibility by this much.
        case extend(Item, Duration)
    }

    /// How long after receipt heartbeats stop extending a job's visibility.
    static var heartbeatHorizon: Duration { .seconds(12 * 3600) }

    /// The instant heartbeats are aligned to: they fall on whole seconds after it, so that those of jobs started
    /// within the same second fire together and go to the broker in one call.
    let epoch: ContinuousClock.Instant
    private(set) var running: Running?
    private var nextToken: UInt64 = 0
    private(set) var cancelReason: CancelReason?
    /// When the armed timer fires (`nil`: not armed).
    private(set) var armedAt: ContinuousClock.Instant?
    private(set) var timerGeneration: UInt64 = 0
    /// Signals not yet taken by the parent.
    private(set) var pending = Signals()
    /// The parent waits for signals.
    private(set) var parentWaiting = false
    /// Forced shutdown: cancel the running job and any job that starts from now on.
    private(set) var shutdownCancel = false

    init(epoch: ContinuousClock.Instant) {
        self.epoch = epoch
    }

    // MARK: Executor side

    /// A job starts: records it and arms the timer if its first deadline comes before the armed one (or cancels
    /// it at once after a forced shutdown). Returns the signals to resume the waiting parent with, if any.
    mutating func begin(_ job: Item, timeoutAt: ContinuousClock.Instant? = nil) -> Signals? {
        nextToken &+= 1
        let started = Running(
            token: nextToken,
            job: job,
            timeoutAt: timeoutAt,
            // Counted from receipt, not start: a job that waited in the local buffer has used part of its
            // visibility timeout already (a first heartbeat already due fires at once).
            nextHeartbeat: job.visibilityTimeout.map { heartbeat(after: job.receivedAt, every: $0 * 0.7) },
            heartbeatLimit: job.receivedAt + Self.heartbeatHorizon
        )
        running = started
        if shutdownCancel && cancelReason == nil {
            cancelReason = .shutdown
            pending.cancel = true
            return deliver()
        }
        guard let deadline = started.nextDeadline else { return nil }
        return arm(deadline)
    }

    /// The running job gets a timeout at `deadline` (replacing any it had); arms the timer if that comes before
    /// the armed instant. Nothing when idle or already cancelling. Returns the signals to resume the waiting
    /// parent with, if any.
    mutating func setTimeout(at deadline: ContinuousClock.Instant) -> Signals? {
        guard var current = running, cancelReason == nil else { return nil }
        current.timeoutAt = deadline
        running = current
        return arm(deadline)
    }

    /// The running job ended; returns why it was cancelled, if it was.
    mutating func end() -> CancelReason? {
        running = nil
        return cancelReason
    }

    /// The executor child returned. Returns the signals to resume the waiting parent with, if any.
    mutating func executorExited() -> Signals? {
        pending.executorExited = true
        return deliver()
    }

    // MARK: Parent side

    /// The parent asks for signals: returns the pending ones, or `nil` when there are none; then the parent
    /// waits, and a later event returns the signals to resume it with.
    mutating func nextSignals() -> Signals? {
        if !pending.isEmpty {
            defer { pending = Signals() }
            return pending
        }
        parentWaiting = true
        return nil
    }

    /// The timer armed with `generation` fired; one armed before the latest arming is ignored. Returns the
    /// signals to resume the waiting parent with, if any.
    mutating func timerFired(generation: UInt64) -> Signals? {
        guard timerGeneration == generation else { return nil }
        pending.timerFired = true
        return deliver()
    }

    /// Checks the running job against `now`: returns what is due and the arming of the timer for its next
    /// deadline, if it has one.
    mutating func checkTimer(now: ContinuousClock.Instant) -> (TimerAction, arm: (at: ContinuousClock.Instant, generation: UInt64)?) {
        armedAt = nil
        guard cancelReason == nil, var current = running else { return (.none, nil) }
        var action = TimerAction.none
        if let timeoutAt = current.timeoutAt, timeoutAt <= now {
            cancelReason = .timeout
            return (.cancel, nil)
        }
        if let beat = current.nextHeartbeat, beat <= now, let visibilityTimeout = current.job.visibilityTimeout {
            let remaining = current.heartbeatLimit - now
            if remaining > .zero {
                action = .extend(current.job, min(visibilityTimeout, remaining))
                let next = heartbeat(after: now, every: visibilityTimeout * 0.7)
                current.nextHeartbeat = next < current.heartbeatLimit ? next : nil
            } else {
                current.nextHeartbeat = nil
            }
            running = current
        }
        guard let next = current.nextDeadline else { return (action, nil) }
        armedAt = next
        timerGeneration &+= 1
        return (action, (next, timerGeneration))
    }

    /// Cancels the running job (forced shutdown: also any job that starts from now on); nothing when idle or
    /// already cancelling. Returns the signals to resume the waiting parent with, if any.
    mutating func requestCancel(_ reason: CancelReason) -> Signals? {
        if reason == .shutdown { shutdownCancel = true }
        guard running != nil, cancelReason == nil else { return nil }
        cancelReason = reason
        pending.cancel = true
        return deliver()
    }

    /// Cancels the running job for `reason` if `matches` says it is the one (a job cancelled by its id); nothing
    /// otherwise, when idle or when already cancelling. Returns the signals to resume the waiting parent with, if any.
    mutating func requestCancel(_ reason: CancelReason, ifRunning matches: (Item) -> Bool) -> Signals? {
        guard let running, matches(running.job) else { return nil }
        return requestCancel(reason)
    }

    /// Clears the cancellation state before a new executor child starts.
    mutating func reset() {
        cancelReason = nil
        running = nil
        armedAt = nil
    }

    // MARK: Internals

    /// The next heartbeat after `now`: `now + interval` rounded down to a whole second after ``epoch`` (never
    /// later than `now + interval`); intervals under 2 s are not rounded.
    func heartbeat(after now: ContinuousClock.Instant, every interval: Duration) -> ContinuousClock.Instant {
        let due = now + interval
        guard interval >= .seconds(2) else { return due }
        let elapsed = due - epoch
        guard elapsed > .zero else { return due }
        return epoch + .seconds(elapsed.components.seconds)
    }

    /// Arms the timer for `deadline` unless it is armed for that instant or earlier already.
    private mutating func arm(_ deadline: ContinuousClock.Instant) -> Signals? {
        if let armed = armedAt, armed <= deadline { return nil }
        armedAt = deadline
        timerGeneration &+= 1
        pending.arm = (deadline, timerGeneration)
        return deliver()
    }

    /// Hands the pending signals to the waiting parent, if it waits.
    private mutating func deliver() -> Signals? {
        guard parentWaiting else { return nil }
        parentWaiting = false
        defer { pending = Signals() }
        return pending
    }
}
