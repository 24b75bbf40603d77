import CRabbitMQ
import Conveyor

extension RabbitMQQueueProvider: ReplyingProvider {
    /// Declares the reply queue `name` (classic, not durable, deleted by RabbitMQ after 5 minutes without a consumer,
    /// so that a crashed producer leaves nothing behind) and returns `name` as its address. Replies are published to
    /// it through the default exchange with confirms, like jobs.
    public func createReplyQueue(named name: String) async throws -> String {
        try await declareReplyQueue(named: name, events: nil)
    }

    /// Declares the reply queue `name`; with `observed`, bound to the `conveyor.events` exchange for the events of
    /// that queue, again on every declaration (after a reconnection too).
    func declareReplyQueue(named name: String, events observed: String?) async throws -> String {
        try checkOpen()
        topology.replyQueues.insert(name, events: observed)
        try await publisher.connection.perform { [publisher] c, s throws(ConveyorError) in
            publisher.topology.declaredQueues.remove(name)
            try publisher.topology.ensureQueue(name, c, s)
        }
        return name
    }

    /// Publishes `message` to the reply queue `address` (mandatory, confirmed), never declaring it: a queue that no
    /// longer exists returns the message, which throws ``Conveyor/ConveyorError/Code/queueNotFound``.
    public func sendReply(_ message: OutgoingMessage, to address: String) async throws {
        try checkOpen()
        let body = EnvelopeCodec.encode(message.envelope)
        guard body.count <= EnvelopeCodec.maximumBodyBytes else {
            throw ConveyorError(.messageTooLarge, "the reply is \(body.count) bytes, over the \(EnvelopeCodec.maximumBodyBytes)-byte limit")
        }
        var publication = publication(for: message.envelope, body: body, queue: address, delay: .zero, attempt: nil)
        publication.queue = nil
        publication.unroutableCode = .queueNotFound
        try await requestMetrics.measure("publish") { try await publisher.publish([publication]) }
    }

    /// Deletes the reply queue `address` (stopping its consumer first).
    public func deleteReplyQueue(_ address: String) async throws {
        try checkOpen()
        await consumer.forget(address)
        try await publisher.connection.perform { [publisher] c, s throws(ConveyorError) in
            let arena = AMQPArena()
            amqp_queue_delete(s, 2, arena.bytes(address), 0, 0)
            try c.check(amqp_get_rpc_reply(s), channel: 2, "deleting reply queue \(address)")
            publisher.topology.declaredQueues.remove(address)
        }
        topology.replyQueues.remove(address)
    }
}
