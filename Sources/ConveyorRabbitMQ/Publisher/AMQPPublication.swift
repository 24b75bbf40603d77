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
    /// Whether Conveyor's exchanges (dead-letter, delay delivery, events) must exist before publishing.
    var needsExchanges = false
    /// A deduplication lock queue to declare before publishing (see `RabbitMQQueueProvider+Deduplication.swift`).
    var deduplicationLock: String?
    /// The code of the error when RabbitMQ returns the message as unroutable (`mandatory`): ``notConfirmed`` for
    /// jobs, ``queueNotFound`` for replies (whose queue is never declared by the publisher).
    var unroutableCode: ConveyorError.Code = .notConfirmed

    /// Longest AMQP short string (`message_id`, `correlation_id`, `expiration`, header keys), in bytes.
    static let maximumShortString = 255

    /// Publishes on channel 1 with `mandatory` and persistent delivery. Thread only.
    ///
    /// Values that come from a job (its id, correlation id, task name, trace context) may be of any length, but
    /// librabbitmq cannot encode a short string over 255 bytes nor a header frame over the connection's frame size,
    /// and the publisher would then retry the publication forever. So `message_id`, `correlation_id` and
    /// `expiration` longer than that are left out, and header entries are dropped, largest first, until the
    /// header frame fits; all of them are informative (the body carries the job).
    func publish(_ s: amqp_connection_state_t, arena: AMQPArena) -> Int32 {
        let messageID = messageID.flatMap { $0.utf8.count <= Self.maximumShortString ? $0 : nil }
        let correlationID = correlationID.flatMap { $0.utf8.count <= Self.maximumShortString ? $0 : nil }
        let expiration = expiration.flatMap { $0.utf8.count <= Self.maximumShortString ? $0 : nil }
        // The header frame: frame envelope (8), class/weight/body size/flags (14), the other properties, a margin.
        // Short strings take 1 + length; delivery mode, priority and timestamp 1 + 1 + 8, plus one byte of slack.
        let shortStrings = [messageID, correlationID, expiration, "application/json"]
        let otherProperties = shortStrings.reduce(0) { $0 + 1 + ($1?.utf8.count ?? 0) } + 11
        let headers = Self.fitting(headers, within: Int(amqp_get_frame_max(s)) - 8 - 14 - otherProperties - 64)
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

extension AMQPPublication {
    /// `headers` without entries librabbitmq cannot encode (a key over 255 bytes) and, largest first, without
    /// entries until the encoded table takes at most `budget` bytes.
    static func fitting(_ headers: [AMQPValue.Entry], within budget: Int) -> [AMQPValue.Entry] {
        var kept = headers.filter { $0.key.utf8.count <= maximumShortString }
        var size = 4 + kept.reduce(0) { $0 + encodedSize($1) }
        while size > budget, let largest = kept.indices.max(by: { encodedSize(kept[$0]) < encodedSize(kept[$1]) }) {
            size -= encodedSize(kept.remove(at: largest))
        }
        return kept
    }

    /// Bytes of one field-table entry on the wire: key (short string), kind, value.
    static func encodedSize(_ entry: AMQPValue.Entry) -> Int {
        1 + entry.key.utf8.count + 1 + encodedSize(entry.value)
    }

    private static func encodedSize(_ value: AMQPValue) -> Int {
        switch value {
        case .string(let s): return 4 + s.utf8.count
        case .int: return 8
        case .bool: return 1
        case .table(let entries): return 4 + entries.reduce(0) { $0 + encodedSize($1) }
        }
    }
}
