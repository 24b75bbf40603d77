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
