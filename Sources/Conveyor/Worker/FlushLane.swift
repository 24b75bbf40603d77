import Synchronization

/// One kind of the worker's broker calls (acknowledgements, heartbeats or single operations), sent in rounds from
/// the settler's own task (``Settler``), never from the executor that submitted them.
///
/// Items submitted while a round is in flight join the next round, so calls that fall due together go to the
/// broker together. A round that takes longer than `patience` (retries, a timeout) does not hold the next one
/// back: the next starts beside it, up to `maximumRounds` at once, so one slow call never delays the others.
final class FlushLane<Item: Sendable>: Sendable {
    private struct State {
        var pending: [Item] = []
        var inFlight = 0
        /// When the newest round in flight started.
        var newestRoundStart: ContinuousClock.Instant?
        var finished = false
        var woken = false
        var waiter: UnsafeContinuation<Void, Never>?
    }

    private enum Step {
        case flush([Item])
        case wait(until: ContinuousClock.Instant?)
        case stop
    }

    private let state = Mutex(State())
    private let patience: Duration
    private let maximumRounds: Int
    private let yieldsFirst: Bool
    private let flush: @Sendable ([Item]) async -> Void

    /// - Parameters:
    ///   - patience: How long a round may take before the next starts beside it (`.zero`: at once).
    ///   - maximumRounds: Most rounds in flight at once.
    ///   - yieldsFirst: Yield once before taking a batch, so that callers woken at the same instant (timers) join.
    init(patience: Duration, maximumRounds: Int, yieldsFirst: Bool = false, flush: @escaping @Sendable ([Item]) async -> Void) {
        self.patience = patience
        self.maximumRounds = max(maximumRounds, 1)
        self.yieldsFirst = yieldsFirst
        self.flush = flush
    }

    /// Adds `items` to the next round; returns at once. Returns `false` when the lane has finished (the caller
    /// must send them itself).
    @discardableResult
    func submit(_ items: [Item]) -> Bool {
        guard !items.isEmpty else { return true }
        let (accepted, waiter) = state.withLock { state -> (Bool, UnsafeContinuation<Void, Never>?) in
            guard !state.finished else { return (false, nil) }
            state.pending.append(contentsOf: items)
            return (true, Self.wake(&state))
        }
        waiter?.resume()
        return accepted
    }

    /// No more items will come: ``run()`` returns once everything submitted has been flushed.
    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            return Self.wake(&state)
        }
        waiter?.resume()
    }

    /// Sends rounds until ``finish()`` was called and every round has ended. When the task is cancelled, rounds
    /// start without waiting for each other (their calls then fail fast) until the lane is finished.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            while true {
                switch nextStep(now: .now, cancelled: Task.isCancelled) {
                case .flush(let batch):
                    group.addTask {
                        await self.flush(batch)
                        self.roundEnded()
                    }
                case .wait(let deadline):
                    await waitForWake(until: deadline)
                    if yieldsFirst { await Task.yield() }
                case .stop:
                    return
                }
            }
        }
    }

    // MARK: Internals

    private func nextStep(now: ContinuousClock.Instant, cancelled: Bool) -> Step {
        state.withLock { state in
            if state.pending.isEmpty {
                return state.finished && state.inFlight == 0 ? .stop : .wait(until: nil)
            }
            guard state.inFlight < maximumRounds else { return .wait(until: nil) }
            if state.inFlight > 0, !cancelled, let start = state.newestRoundStart, now < start + patience {
                return .wait(until: start + patience)
            }
            state.inFlight += 1
            state.newestRoundStart = now
            defer { state.pending = [] }
            return .flush(state.pending)
        }
    }

    private func roundEnded() {
        let waiter = state.withLock { state in
            state.inFlight -= 1
            if state.inFlight == 0 { state.newestRoundStart = nil }
            return Self.wake(&state)
        }
        waiter?.resume()
    }

    private func wakeUp() {
        let waiter = state.withLock { Self.wake(&$0) }
        waiter?.resume()
    }

    private static func wake(_ state: inout State) -> UnsafeContinuation<Void, Never>? {
        guard let waiter = state.waiter else {
            state.woken = true
            return nil
        }
        state.waiter = nil
        return waiter
    }

    private func waitForWake(until deadline: ContinuousClock.Instant?) async {
        guard let deadline else { return await waitForWake() }
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                try? await Task.sleep(until: deadline, clock: .continuous)
                self.wakeUp()
            }
            await waitForWake()
            group.cancelAll()
        }
    }

    private func waitForWake() async {
        await withUnsafeContinuation { (continuation: UnsafeContinuation<Void, Never>) in
            let resumeNow = state.withLock { state in
                if state.woken {
                    state.woken = false
                    return true
                }
                state.waiter = continuation
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }
}
