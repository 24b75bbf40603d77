import Synchronization

/// Coalesces concurrent submissions into batches: the first caller becomes the leader and hands everything pending
/// to `flush`, round after round, until nothing is left; callers that arrive meanwhile add to the next round and
/// return at once. The worker's acknowledgements and heartbeats go through one each.
final class Coalescer<Item: Sendable>: Sendable {
    private struct State {
        var pending: [Item] = []
        var flushing = false
    }

    private let state = Mutex(State())
    private let yieldsFirst: Bool
    private let flush: @Sendable ([Item]) async -> Void

    /// With `yieldsFirst`, the leader yields once before its first round, so that callers woken at the same
    /// instant (timers) join it.
    init(yieldsFirst: Bool = false, flush: @escaping @Sendable ([Item]) async -> Void) {
        self.yieldsFirst = yieldsFirst
        self.flush = flush
    }

    func submit(_ items: [Item]) async {
        guard !items.isEmpty else { return }
        let leader = state.withLock { state in
            state.pending.append(contentsOf: items)
            if state.flushing { return false }
            state.flushing = true
            return true
        }
        guard leader else { return }
        if yieldsFirst { await Task.yield() }
        while true {
            let batch: [Item]? = state.withLock { state in
                if state.pending.isEmpty {
                    state.flushing = false
                    return nil
                }
                defer { state.pending = [] }
                return state.pending
            }
            guard let batch else { return }
            await flush(batch)
        }
    }
}
