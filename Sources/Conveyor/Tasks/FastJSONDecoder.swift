import Foundation

/// A `Decoder` over ``JSONReader``'s values for task inputs: the common shapes (objects, arrays, strings, numbers, booleans,
/// null) decode several times faster than with Foundation's `JSONDecoder`. Anything it is unsure about (`Date`,
/// `Data`, `URL`, `Decimal`, duplicate keys, numbers that do not fit exactly, `superDecoder`) makes it give up, and
/// the caller decodes with `JSONDecoder` instead, so a successful fast decode always yields what `JSONDecoder` would.
enum FastJSONDecoder {
    /// Thrown when the fast path gives up; never escapes to users.
    struct GiveUp: Error {
        /// The input is valid JSON within the fast path's limits, and the type is what the fast path could not
        /// decode: later inputs for it will likely miss too.
        var typeMissed = false
    }

    /// What the fast path reads: JSONDecoder's own nesting limit is higher, so deeper inputs are left to it, and a
    /// repeated key (whose winner JSONDecoder picks by its own rule) gives up.
    static let limits = JSONReader.Limits(maximumDepth: 64, rejectsDuplicateKeys: true)

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(GiveUp) -> T {
        let value: JSONValue
        do {
            value = try JSONReader.read(bytes, limits: limits)
        } catch {
            throw GiveUp()
        }
        let state = DecodeState()
        let result: T
        do {
            result = try FastDecoder(value: value, codingPath: [], state: state).decode(T.self)
        } catch {
            throw GiveUp(typeMissed: true)
        }
        // A type may have caught one of our errors (`try?`) and taken another branch than it would with
        // JSONDecoder, whose errors differ: start over with JSONDecoder.
        guard !state.failed else { throw GiveUp(typeMissed: true) }
        return result
    }
}

// MARK: Decoder

/// Whether any error was thrown while decoding, even if the decoded type caught it.
private final class DecodeState {
    var failed = false

    func giveUp() -> FastJSONDecoder.GiveUp {
        failed = true
        return FastJSONDecoder.GiveUp()
    }
}

private struct FastDecoder: Decoder {
    let value: JSONValue
    let codingPath: [any CodingKey]
    let state: DecodeState
    var userInfo: [CodingUserInfoKey: Any] { [:] }

    func decode<T: Decodable>(_ type: T.Type) throws -> T {
        // Types JSONDecoder treats specially: leave them to it.
        if type == Date.self || type == Data.self || type == URL.self || type == Decimal.self || type == Float.self {
            throw state.giveUp()
        }
        return try T(from: self)
    }

    func container<Key: CodingKey>(keyedBy type: Key.Type) throws -> KeyedDecodingContainer<Key> {
        guard case .object(let object) = value else { throw state.giveUp() }
        return KeyedDecodingContainer(FastKeyedContainer<Key>(object: object, codingPath: codingPath, state: state))
    }

    func unkeyedContainer() throws -> any UnkeyedDecodingContainer {
        guard case .array(let array) = value else { throw state.giveUp() }
        return FastUnkeyedContainer(array: array, codingPath: codingPath, state: state)
    }

    func singleValueContainer() throws -> any SingleValueDecodingContainer {
        FastSingleValueContainer(value: value, codingPath: codingPath, state: state)
    }
}

private enum Scalar {
    static func string(_ value: JSONValue, _ state: DecodeState) throws -> String {
        guard case .string(let text) = value else { throw state.giveUp() }
        return text
    }

    static func bool(_ value: JSONValue, _ state: DecodeState) throws -> Bool {
        guard case .bool(let flag) = value else { throw state.giveUp() }
        return flag
    }

    static func integer<T: FixedWidthInteger>(_ value: JSONValue, _ type: T.Type, _ state: DecodeState) throws -> T {
        guard case .number(let text) = value, let number = T(text, radix: 10) else { throw state.giveUp() }
        return number
    }

    static func floating<T: LosslessStringConvertible & BinaryFloatingPoint>(_ value: JSONValue, _ type: T.Type, _ state: DecodeState) throws -> T {
        guard type == Double.self else { throw state.giveUp() }
        guard case .number(let text) = value, let number = T(text), number.isFinite else { throw state.giveUp() }
        return number
    }

    static func decode<T: Decodable>(_ value: JSONValue, _ type: T.Type, path: [any CodingKey], _ state: DecodeState) throws -> T {
        switch type {
        case is String.Type: return try string(value, state) as! T
        case is Int.Type: return try integer(value, Int.self, state) as! T
        case is Bool.Type: return try bool(value, state) as! T
        case is Double.Type: return try floating(value, Double.self, state) as! T
        default: return try FastDecoder(value: value, codingPath: path, state: state).decode(type)
        }
    }
}

private struct FastKeyedContainer<Key: CodingKey>: KeyedDecodingContainerProtocol {
    let object: [String: JSONValue]
    let codingPath: [any CodingKey]
    let state: DecodeState

    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    private func value(_ key: Key) throws -> JSONValue {
        guard let value = object[key.stringValue] else { throw state.giveUp() }
        return value
    }

    func decodeNil(forKey key: Key) throws -> Bool {
        if case .null = try value(key) { return true }
        return false
    }

    func decode(_ type: Bool.Type, forKey key: Key) throws -> Bool { try Scalar.bool(value(key), state) }
    func decode(_ type: String.Type, forKey key: Key) throws -> String { try Scalar.string(value(key), state) }
    func decode(_ type: Double.Type, forKey key: Key) throws -> Double { try Scalar.floating(value(key), type, state) }
    func decode(_ type: Float.Type, forKey key: Key) throws -> Float { try Scalar.floating(value(key), type, state) }
    func decode(_ type: Int.Type, forKey key: Key) throws -> Int { try Scalar.integer(value(key), type, state) }
    func decode(_ type: Int8.Type, forKey key: Key) throws -> Int8 { try Scalar.integer(value(key), type, state) }
    func decode(_ type: Int16.Type, forKey key: Key) throws -> Int16 { try Scalar.integer(value(key), type, state) }
    func decode(_ type: Int32.Type, forKey key: Key) throws -> Int32 { try Scalar.integer(value(key), type, state) }
    func decode(_ type: Int64.Type, forKey key: Key) throws -> Int64 { try Scalar.integer(value(key), type, state) }
    func decode(_ type: UInt.Type, forKey key: Key) throws -> UInt { try Scalar.integer(value(key), type, state) }
    func decode(_ type: UInt8.Type, forKey key: Key) throws -> UInt8 { try Scalar.integer(value(key), type, state) }
    func decode(_ type: UInt16.Type, forKey key: Key) throws -> UInt16 { try Scalar.integer(value(key), type, state) }
    func decode(_ type: UInt32.Type, forKey key: Key) throws -> UInt32 { try Scalar.integer(value(key), type, state) }
    func decode(_ type: UInt64.Type, forKey key: Key) throws -> UInt64 { try Scalar.integer(value(key), type, state) }
    func decode<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T {
        try Scalar.decode(value(key), type, path: codingPath + [key], state)
    }

    func decodeIfPresent<T: Decodable>(_ type: T.Type, forKey key: Key) throws -> T? {
        guard let value = object[key.stringValue] else { return nil }
        if case .null = value { return nil }
        return try Scalar.decode(value, type, path: codingPath + [key], state)
    }

    func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type, forKey key: Key) throws -> KeyedDecodingContainer<NestedKey> {
        try FastDecoder(value: value(key), codingPath: codingPath + [key], state: state).container(keyedBy: type)
    }

    func nestedUnkeyedContainer(forKey key: Key) throws -> any UnkeyedDecodingContainer {
        try FastDecoder(value: value(key), codingPath: codingPath + [key], state: state).unkeyedContainer()
    }

    func superDecoder() throws -> any Decoder { throw state.giveUp() }
    func superDecoder(forKey key: Key) throws -> any Decoder { throw state.giveUp() }
}

private struct FastUnkeyedContainer: UnkeyedDecodingContainer {
    let array: [JSONValue]
    let codingPath: [any CodingKey]
    let state: DecodeState
    var currentIndex = 0

    init(array: [JSONValue], codingPath: [any CodingKey], state: DecodeState) {
        self.array = array
        self.codingPath = codingPath
        self.state = state
    }

    var count: Int? { array.count }
    var isAtEnd: Bool { currentIndex >= array.count }

    private mutating func next() throws -> JSONValue {
        guard currentIndex < array.count else { throw state.giveUp() }
        defer { currentIndex += 1 }
        return array[currentIndex]
    }

    mutating func decodeNil() throws -> Bool {
        guard currentIndex < array.count else { throw state.giveUp() }
        if case .null = array[currentIndex] {
            currentIndex += 1
            return true
        }
        return false
    }

    mutating func decode(_ type: Bool.Type) throws -> Bool { try Scalar.bool(next(), state) }
    mutating func decode(_ type: String.Type) throws -> String { try Scalar.string(next(), state) }
    mutating func decode(_ type: Double.Type) throws -> Double { try Scalar.floating(next(), type, state) }
    mutating func decode(_ type: Float.Type) throws -> Float { try Scalar.floating(next(), type, state) }
    mutating func decode(_ type: Int.Type) throws -> Int { try Scalar.integer(next(), type, state) }
    mutating func decode(_ type: Int8.Type) throws -> Int8 { try Scalar.integer(next(), type, state) }
    mutating func decode(_ type: Int16.Type) throws -> Int16 { try Scalar.integer(next(), type, state) }
    mutating func decode(_ type: Int32.Type) throws -> Int32 { try Scalar.integer(next(), type, state) }
    mutating func decode(_ type: Int64.Type) throws -> Int64 { try Scalar.integer(next(), type, state) }
    mutating func decode(_ type: UInt.Type) throws -> UInt { try Scalar.integer(next(), type, state) }
    mutating func decode(_ type: UInt8.Type) throws -> UInt8 { try Scalar.integer(next(), type, state) }
    mutating func decode(_ type: UInt16.Type) throws -> UInt16 { try Scalar.integer(next(), type, state) }
    mutating func decode(_ type: UInt32.Type) throws -> UInt32 { try Scalar.integer(next(), type, state) }
    mutating func decode(_ type: UInt64.Type) throws -> UInt64 { try Scalar.integer(next(), type, state) }
    mutating func decode<T: Decodable>(_ type: T.Type) throws -> T {
        let path = codingPath
        return try Scalar.decode(next(), type, path: path, state)
    }

    mutating func nestedContainer<NestedKey: CodingKey>(keyedBy type: NestedKey.Type) throws -> KeyedDecodingContainer<NestedKey> {
        let path = codingPath
        return try FastDecoder(value: next(), codingPath: path, state: state).container(keyedBy: type)
    }

    mutating func nestedUnkeyedContainer() throws -> any UnkeyedDecodingContainer {
        let path = codingPath
        return try FastDecoder(value: next(), codingPath: path, state: state).unkeyedContainer()
    }

    mutating func superDecoder() throws -> any Decoder { throw state.giveUp() }
}

private struct FastSingleValueContainer: SingleValueDecodingContainer {
    let value: JSONValue
    let codingPath: [any CodingKey]
    let state: DecodeState

    func decodeNil() -> Bool {
        if case .null = value { return true }
        return false
    }

    func decode(_ type: Bool.Type) throws -> Bool { try Scalar.bool(value, state) }
    func decode(_ type: String.Type) throws -> String { try Scalar.string(value, state) }
    func decode(_ type: Double.Type) throws -> Double { try Scalar.floating(value, type, state) }
    func decode(_ type: Float.Type) throws -> Float { try Scalar.floating(value, type, state) }
    func decode(_ type: Int.Type) throws -> Int { try Scalar.integer(value, type, state) }
    func decode(_ type: Int8.Type) throws -> Int8 { try Scalar.integer(value, type, state) }
    func decode(_ type: Int16.Type) throws -> Int16 { try Scalar.integer(value, type, state) }
    func decode(_ type: Int32.Type) throws -> Int32 { try Scalar.integer(value, type, state) }
    func decode(_ type: Int64.Type) throws -> Int64 { try Scalar.integer(value, type, state) }
    func decode(_ type: UInt.Type) throws -> UInt { try Scalar.integer(value, type, state) }
    func decode(_ type: UInt8.Type) throws -> UInt8 { try Scalar.integer(value, type, state) }
    func decode(_ type: UInt16.Type) throws -> UInt16 { try Scalar.integer(value, type, state) }
    func decode(_ type: UInt32.Type) throws -> UInt32 { try Scalar.integer(value, type, state) }
    func decode(_ type: UInt64.Type) throws -> UInt64 { try Scalar.integer(value, type, state) }
    func decode<T: Decodable>(_ type: T.Type) throws -> T { try Scalar.decode(value, type, path: codingPath, state) }
}
