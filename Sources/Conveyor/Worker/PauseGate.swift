import Synchronization

/// Whether each queue of a worker is paused, as last read from the broker (``PausingProvider``); a queue's
/// receivers wait here while it is paused.
final class PauseGate: Sendable {
    private struct State {
        var paused: Set<String> = []
        var waiters: [String: [UInt64: CheckedContinuation<Void, Never>]] = [:]
        var nextToken: UInt64 = 0
    }

    private let state = Mutex(State())

    /// Whether `queue` was paused at the last reading.
    func isPaused(_ queue: String) -> Bool {
        state.withLock { $0.paused.contains(queue) }
    }

    /// Records a reading; returns true when it changed the state. Resuming wakes the queue's receivers.
    @discardableResult
    func set(_ queue: String, paused: Bool) -> Bool {
        let (changed, woken): (Bool, [CheckedContinuation<Void, Never>]) = state.withLock { state in
            if paused {
                return (state.paused.insert(queue).inserted, [])
            }
            guard state.paused.remove(queue) != nil else { return (false, []) }
            return (true, Array(state.waiters.removeValue(forKey: queue)?.values ?? [:].values))
        }
        for waiter in woken { waiter.resume() }
        return changed
    }

    /// Returns when `queue` is not paused (at once if it is not), or when the task is cancelled.
    func waitUntilOpen(_ queue: String) async {
        let token = state.withLock { state in
            state.nextToken &+= 1
            return state.nextToken
        }
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                let open = state.withLock { state in
                    guard state.paused.contains(queue), !Task.isCancelled else { return true }
                    state.waiters[queue, default: [:]][token] = continuation
                    return false
                }
                if open { continuation.resume() }
            }
        } onCancel: {
            let waiter = state.withLock { $0.waiters[queue]?.removeValue(forKey: token) }
            waiter?.resume()
        }
    }
}
