import Foundation

extension MemoryQueueProvider: DeadLetterQueueProvider {
    /// Up to `limit` dead-lettered messages of `queue`, oldest first, with their reasons and attempts.
    public func deadLetters(of queue: String, limit: Int) async throws -> [DeadLetter] {
        try state.withLock { state throws(ConveyorError) in try state.deadLetters(of: queue, limit: limit) }
    }

    /// Moves dead-lettered messages back to `queue` (all, or those with the given job ids); they start over at
    /// attempt 1. Malformed messages have no job id and move only when `ids` is nil.
    public func redrive(_ queue: String, ids: Set<JobID>?) async throws -> Int {
        let now = clock.now
        let date = Date()
        return try withState { state, actions throws(ConveyorError) in
            try state.redrive(queue, ids: ids, now: now, date: date, actions: &actions)
        }
    }

    /// Deletes every dead-lettered message of `queue`.
    public func purgeDeadLetters(of queue: String) async throws -> Int {
        try state.withLock { state throws(ConveyorError) in try state.purgeDeadLetters(of: queue) }
    }
}

extension MemoryQueueProvider: QueueProvisioningProvider {
    /// Creates `queue` with its dead-letter queue, using `options.visibilityTimeout` and
    /// `options.maxReceiveCount`. Memory queues always have a dead-letter queue and keep FIFO order within a
    /// priority, so `fifo` and `deadLetterQueue` change nothing. Creating an existing queue does nothing.
    public func createQueue(_ queue: String, options: QueueOptions) async throws {
        try state.withLock { state throws(ConveyorError) in try state.createQueue(queue, options: options) }
    }

    /// Deletes `queue`, its messages and its dead-letter queue; pending receives on it return empty.
    public func deleteQueue(_ queue: String) async throws {
        run(try state.withLock { state throws(ConveyorError) in try state.deleteQueue(queue) })
    }
}
