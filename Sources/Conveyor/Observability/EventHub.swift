import Synchronization

/// Fans worker events out to subscribers. Publishing costs one atomic load when nobody subscribes, so callers
/// check ``isActive`` before building an event.
final class EventHub: Sendable {
    private struct State {
        var subscribers: [UInt64: AsyncStream<WorkerEvent>.Continuation] = [:]
        var nextID: UInt64 = 0
        var finished = false
    }

    private let count = Atomic<Int>(0)
    private let state = Mutex(State())

    /// True when at least one subscriber listens.
    var isActive: Bool { count.load(ordering: .relaxed) > 0 }

    func subscribe(bufferingPolicy: AsyncStream<WorkerEvent>.Continuation.BufferingPolicy) -> AsyncStream<WorkerEvent> {
        let (stream, continuation) = AsyncStream.makeStream(of: WorkerEvent.self, bufferingPolicy: bufferingPolicy)
        let added: UInt64? = state.withLock { state in
            guard !state.finished else { return nil }
            let id = state.nextID
            state.nextID += 1
            state.subscribers[id] = continuation
            count.add(1, ordering: .relaxed)
            return id
        }
        guard let id = added else {
            continuation.finish()
            return stream
        }
        continuation.onTermination = { [weak self] _ in
            self?.remove(id)
        }
        return stream
    }

    private func remove(_ id: UInt64) {
        state.withLock { state in
            if state.subscribers.removeValue(forKey: id) != nil {
                count.subtract(1, ordering: .relaxed)
            }
        }
    }

    /// Delivers `event` to every subscriber, in one global order.
    func publish(_ event: WorkerEvent) {
        state.withLock { state in
            for continuation in state.subscribers.values {
                continuation.yield(event)
            }
        }
    }

    /// Ends every stream; later subscribers get a finished stream.
    func finish() {
        let continuations = state.withLock { state in
            state.finished = true
            let all = Array(state.subscribers.values)
            state.subscribers.removeAll()
            count.store(0, ordering: .relaxed)
            return all
        }
        for continuation in continuations { continuation.finish() }
    }
}
