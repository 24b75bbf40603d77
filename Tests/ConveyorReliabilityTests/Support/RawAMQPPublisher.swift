import CRabbitMQ
import Conveyor
import Foundation

@testable import ConveyorRabbitMQ

/// A foreign producer on RabbitMQ: publishes bodies with AMQP properties and header field kinds that Conveyor's own
/// publisher never writes (every integer width, floats, decimals, timestamps, arrays, void, byte strings, nested
/// tables), with librabbitmq on channel 2 of `provider`'s publisher connection (on its thread; channel 1 and its
/// publisher confirms stay the publisher's).
enum RawAMQPPublisher {
    /// Publishes `messages` to `queue` on the default exchange, then returns the queue's message count, read with a
    /// round trip on the same channel (so every publish before it has reached the broker).
    static func publish(_ messages: [(body: [UInt8], properties: FuzzAMQPProperties)], to queue: String, with provider: RabbitMQQueueProvider) async throws -> Int {
        try await provider.publisher.connection.perform { c, s throws(ConveyorError) in
            for message in messages {
                let memory = RawAMQPMemory()
                var properties = memory.properties(message.properties)
                let status = message.body.withUnsafeBytes { raw in
                    let body = amqp_bytes_t(len: raw.count, bytes: raw.count == 0 ? nil : UnsafeMutableRawPointer(mutating: raw.baseAddress))
                    return amqp_basic_publish(s, 2, memory.bytes(""), memory.bytes(queue), 0, 0, &properties, body)
                }
                try c.check(status: status, "publishing a raw message to \(queue)")
            }
            return try RabbitMQQueueProvider.count(queue, c, s)
        }
    }
}

/// C memory of one raw publish (strings, tables, arrays), freed with it. Thread only.
final class RawAMQPMemory {
    private var allocations: [UnsafeMutableRawPointer] = []

    deinit {
        for p in allocations { free(p) }
    }

    func bytes(_ text: String) -> amqp_bytes_t { bytes(Array(text.utf8)) }

    func bytes(_ data: [UInt8]) -> amqp_bytes_t {
        guard !data.isEmpty else { return amqp_bytes_t(len: 0, bytes: nil) }
        let p = allocate(data.count)
        data.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: data.count) }
        return amqp_bytes_t(len: data.count, bytes: p)
    }

    private func allocate(_ count: Int) -> UnsafeMutableRawPointer {
        let p = malloc(max(count, 1))!
        allocations.append(p)
        return p
    }

    func table(_ entries: [FuzzAMQPHeader]) -> amqp_table_t {
        guard !entries.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let p = allocate(MemoryLayout<amqp_table_entry_t>.stride * entries.count).bindMemory(to: amqp_table_entry_t.self, capacity: entries.count)
        for (i, entry) in entries.enumerated() {
            (p + i).initialize(to: amqp_table_entry_t(key: bytes(entry.key), value: field(entry.value)))
        }
        return amqp_table_t(num_entries: Int32(entries.count), entries: p)
    }

    func field(_ value: FuzzAMQPField) -> amqp_field_value_t {
        var v = amqp_field_value_t()
        func kind(_ c: Character) { v.kind = UInt8(ascii: c.unicodeScalars.first!) }
        switch value {
        case .bool(let b): kind("t"); v.value.boolean = b ? 1 : 0
        case .i8(let n): kind("b"); v.value.i8 = n
        case .u8(let n): kind("B"); v.value.u8 = n
        case .i16(let n): kind("s"); v.value.i16 = n
        case .u16(let n): kind("u"); v.value.u16 = n
        case .i32(let n): kind("I"); v.value.i32 = n
        case .u32(let n): kind("i"); v.value.u32 = n
        case .i64(let n): kind("l"); v.value.i64 = n
        case .f32(let n): kind("f"); v.value.f32 = n
        case .f64(let n): kind("d"); v.value.f64 = n
        case .decimal(let places, let n): kind("D"); v.value.decimal = amqp_decimal_t(decimals: places, value: n)
        case .utf8(let s): kind("S"); v.value.bytes = bytes(s)
        case .bytes(let b): kind("x"); v.value.bytes = bytes(b)
        case .timestamp(let t): kind("T"); v.value.u64 = t
        case .void: kind("V")
        case .table(let entries): kind("F"); v.value.table = table(entries)
        case .array(let items):
            kind("A")
            let p = allocate(MemoryLayout<amqp_field_value_t>.stride * max(items.count, 1)).bindMemory(to: amqp_field_value_t.self, capacity: max(items.count, 1))
            for (i, item) in items.enumerated() { (p + i).initialize(to: field(item)) }
            v.value.array = amqp_array_t(num_entries: Int32(items.count), entries: items.isEmpty ? nil : p)
        }
        return v
    }

    /// The basic properties of `p`; content type and delivery mode as a foreign producer might set them.
    func properties(_ p: FuzzAMQPProperties) -> amqp_basic_properties_t {
        var properties = amqp_basic_properties_t()
        var flags: UInt32 = 0
        if let contentType = p.contentType {
            flags |= conveyor_flag_content_type
            properties.content_type = bytes(contentType)
        }
        if let contentEncoding = p.contentEncoding {
            flags |= 1 << 14  // AMQP_BASIC_CONTENT_ENCODING_FLAG
            properties.content_encoding = bytes(contentEncoding)
        }
        if let deliveryMode = p.deliveryMode {
            flags |= conveyor_flag_delivery_mode
            properties.delivery_mode = deliveryMode
        }
        if let priority = p.priority {
            flags |= conveyor_flag_priority
            properties.priority = priority
        }
        if let correlationID = p.correlationID {
            flags |= conveyor_flag_correlation_id
            properties.correlation_id = bytes(correlationID)
        }
        if let expiration = p.expiration {
            flags |= conveyor_flag_expiration
            properties.expiration = bytes(expiration)
        }
        if let messageID = p.messageID {
            flags |= conveyor_flag_message_id
            properties.message_id = bytes(messageID)
        }
        if let timestamp = p.timestamp {
            flags |= conveyor_flag_timestamp
            properties.timestamp = timestamp
        }
        if let type = p.type {
            flags |= 1 << 5  // AMQP_BASIC_TYPE_FLAG
            properties.type = bytes(type)
        }
        if !p.headers.isEmpty {
            flags |= conveyor_flag_headers
            properties.headers = table(p.headers)
        }
        properties._flags = amqp_flags_t(flags)
        return properties
    }
}
