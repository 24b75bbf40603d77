import CRabbitMQ
import Conveyor

/// One message to publish, built by the caller and published on the publisher thread.
struct AMQPPublication: Sendable {
    /// Target exchange (`""`: the default exchange).
    var exchange: String
    /// Routing key (the queue name on the default exchange).
    var routingKey: String
    /// The body (an encoded envelope, or the raw body of an undecodable message).
    var body: [UInt8]
    /// `message_id` (the job id).
    var messageID: String?
    /// `correlation_id`.
    var correlationID: String?
    /// `priority`.
    var priority: UInt8?
    /// `timestamp`, seconds since 1970.
    var timestamp: UInt64?
    /// `expiration`: the per-message TTL in milliseconds, as decimal digits.
    var expiration: String?
    /// Application headers.
    var headers: [AMQPValue.Entry] = []
    /// The queue whose topology must exist before publishing (nil: none).
    var queue: String?
    /// Whether the delay levels must exist before publishing.
    var needsDelayLevels = false
    /// A deduplication lock queue to declare before publishing (see `RabbitMQQueueProvider+Deduplication.swift`).
    var deduplicationLock: String?

    /// Publishes on channel 1 with `mandatory` and persistent delivery. Thread only.
    func publish(_ s: amqp_connection_state_t, arena: AMQPArena) -> Int32 {
        var properties = amqp_basic_properties_t()
        var flags = conveyor_flag_content_type | conveyor_flag_delivery_mode
        properties.content_type = arena.bytes("application/json")
        properties.delivery_mode = 2
        if let messageID {
            flags |= conveyor_flag_message_id
            properties.message_id = arena.bytes(messageID)
        }
        if let correlationID {
            flags |= conveyor_flag_correlation_id
            properties.correlation_id = arena.bytes(correlationID)
        }
        if let priority {
            flags |= conveyor_flag_priority
            properties.priority = priority
        }
        if let timestamp {
            flags |= conveyor_flag_timestamp
            properties.timestamp = timestamp
        }
        if let expiration {
            flags |= conveyor_flag_expiration
            properties.expiration = arena.bytes(expiration)
        }
        if !headers.isEmpty {
            flags |= conveyor_flag_headers
            properties.headers = arena.table(headers.map { ($0.key, $0.value) })
        }
        properties._flags = amqp_flags_t(flags)
        return body.withUnsafeBytes { raw in
            let bytes = amqp_bytes_t(len: raw.count, bytes: raw.count == 0 ? nil : UnsafeMutableRawPointer(mutating: raw.baseAddress))
            return amqp_basic_publish(s, 1, arena.bytes(exchange), arena.bytes(routingKey), 1, 0, &properties, bytes)
        }
    }
}
