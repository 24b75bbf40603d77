extension MemoryQueueProvider: PausingProvider {
    /// Pauses or resumes `queue` for every worker of this provider (in this process).
    public func setPaused(_ paused: Bool, queue: String) async throws {
        try state.withLock { state throws(ConveyorError) in
            if state.closed { throw ConveyorError(.closed, "the memory provider has been closed; create a new MemoryQueueProvider") }
            if paused { state.paused.insert(queue) } else { state.paused.remove(queue) }
        }
    }

    /// Whether `queue` is paused.
    public func isPaused(_ queue: String) async throws -> Bool {
        state.withLock { $0.paused.contains(queue) }
    }
}
