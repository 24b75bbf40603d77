/// Hostile AMQP properties and headers for one raw RabbitMQ publish (see ``RawAMQPPublisher``).
struct FuzzAMQPProperties: Sendable {
    var contentType: String? = "application/json"
    var contentEncoding: String?
    var deliveryMode: UInt8? = 2
    var priority: UInt8?
    var timestamp: UInt64?
    var expiration: String?
    var headers: [FuzzAMQPHeader] = []
    var messageID: String?
    var correlationID: String?
    var type: String?
}

/// One entry of an AMQP field table.
struct FuzzAMQPHeader: Sendable {
    var key: String
    var value: FuzzAMQPField
}

/// An AMQP field value of any kind RabbitMQ carries (not the unsigned 64-bit `L`, which it refuses).
indirect enum FuzzAMQPField: Sendable, CustomStringConvertible {
    case bool(Bool), i8(Int8), u8(UInt8), i16(Int16), u16(UInt16), i32(Int32), u32(UInt32), i64(Int64)
    case f32(Float), f64(Double), decimal(places: UInt8, UInt32), utf8(String), bytes([UInt8]), timestamp(UInt64), void
    case array([FuzzAMQPField]), table([FuzzAMQPHeader])

    var description: String {
        switch self {
        case .bool(let b): "bool \(b)"
        case .i8(let n): "i8 \(n)"
        case .u8(let n): "u8 \(n)"
        case .i16(let n): "i16 \(n)"
        case .u16(let n): "u16 \(n)"
        case .i32(let n): "i32 \(n)"
        case .u32(let n): "u32 \(n)"
        case .i64(let n): "i64 \(n)"
        case .f32(let n): "f32 \(n)"
        case .f64(let n): "f64 \(n)"
        case .decimal(let places, let n): "decimal \(n)e-\(places)"
        case .utf8(let s): "string \(s.prefix(24).debugDescription)"
        case .bytes(let b): "bytes(\(b.count))"
        case .timestamp(let t): "timestamp \(t)"
        case .void: "void"
        case .array(let items): "array(\(items.count))"
        case .table(let entries): "table(\(entries.count))"
        }
    }
}
