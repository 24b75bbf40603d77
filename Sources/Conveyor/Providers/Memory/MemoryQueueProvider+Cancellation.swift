import Foundation
import HeapModule

extension MemoryQueueProvider: DelayedJobCancellingProvider {
    /// Removes the delayed job `id` from `queue`'s delay heap. Returns `false` when no such delayed job waits there.
    public func cancelDelayed(_ id: JobID, in queue: String) async throws -> Bool {
        state.withLock { state in
            guard let index = state.queues.index(forKey: queue) else { return false }
            let entries = state.queues.values[index].delayed.unordered
            let kept = entries.filter { (try? $0.message.envelope.get().id) != id }
            guard kept.count != entries.count else { return false }
            state.queues.values[index].delayed = Heap(kept)
            return true
        }
    }
}

extension MemoryQueueProvider: CancellingProvider {
    /// Records cancellation markers of `ids` in `queue` for every worker of this provider (in this process); a
    /// marker already there gets the later of the two expiries.
    public func cancel(_ ids: [JobID], in queue: String, lifetime: Duration) async throws {
        let expiry = Date().addingTimeInterval(lifetime.seconds)
        try state.withLock { state throws(ConveyorError) in
            if state.closed { throw ConveyorError(.closed, "the memory provider has been closed; create a new MemoryQueueProvider") }
            for id in ids {
                state.cancellations[queue, default: [:]][id] = max(state.cancellations[queue]?[id] ?? expiry, expiry)
            }
        }
    }

    /// The unexpired markers of `queue` (expired ones are dropped here).
    public func cancellations(in queue: String) async throws -> [JobID: Date] {
        let now = Date()
        return state.withLock { state in
            guard let markers = state.cancellations[queue] else { return [:] }
            let live = markers.filter { $0.value > now }
            state.cancellations[queue] = live.isEmpty ? nil : live
            return live
        }
    }

    /// Drops the marker of `id`: its job was settled as cancelled.
    public func cancellationSettled(_ id: JobID, in queue: String) async throws {
        state.withLock { state in
            state.cancellations[queue]?[id] = nil
            if state.cancellations[queue]?.isEmpty == true { state.cancellations[queue] = nil }
        }
    }
}
