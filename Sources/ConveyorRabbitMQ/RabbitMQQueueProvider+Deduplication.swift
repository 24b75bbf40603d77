import CRabbitMQ
import Conveyor
import Foundation

// Deduplication without a database: RabbitMQ has no message deduplication, so a key is *claimed* by publishing a
// marker to a per-(queue, key) lock queue declared with `x-max-length: 1` and `x-overflow: reject-publish`. The
// first marker is confirmed (basic.ack); any later marker is refused by the broker (basic.nack) while the first
// one sits there, whichever process sends it, so that message is reported as deduplicated and not published.
//
// The window runs from the first accepted send, as on SQS FIFO: the marker carries a per-message TTL
// (`expiration`) of the window, and the broker drops it when that has passed, whatever happened since; the next
// marker is then accepted and starts a new window. Every claim declares the lock queue again, and RabbitMQ
// restarts a queue's `x-expires` on each declare, so `x-expires` (the window too) only removes lock queues nobody
// used for a window; it does not decide when a key is free. Checked on RabbitMQ 3.10.8 (see the test
// deduplication_windowRunsFromTheFirstSendNotTheLast): a classic queue without consumers drops an expired marker
// at its TTL, and declaring the queue again does not extend the marker's TTL.
//
// When the publish that follows a claim fails, the claim is released (the lock queue purged) so that the caller's
// retry is not taken for a duplicate. Limits: the claim and the publish are two steps, so a process that dies
// between them, or a release that fails because the connection is gone, leaves the key claimed until the window
// passes and a retry within it reads as "deduplicated". Every process that enqueues with keys to one vhost must
// use the same window: the lock queue's `x-expires` is part of its declaration, and RabbitMQ refuses to declare
// it again with another value (PRECONDITION_FAILED).

extension RabbitMQQueueProvider {
    /// The default of ``Configuration/deduplicationWindow``: 5 minutes (as SQS FIFO).
    public static let deduplicationWindow: Duration = .seconds(300)

    /// The longest deduplication window: 4 294 967 295 ms (about 49.7 days), RabbitMQ's limit for TTLs.
    static let maximumDeduplicationMilliseconds: Int64 = 4_294_967_295

    /// `window` in whole milliseconds, rounded up (the unit of `expiration` and `x-expires`); `nil` outside
    /// `1...maximumDeduplicationMilliseconds`.
    static func deduplicationMilliseconds(_ window: Duration) -> Int64? {
        let (seconds, attoseconds) = window.components
        guard seconds >= 0, attoseconds >= 0, seconds <= maximumDeduplicationMilliseconds / 1000 else { return nil }
        let milliseconds = seconds * 1000 + (attoseconds + 999_999_999_999_999) / 1_000_000_000_000_000
        guard (1...maximumDeduplicationMilliseconds).contains(milliseconds) else { return nil }
        return milliseconds
    }

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
        // The window runs from this (first accepted) marker: the broker drops it when its TTL has passed.
        marker.expiration = String(topology.deduplicationMilliseconds)
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
    /// `x-expires` the window). Declaring again restarts its `x-expires`, not the TTL of the marker it holds.
    func declareDeduplicationLock(_ lock: String, _ c: AMQPConnection, _ s: amqp_connection_state_t) throws(ConveyorError) {
        let arena = AMQPArena()
        let args = arena.table([
            ("x-queue-type", .string("classic")),
            ("x-max-length", .int(1)),
            ("x-overflow", .string("reject-publish")),
            ("x-expires", .int(topology.deduplicationMilliseconds)),
        ])
        amqp_queue_declare(s, 2, arena.bytes(lock), 0, 1, 0, 0, args)
        try c.check(amqp_get_rpc_reply(s), channel: 2, "declaring deduplication lock queue \(lock)")
    }
}
