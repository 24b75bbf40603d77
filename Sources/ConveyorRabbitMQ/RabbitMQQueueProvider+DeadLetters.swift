import CRabbitMQ
import Conveyor
import Foundation

extension RabbitMQQueueProvider {
    /// A message fetched with `basic.get` on the admin channel and not yet settled.
    struct Fetched: Sendable {
        var delivery: AMQPDelivery
        var generation: UInt64
    }

    /// Lists up to `limit` messages of `<queue>.dlq` with `basic.get` and puts them back (`basic.nack` with
    /// requeue), oldest first.
    public func deadLetters(of queue: String, limit: Int) async throws -> [DeadLetter] {
        guard limit > 0 else { return [] }
        let dlq = RabbitMQTopology.deadLetterQueue(of: queue)
        let fetched = try await publisher.connection.perform { c, s throws(ConveyorError) in
            let messages = try Self.fetch(dlq, limit: limit, c, s)
            try Self.putBack(messages, c, s, "requeueing dead letters")
            return messages
        }
        return fetched.map(Self.deadLetter)
    }

    static func deadLetter(_ d: AMQPDelivery) -> DeadLetter {
        let envelope: Result<Envelope, ConveyorError>
        do throws(ConveyorError) {
            envelope = .success(try EnvelopeCodec.decode(d.body))
        } catch {
            envelope = .failure(error)
        }
        let envelopeHeaders = (try? envelope.get().headers) ?? [:]
        let code = d.headers[AMQPHeader.deadLetterCode]?.stringValue ?? envelopeHeaders[Envelope.HeaderKey.deadLetterCode] ?? "unknown"
        let message = d.headers[AMQPHeader.deadLetterReason]?.stringValue ?? envelopeHeaders[Envelope.HeaderKey.deadLetterReason] ?? ""
        let recorded = d.headers[AMQPHeader.attempt]?.intValue ?? envelopeHeaders[Envelope.HeaderKey.deadLetterAttempt].flatMap { Int($0) } ?? 0
        let attempts = min(max(recorded, 0), AMQPDelivery.maximumAttempt)
        var rawBody: [UInt8]? = nil
        if case .failure = envelope { rawBody = d.body }
        return DeadLetter(envelope: envelope, rawBody: rawBody, reason: FailureReason(code: code, message: message), attempts: attempts)
    }

    /// Puts fetched messages back (`basic.reject` with requeue, one per message). Never `basic.nack` with `multiple`:
    /// a redrive keeps its fetched messages unsettled on the same channel across turns of the thread, and a
    /// multiple nack would requeue those too (its later ack then fails with "unknown delivery tag"). Thread only.
    static func putBack(_ messages: [AMQPDelivery], _ c: AMQPConnection, _ s: amqp_connection_state_t, _ what: String) throws(ConveyorError) {
        for message in messages {
            try c.check(status: amqp_basic_reject(s, 2, message.deliveryTag, 1), what)
        }
    }

    /// Fetches up to `limit` messages of `queue` without settling them. Thread only.
    static func fetch(_ queue: String, limit: Int, _ c: AMQPConnection, _ s: amqp_connection_state_t) throws(ConveyorError) -> [AMQPDelivery] {
        let arena = AMQPArena()
        let name = arena.bytes(queue)
        var out: [AMQPDelivery] = []
        while out.count < limit {
            let reply = amqp_basic_get(s, 2, name, 0)
            try c.check(reply, channel: 2, "basic.get on \(queue)")
            guard reply.reply.id == conveyor_method_basic_get_ok, let decoded = reply.reply.decoded else { break }
            let ok = decoded.assumingMemoryBound(to: amqp_basic_get_ok_t.self).pointee
            let (delivery, content) = AMQPDelivery.read(s, channel: 2, tag: ok.delivery_tag, redelivered: ok.redelivered != 0, connection: c)
            try c.check(content, channel: 2, "reading a message of \(queue)")
            guard let delivery else { break }
            out.append(delivery)
        }
        amqp_maybe_release_buffers(s)
        return out
    }

    /// Most dead letters one ``redrive(_:ids:)`` call moves.
    static let redriveLimit = 100_000
    /// Dead letters fetched per turn of the publisher thread during ``redrive(_:ids:)``, so that publishes of
    /// other callers interleave with a long redrive.
    static let redriveChunk = 500

    /// Moves dead letters of `queue` (all, or those whose job id is in `ids`) back to `queue` with a fresh
    /// attempt count: all messages of `<queue>.dlq` (at most 100 000 per call) are fetched with `basic.get`, the
    /// selected ones are republished (confirmed) and then acked, the others are put back. Fetching runs in chunks
    /// of 500 on the publisher's thread, so publishing is not blocked meanwhile. If the connection is lost while
    /// fetching, nothing is moved (the broker requeues what was fetched) and the call throws a retryable
    /// ``Conveyor/ConveyorError/Code/connectionFailed``.
    public func redrive(_ queue: String, ids: Set<JobID>?) async throws -> Int {
        let dlq = RabbitMQTopology.deadLetterQueue(of: queue)
        var generation: UInt64?
        var fetched: [AMQPDelivery] = []
        while fetched.count < Self.redriveLimit {
            let limit = Swift.min(Self.redriveChunk, Self.redriveLimit - fetched.count)
            let (chunkGeneration, chunk) = try await publisher.connection.perform { c, s throws(ConveyorError) in
                (c.generation, try Self.fetch(dlq, limit: limit, c, s))
            }
            if let generation, generation != chunkGeneration {
                throw ConveyorError(.connectionFailed, "the connection was lost while redriving \(dlq); nothing was moved, try again", retryable: true)
            }
            generation = chunkGeneration
            fetched += chunk
            if chunk.count < limit { break }
        }
        guard let generation else { return 0 }
        var publications: [AMQPPublication] = []
        var move: [UInt64] = []
        var keep: [UInt64] = []
        for d in fetched {
            let envelope = try? EnvelopeCodec.decode(d.body)
            let id = envelope?.id ?? d.messageID.map { JobID($0) }
            guard ids == nil || (id.map { ids!.contains($0) } ?? false) else {
                keep.append(d.deliveryTag)
                continue
            }
            move.append(d.deliveryTag)
            if let envelope = envelope?.redriven() {
                publications.append(publication(for: envelope, body: EnvelopeCodec.encode(envelope), queue: queue, delay: .zero, attempt: nil))
            } else {
                var p = publication(for: Envelope(id: JobID("unknown"), task: "", payload: []), body: d.body, queue: queue, delay: .zero, attempt: nil)
                p.messageID = d.messageID
                p.headers.removeAll { $0.key == AMQPHeader.task }
                publications.append(p)
            }
        }
        do {
            try await publisher.publish(publications)
        } catch {
            try? await settleFetched(ack: [], requeue: move + keep, generation: generation)
            throw error
        }
        try await settleFetched(ack: move, requeue: keep, generation: generation)
        return move.count
    }

    private func settleFetched(ack: [UInt64], requeue: [UInt64], generation: UInt64) async throws {
        guard !ack.isEmpty || !requeue.isEmpty else { return }
        try await publisher.connection.perform { c, s throws(ConveyorError) in
            guard c.generation == generation else { return }  // unacked messages went back when the connection closed
            for tag in ack { try c.check(status: amqp_basic_ack(s, 2, tag, 0), "ack on the dead-letter queue") }
            for tag in requeue { try c.check(status: amqp_basic_reject(s, 2, tag, 1), "requeue on the dead-letter queue") }
        }
    }

    /// Purges `<queue>.dlq` (`queue.purge`) and returns how many messages it held.
    public func purgeDeadLetters(of queue: String) async throws -> Int {
        let dlq = RabbitMQTopology.deadLetterQueue(of: queue)
        return try await publisher.connection.perform { c, s throws(ConveyorError) in
            let arena = AMQPArena()
            let ok = amqp_queue_purge(s, 2, arena.bytes(dlq))
            try c.check(amqp_get_rpc_reply(s), channel: 2, "purging \(dlq)")
            return Int(ok?.pointee.message_count ?? 0)
        }
    }
}
