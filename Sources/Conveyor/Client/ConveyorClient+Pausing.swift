extension ConveyorClient {
    /// Pauses `queue`: every worker of it, in every process, stops taking new jobs from it within about
    /// ``Worker/Configuration/pauseCheckInterval`` (1 s) plus the time to see its next receive; running jobs finish.
    /// Jobs can still be enqueued. The paused state lives in the broker, so it outlives worker restarts, until
    /// ``resume(_:)``. Throws ``ConveyorError/Code/unsupported`` when the provider cannot pause (only the inline
    /// provider).
    public func pause(_ queue: String) async throws {
        try await pausing().setPaused(true, queue: queue)
    }

    /// Resumes a paused `queue`: workers take jobs from it again within about
    /// ``Worker/Configuration/pauseCheckInterval``.
    public func resume(_ queue: String) async throws {
        try await pausing().setPaused(false, queue: queue)
    }

    /// Whether `queue` is paused.
    public func isPaused(_ queue: String) async throws -> Bool {
        try await pausing().isPaused(queue)
    }

    private func pausing() throws -> any PausingProvider {
        guard let pausing = provider.pausing else {
            throw ConveyorError(.unsupported, "the \(provider.name) provider cannot pause queues; use the memory, RabbitMQ or SQS provider")
        }
        return pausing
    }
}
