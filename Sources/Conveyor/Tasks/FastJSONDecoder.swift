import Foundation

/// A small, strict JSON decoder for task inputs: the common shapes (objects, arrays, strings, numbers, booleans,
/// null) decode several times faster than with Foundation's `JSONDecoder`. Anything it is unsure about (`Date`,
/// `Data`, `URL`, `Decimal`, duplicate keys, numbers that do not fit exactly, `superDecoder`) makes it give up, and
/// the caller decodes with `JSONDecoder` instead, so a successful fast decode always yields what `JSONDecoder` would.
enum FastJSONDecoder {
    /// Thrown when the fast path gives up; never escapes to users.
    struct GiveUp: Error {}

    indirect enum Value {
        case null
        case bool(Bool)
        case number(String)
        case string(String)
        case array([Value])
        case object([String: Value])
    }

    static func decode<T: Decodable>(_ type: T.Type, from bytes: [UInt8]) throws(GiveUp) -> T {
        var parser = Parser(bytes: bytes)
        let value: Value
        do {
            value = try parser.parseDocument()
        } catch {
            throw GiveUp()
        }
        let state = DecodeState()
        let result: T
        do {
            result = try FastDecoder(value: value, codingPath: [], state: state).decode(T.self)
        } catch {
            throw GiveUp()
        }
        // A type may have caught one of our errors (`try?`) and taken another branch than it would with
        // JSONDecoder, whose errors differ: start over with JSONDecoder.
        guard !state.failed else { throw GiveUp() }
        return result
    }

    // MARK: Parser

    struct Parser {
        let bytes: [UInt8]
        var index = 0

        init(bytes: [UInt8]) { self.bytes = bytes }

        mutating func parseDocument() throws(GiveUp) -> Value {
            let value = try parseValue(depth: 0)
            skipWhitespace()
            guard index == bytes.count else { throw GiveUp() }
            return value
        }

        mutating func skipWhitespace() {
            while index < bytes.count {
                switch bytes[index] {
                case 0x20, 0x0A, 0x0D, 0x09: index += 1
                default: return
                }
            }
        }

        mutating func parseValue(depth: Int) throws(GiveUp) -> Value {
            guard depth < 64 else { throw GiveUp() }
            skipWhitespace()
            guard index < bytes.count else { throw GiveUp() }
            switch bytes[index] {
            case UInt8(ascii: "{"):
                index += 1
                var object: [String: Value] = [:]
                skipWhitespace()
                if index < bytes.count && bytes[index] == UInt8(ascii: "}") {
                    index += 1
                    return .object(object)
                }
                while true {
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw GiveUp() }
                    let key = try parseString()
                    skipWhitespace()
                    guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw GiveUp() }
                    index += 1
                    let value = try parseValue(depth: depth + 1)
                    guard object.updateValue(value, forKey: key) == nil else { throw GiveUp() }
                    skipWhitespace()
                    guard index < bytes.count else { throw GiveUp() }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "}") { index += 1; return .object(object) }
                    throw GiveUp()
                }
            case UInt8(ascii: "["):
                index += 1
                var array: [Value] = []
                skipWhitespace()
                if index < bytes.count && bytes[index] == UInt8(ascii: "]") {
                    index += 1
                    return .array(array)
                }
                while true {
                    array.append(try parseValue(depth: depth + 1))
                    skipWhitespace()
                    guard index < bytes.count else { throw GiveUp() }
                    if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                    if bytes[index] == UInt8(ascii: "]") { index += 1; return .array(array) }
                    throw GiveUp()
                }
            case UInt8(ascii: "\""):
                return .string(try parseString())
            case UInt8(ascii: "t"):
                try expect("true")
                return .bool(true)
            case UInt8(ascii: "f"):
                try expect("false")
                return .bool(false)
            case UInt8(ascii: "n"):
                try expect("null")
                return .null
            default:
                return try parseNumber()
            }
        }

        mutating func expect(_ literal: StaticString) throws(GiveUp) {
            let count = literal.utf8CodeUnitCount
            guard index + count <= bytes.count else { throw GiveUp() }
            for offset in 0..<count where bytes[index + offset] != literal.utf8Start[offset] {
                throw GiveUp()
            }
            index += count
        }

        mutating func parseNumber() throws(GiveUp) -> Value {
            let start = index
            if index < bytes.count && bytes[index] == UInt8(ascii: "-") { index += 1 }
            var digits = 0
            while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                index += 1
                digits += 1
            }
            guard digits > 0 else { throw GiveUp() }
            if bytes[start] == UInt8(ascii: "0") && digits > 1 { throw GiveUp() }
            if bytes[start] == UInt8(ascii: "-") && bytes[start + 1] == UInt8(ascii: "0") && digits > 1 { throw GiveUp() }
            if index < bytes.count && bytes[index] == UInt8(ascii: ".") {
                index += 1
                var fraction = 0
                while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                    index += 1
                    fraction += 1
                }
                guard fraction > 0 else { throw GiveUp() }
            }
            if index < bytes.count && (bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E")) {
                index += 1
                if index < bytes.count && (bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-")) { index += 1 }
                var exponent = 0
                while index < bytes.count, bytes[index] >= UInt8(ascii: "0"), bytes[index] <= UInt8(ascii: "9") {
                    index += 1
                    exponent += 1
                }
                guard exponent > 0 else { throw GiveUp() }
            }
            return .number(String(decoding: bytes[start..<index], as: UTF8.self))
        }

        mutating func parseString() throws(GiveUp) -> String {
            index += 1  // opening quote
            let start = index
            // Fast path: no escapes.
            while index < bytes.count {
                let byte = bytes[index]
                if byte == UInt8(ascii: "\"") {
                    let slice = bytes[start..<index]
                    index += 1
                    guard let text = String(validating: slice, as: UTF8.self) else { throw GiveUp() }
                    return text
                }
                if byte == UInt8(ascii: "\\") { break }
                if byte < 0x20 { throw GiveUp() }
                index += 1
            }
            var scalars = Array(bytes[start..<index])
            while index < bytes.count {
                let byte = bytes[index]
                switch byte {
                case UInt8(ascii: "\""):
                    index += 1
                    guard let text = String(validating: scalars, as: UTF8.self) else { throw GiveUp() }
                    return text
                case UInt8(ascii: "\\"):
                    index += 1
                    guard index < bytes.count else { throw GiveUp() }
                    let escape = bytes[index]
                    index += 1
                    switch escape {
                    case UInt8(ascii: "\""): scalars.append(0x22)
                    case UInt8(ascii: "\\"): scalars.append(0x5C)
                    case UInt8(ascii: "/"): scalars.append(0x2F)
                    case UInt8(ascii: "b"): scalars.append(0x08)
                    case UInt8(ascii: "f"): scalars.append(0x0C)
                    case UInt8(ascii: "n"): scalars.append(0x0A)
                    case UInt8(ascii: "r"): scalars.append(0x0D)
                    case UInt8(ascii: "t"): scalars.append(0x09)
                    case UInt8(ascii: "u"):
                        var code = try hex4()
                        if (0xD800...0xDBFF).contains(code) {
                            guard index + 1 < bytes.count, bytes[index] == UInt8(ascii: "\\"), bytes[index + 1] == UInt8(ascii: "u") else {
                                throw GiveUp()
                            }
                            index += 2
                            let low = try hex4()
                            guard (0xDC00...0xDFFF).contains(low) else { throw GiveUp() }
                            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                        } else if (0xDC00...0xDFFF).contains(code) {
                            throw GiveUp()
                        }
                        guard let scalar = Unicode.Scalar(code) else { throw GiveUp() }
                        scalars.append(contentsOf: Array(String(Character(scalar)).utf8))
                    default:
                        throw GiveUp()
                    }
                default:
                    if byte < 0x20 { throw GiveUp() }
                    scalars.append(byte)
                    index += 1
                }
            }
            throw GiveUp()
        }

        mutating func hex4() throws(GiveUp) -> UInt32 {
            guard index + 4 <= bytes.count else { throw GiveUp() }
            var value: UInt32 = 0
            for _ in 0..<4 {
                let byte = bytes[index]
                index += 1
                value <<= 4
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): value |= UInt32(byte - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): value |= UInt32(byte - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): value |= UInt32(byte - UInt8(ascii: "A") + 10)
                default: throw GiveUp()
                }
            }
            return value
        }
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
    let value: FastJSONDecoder.Value
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
    static func string(_ value: FastJSONDecoder.Value, _ state: DecodeState) throws -> String {
        guard case .string(let text) = value else { throw state.giveUp() }
        return text
    }

    static func bool(_ value: FastJSONDecoder.Value, _ state: DecodeState) throws -> Bool {
        guard case .bool(let flag) = value else { throw state.giveUp() }
        return flag
    }

    static func integer<T: FixedWidthInteger>(_ value: FastJSONDecoder.Value, _ type: T.Type, _ state: DecodeState) throws -> T {
        guard case .number(let text) = value, let number = T(text, radix: 10) else { throw state.giveUp() }
        return number
    }

    static func floating<T: LosslessStringConvertible & BinaryFloatingPoint>(_ value: FastJSONDecoder.Value, _ type: T.Type, _ state: DecodeState) throws -> T {
        guard type == Double.self else { throw state.giveUp() }
        guard case .number(let text) = value, let number = T(text), number.isFinite else { throw state.giveUp() }
        return number
    }

    static func decode<T: Decodable>(_ value: FastJSONDecoder.Value, _ type: T.Type, path: [any CodingKey], _ state: DecodeState) throws -> T {
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
    let object: [String: FastJSONDecoder.Value]
    let codingPath: [any CodingKey]
    let state: DecodeState

    var allKeys: [Key] { object.keys.compactMap { Key(stringValue: $0) } }

    func contains(_ key: Key) -> Bool { object[key.stringValue] != nil }

    private func value(_ key: Key) throws -> FastJSONDecoder.Value {
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
    let array: [FastJSONDecoder.Value]
    let codingPath: [any CodingKey]
    let state: DecodeState
    var currentIndex = 0

    init(array: [FastJSONDecoder.Value], codingPath: [any CodingKey], state: DecodeState) {
        self.array = array
        self.codingPath = codingPath
        self.state = state
    }

    var count: Int? { array.count }
    var isAtEnd: Bool { currentIndex >= array.count }

    private mutating func next() throws -> FastJSONDecoder.Value {
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
    let value: FastJSONDecoder.Value
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
