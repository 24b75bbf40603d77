import CRabbitMQ
import Conveyor

extension RabbitMQQueueProvider: PausingProvider {
    /// The queue whose messages mark `queue` paused: `conveyor.paused.<queue>`, a durable classic queue that nothing
    /// consumes; `queue` is paused while it holds a message.
    static func pauseMarkerQueue(of queue: String) throws(ConveyorError) -> String {
        try markerQueue("conveyor.paused.", of: queue, "cannot pause queue \(queue): its pause marker queue name")
    }

    /// `prefix + queue`, the name of one of `queue`'s marker queues (pause, cancellations); throws, starting the
    /// message with `refusal`, when it would be over RabbitMQ's 255 bytes.
    static func markerQueue(_ prefix: String, of queue: String, _ refusal: String) throws(ConveyorError) -> String {
        let marker = prefix + queue
        guard marker.utf8.count <= AMQPPublication.maximumShortString else {
            throw ConveyorError(
                .invalidParameter,
                "\(refusal) \"\(prefix)<queue>\" would be over RabbitMQ's 255 bytes; use a queue name of at most \(AMQPPublication.maximumShortString - prefix.utf8.count) bytes"
            )
        }
        return marker
    }

    /// Pauses `queue` by publishing one persistent marker message (confirmed) to ``pauseMarkerQueue(of:)``, or
    /// resumes it by purging that queue. The marker queue is declared durable, so the state survives broker and
    /// worker restarts.
    public func setPaused(_ paused: Bool, queue: String) async throws {
        try checkOpen()
        let marker = try Self.pauseMarkerQueue(of: queue)
        if paused {
            guard try await markerCount(marker) == 0 else { return }
            var publication = AMQPPublication(
                exchange: "", routingKey: marker, body: Array(#"{"paused":true}"#.utf8),
                messageID: nil, correlationID: nil, priority: nil, timestamp: nil
            )
            publication.queue = nil
            try await requestMetrics.measure("publish") { try await publisher.publish([publication]) }
        } else {
            try await requestMetrics.measure("purge") {
                try await publisher.connection.perform { c, s throws(ConveyorError) in
                    try Self.declareMarker(marker, c, s)
                    let arena = AMQPArena()
                    _ = amqp_queue_purge(s, 2, arena.bytes(marker))
                    try c.check(amqp_get_rpc_reply(s), channel: 2, "purging \(marker)")
                }
            }
        }
    }

    /// Whether `queue` is paused: one declaration of its marker queue, which answers its message count. With
    /// ``Configuration/declaresQueuesOnFirstUse`` off (a user without `configure` permission), the declaration is
    /// passive and a missing marker queue means not paused (RabbitMQ logs that channel error on its side).
    public func isPaused(_ queue: String) async throws -> Bool {
        try checkOpen()
        let marker = try Self.pauseMarkerQueue(of: queue)
        do {
            return try await markerCount(marker, passive: !configuration.declaresQueuesOnFirstUse) > 0
        } catch let error as ConveyorError where error.code == .queueNotFound {
            return false
        }
    }

    func markerCount(_ marker: String, passive: Bool = false) async throws -> Int {
        try await requestMetrics.measure("declare") {
            try await publisher.connection.perform { c, s throws(ConveyorError) in try Self.declareMarker(marker, passive: passive, c, s) }
        }
    }

    /// Declares the marker queue (durable, no arguments; idempotent; or only checks it, `passive`) and returns its
    /// message count.
    @discardableResult
    static func declareMarker(_ marker: String, passive: Bool = false, _ c: AMQPConnection, _ s: amqp_connection_state_t) throws(ConveyorError) -> Int {
        let arena = AMQPArena()
        let ok = amqp_queue_declare(s, 2, arena.bytes(marker), passive ? 1 : 0, 1, 0, 0, amqp_table_t())
        try c.check(amqp_get_rpc_reply(s), channel: 2, "declaring \(marker)")
        return Int(ok?.pointee.message_count ?? 0)
    }
}
