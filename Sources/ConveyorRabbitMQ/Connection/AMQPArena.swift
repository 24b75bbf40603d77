import CRabbitMQ
import Foundation

/// Owns C memory handed to librabbitmq for the duration of one call (strings, tables). Not thread-safe: used
/// on a connection thread only.
final class AMQPArena {
    private var allocations: [UnsafeMutableRawPointer] = []

    init() {}

    deinit {
        for p in allocations { free(p) }
    }

    /// A copy of `text` as AMQP bytes, alive as long as the arena.
    func bytes(_ text: String) -> amqp_bytes_t {
        bytes(Array(text.utf8))
    }

    /// A copy of `data` as AMQP bytes, alive as long as the arena.
    func bytes(_ data: [UInt8]) -> amqp_bytes_t {
        guard !data.isEmpty, let p = malloc(data.count) else { return amqp_bytes_t(len: 0, bytes: nil) }
        allocations.append(p)
        data.withUnsafeBytes { p.copyMemory(from: $0.baseAddress!, byteCount: data.count) }
        return amqp_bytes_t(len: data.count, bytes: p)
    }

    /// A NUL-terminated copy of `text`.
    func cString(_ text: String) -> UnsafePointer<CChar> {
        let p = strdup(text)!
        allocations.append(UnsafeMutableRawPointer(p))
        return UnsafePointer(p)
    }

    /// An AMQP field table of `entries`.
    func table(_ entries: [(String, AMQPValue)]) -> amqp_table_t {
        guard !entries.isEmpty else { return amqp_table_t(num_entries: 0, entries: nil) }
        let raw = malloc(MemoryLayout<amqp_table_entry_t>.stride * entries.count)!
        allocations.append(raw)
        let p = raw.bindMemory(to: amqp_table_entry_t.self, capacity: entries.count)
        for (i, (key, value)) in entries.enumerated() {
            (p + i).initialize(to: amqp_table_entry_t(key: bytes(key), value: field(value)))
        }
        return amqp_table_t(num_entries: Int32(entries.count), entries: p)
    }

    private func field(_ value: AMQPValue) -> amqp_field_value_t {
        switch value {
        case .string(let s): return conveyor_field_utf8(bytes(s))
        case .int(let i): return conveyor_field_i64(i)
        case .bool(let b): return conveyor_field_bool(b ? 1 : 0)
        case .table(let t): return conveyor_field_table(table(t))
        }
    }
}

/// A field-table value Conveyor writes.
enum AMQPValue: Sendable, Hashable {
    case string(String)
    case int(Int64)
    case bool(Bool)
    case table([Entry])

    struct Entry: Sendable, Hashable {
        var key: String
        var value: AMQPValue
    }

    static func table(_ entries: [(String, AMQPValue)]) -> AMQPValue {
        .table(entries.map { Entry(key: $0.0, value: $0.1) })
    }
}

extension AMQPArena {
    fileprivate func table(_ entries: [AMQPValue.Entry]) -> amqp_table_t {
        table(entries.map { ($0.key, $0.value) })
    }
}

extension amqp_bytes_t {
    /// The bytes as a Swift array.
    var array: [UInt8] {
        guard len > 0, let bytes else { return [] }
        return Array(UnsafeRawBufferPointer(start: bytes, count: len))
    }

    /// The bytes as a UTF-8 string (lossy).
    var string: String {
        guard len > 0, let bytes else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: bytes, count: len), as: UTF8.self)
    }
}

extension amqp_table_t {
    /// Reads string and integer entries (integers of every width; an unsigned 64-bit value above `Int64.max` reads
    /// as `Int64.max`); other kinds are skipped.
    func decoded() -> [String: AMQPHeaderValue] {
        var out: [String: AMQPHeaderValue] = [:]
        guard num_entries > 0, let entries else { return out }
        for i in 0..<Int(num_entries) {
            var entry = entries[i]
            let key = entry.key.string
            var number: Int64 = 0
            if conveyor_field_integer(&entry.value, &number) != 0 {
                out[key] = .int(number)
            } else {
                let s = conveyor_field_string(&entry.value)
                if s.bytes != nil { out[key] = .string(s.string) }
            }
        }
        return out
    }
}

/// A header value read from a delivery.
enum AMQPHeaderValue: Sendable, Hashable {
    case string(String)
    case int(Int64)

    var stringValue: String {
        switch self {
        case .string(let s): return s
        case .int(let i): return String(i)
        }
    }

    /// The value as an integer: integers as they are, strings of decimal digits (with an optional sign) parsed,
    /// saturating at `Int.min`/`Int.max` when they do not fit; `nil` for other strings.
    var intValue: Int? {
        switch self {
        case .string(let s):
            if let i = Int(s) { return i }
            var digits = Substring(s)
            let negative = digits.first == "-"
            if negative || digits.first == "+" { digits = digits.dropFirst() }
            guard !digits.isEmpty, digits.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
            return negative ? Int.min : Int.max
        case .int(let i): return Int(exactly: i) ?? (i < 0 ? Int.min : Int.max)
        }
    }
}
