import CRabbitMQ
import Conveyor
import Foundation

// Deduplication without a database: RabbitMQ has no message deduplication, so a key is *claimed* by publishing a
// marker to a per-(queue, key) lock queue declared with `x-max-length: 1` and `x-overflow: reject-publish`. The
// first marker is confirmed (basic.ack); any later marker is refused by the broker (basic.nack) while the first
// one sits there, whichever process sends it, so that message is reported as deduplicated and not published.
// The lock queue has `x-expires` = the deduplication window: unused for that long, the broker deletes it with its
// marker and the key can be used again. When the publish that follows a claim fails, the claim is released (the
// lock queue purged) so that the caller's retry is not taken for a duplicate. Limits: the claim and the publish are
// two steps, so a process that dies between them, or a release that fails because the connection is gone, leaves
// the key claimed until the window passes and a retry within it reads as "deduplicated".

extension RabbitMQQueueProvider {
    /// How long a deduplication key is remembered: 5 minutes (as SQS FIFO).
    public static let deduplicationWindow: Duration = .seconds(300)

    /// The lock queue of `key` on `queue`: `conveyor.dedup.<hash>` (hashed so any key fits a queue name).
    static func deduplicationLockQueue(queue: String, key: String) -> String {
        "conveyor.dedup.\(StableHash.hex128("\(queue)\n\(key)"))"
    }

    /// Claims the deduplication keys of `messages` (in order, so a key repeated within the batch is claimed once)
    /// and returns the indices of messages that are duplicates.
    func claimDeduplicationKeys(_ messages: [OutgoingMessage], queue: String) async throws -> Set<Int> {
        var duplicates: Set<Int> = []
        var seen: Set<String> = []
        for (index, message) in messages.enumerated() {
            guard let key = message.deduplicationKey else { continue }
            guard seen.insert(key).inserted else {
                duplicates.insert(index)
                continue
            }
            let claimed = try await claim(key, queue: queue)
            if !claimed { duplicates.insert(index) }
        }
        return duplicates
    }

    /// Releases the claims of `keys` on `queue` after the messages they guarded could not be published, so that a
    /// retry of the same enqueue is not taken for a duplicate. Best effort: a release that fails is logged.
    func releaseDeduplicationKeys(_ keys: [String], queue: String) async {
        for key in keys {
            let lock = Self.deduplicationLockQueue(queue: queue, key: key)
            do {
                try await publisher.connection.perform { c, s throws(ConveyorError) in
                    let arena = AMQPArena()
                    _ = amqp_queue_purge(s, 2, arena.bytes(lock))
                    try c.check(amqp_get_rpc_reply(s), channel: 2, "releasing the deduplication lock \(lock)")
                }
            } catch {
                logger.debug(
                    "could not release a deduplication claim",
                    metadata: ["conveyor.queue": .string(queue), "dedup.lock": .string(lock), "error.message": .string("\(error)")])
            }
        }
    }

    /// Publishes the marker of `key`; `false` when the broker refused it because the key is already claimed.
    private func claim(_ key: String, queue: String) async throws -> Bool {
        let lock = Self.deduplicationLockQueue(queue: queue, key: key)
        var marker = AMQPPublication(exchange: "", routingKey: lock, body: Array(key.utf8.prefix(1000)), messageID: lock)
        marker.deduplicationLock = lock
        do {
            try await publisher.publish([marker])
            return true
        } catch let error as ConveyorError where error.code == .notConfirmed && error.message.contains("basic.nack") {
            return false
        }
    }
}

extension TopologyCache {
    /// Declares a deduplication lock queue (durable, classic, `x-max-length` 1, `x-overflow` reject-publish,
    /// `x-expires` the window). Declaring again refreshes its expiry.
    func declareDeduplicationLock(_ lock: String, _ c: AMQPConnection, _ s: amqp_connection_state_t) throws(ConveyorError) {
        let arena = AMQPArena()
        let milliseconds = RabbitMQQueueProvider.deduplicationWindow.components.seconds * 1000
        let args = arena.table([
            ("x-queue-type", .string("classic")),
            ("x-max-length", .int(1)),
            ("x-overflow", .string("reject-publish")),
            ("x-expires", .int(milliseconds)),
        ])
        amqp_queue_declare(s, 2, arena.bytes(lock), 0, 1, 0, 0, args)
        try c.check(amqp_get_rpc_reply(s), channel: 2, "declaring deduplication lock queue \(lock)")
    }
}
