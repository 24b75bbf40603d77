import Foundation

extension MemoryQueueProvider: ReplyingProvider {
    /// Creates the reply queue `name` (in this process) and returns `name` as its address.
    public func createReplyQueue(named name: String) async throws -> String {
        try await createQueue(name, options: QueueOptions(deadLetterQueue: false))
        return name
    }

    /// Enqueues `message` to the reply queue `address`; throws ``ConveyorError/Code/queueNotFound`` when it no longer
    /// exists (it is never created by a reply).
    public func sendReply(_ message: OutgoingMessage, to address: String) async throws {
        let now = clock.now
        let date = Date()
        _ = try withState { state, actions throws(ConveyorError) in
            guard state.queues.index(forKey: address) != nil else {
                throw ConveyorError(.queueNotFound, "reply queue \(address) does not exist (its producer closed it)")
            }
            return try state.enqueue([message], to: address, now: now, date: date, actions: &actions)
        }
    }

    /// Deletes the reply queue `address`.
    public func deleteReplyQueue(_ address: String) async throws {
        try await deleteQueue(address)
    }
}
