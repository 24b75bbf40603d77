/// A small, non-recursive-to-the-stack-limit JSON reader for envelopes: it validates a whole document, returns
/// the top-level object's scalar fields and string maps, and the byte range of chosen fields so they can be
/// kept verbatim. It is hardened for hostile input (depth limit, no traps).
struct JSONScanner {
    enum Value: Equatable {
        case string(String)
        case number(Double)
        case bool(Bool)
        case null
        /// An object whose values are all strings.
        case object([String: String])
        /// A value kept as its byte range (requested raw keys), or any other composite value.
        case raw(Range<Int>)
    }

    struct Failure: Error, CustomStringConvertible {
        var offset: Int
        var reason: String
        var description: String { "\(reason) at byte \(offset)" }
    }

    static let maximumDepth = 256

    private let bytes: [UInt8]
    private var index = 0

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    mutating func parseTopLevelObject(rawKeys: Set<String> = []) throws(Failure) -> [String: Value] {
        skipWhitespace()
        guard peek() == UInt8(ascii: "{") else { throw fail("expected '{'") }
        index += 1
        var fields: [String: Value] = [:]
        skipWhitespace()
        if peek() == UInt8(ascii: "}") {
            index += 1
        } else {
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw fail("expected a field name") }
                let key = try parseString()
                skipWhitespace()
                guard peek() == UInt8(ascii: ":") else { throw fail("expected ':'") }
                index += 1
                skipWhitespace()
                let start = index
                let value: Value
                if rawKeys.contains(key) {
                    try skipValue(depth: 1)
                    value = .raw(start..<index)
                } else {
                    value = try parseFieldValue()
                }
                fields[key] = value
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"): index += 1
                    return try finish(fields)
                default: throw fail("expected ',' or '}'")
                }
            }
        }
        return try finish(fields)
    }

    private mutating func finish(_ fields: [String: Value]) throws(Failure) -> [String: Value] {
        skipWhitespace()
        guard index == bytes.count else { throw fail("unexpected data after the object") }
        return fields
    }

    private mutating func parseFieldValue() throws(Failure) -> Value {
        let start = index
        switch peek() {
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "{"):
            // A string map if every value is a string; otherwise kept raw.
            if let map = try? parseStringMap() { return .object(map) }
            index = start
            try skipValue(depth: 1)
            return .raw(start..<index)
        case UInt8(ascii: "t"), UInt8(ascii: "f"), UInt8(ascii: "n"):
            try skipValue(depth: 1)
            switch bytes[start] {
            case UInt8(ascii: "t"): return .bool(true)
            case UInt8(ascii: "f"): return .bool(false)
            default: return .null
            }
        case UInt8(ascii: "-")?, (UInt8(ascii: "0")...UInt8(ascii: "9"))?:
            try skipNumber()
            let text = String(decoding: bytes[start..<index], as: UTF8.self)
            guard let number = Double(text) else { throw fail("invalid number") }
            return .number(number)
        default:
            try skipValue(depth: 1)
            return .raw(start..<index)
        }
    }

    private mutating func parseStringMap() throws(Failure) -> [String: String] {
        guard peek() == UInt8(ascii: "{") else { throw fail("expected '{'") }
        index += 1
        var map: [String: String] = [:]
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { index += 1; return map }
        while true {
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a key") }
            let key = try parseString()
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a string value") }
            map[key] = try parseString()
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return map
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    /// Validates and skips one JSON value.
    private mutating func skipValue(depth: Int) throws(Failure) {
        guard depth <= Self.maximumDepth else { throw fail("nesting deeper than \(Self.maximumDepth)") }
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: "{"):
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "}") { index += 1; return }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw fail("expected a key") }
                try skipString()
                skipWhitespace()
                guard peek() == UInt8(ascii: ":") else { throw fail("expected ':'") }
                index += 1
                try skipValue(depth: depth + 1)
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "}"): index += 1; return
                default: throw fail("expected ',' or '}'")
                }
            }
        case UInt8(ascii: "["):
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "]") { index += 1; return }
            while true {
                try skipValue(depth: depth + 1)
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"): index += 1; return
                default: throw fail("expected ',' or ']'")
                }
            }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try expectLiteral("true")
        case UInt8(ascii: "f"): try expectLiteral("false")
        case UInt8(ascii: "n"): try expectLiteral("null")
        case UInt8(ascii: "-")?, (UInt8(ascii: "0")...UInt8(ascii: "9"))?: try skipNumber()
        case nil: throw fail("unexpected end of input")
        default: throw fail("unexpected character")
        }
    }

    private mutating func expectLiteral(_ literal: String) throws(Failure) {
        let expected = Array(literal.utf8)
        let count = expected.count
        guard index + count <= bytes.count else { throw fail("unexpected end of input") }
        guard bytes[index..<index + count].elementsEqual(expected) else { throw fail("invalid literal") }
        index += count
    }

    private mutating func skipNumber() throws(Failure) {
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { throw fail("invalid number") }
        if first == UInt8(ascii: "0") {
            index += 1
        } else {
            while let c = peek(), isDigit(c) { index += 1 }
        }
        if peek() == UInt8(ascii: ".") {
            index += 1
            guard let c = peek(), isDigit(c) else { throw fail("invalid number") }
            while let c = peek(), isDigit(c) { index += 1 }
        }
        if peek() == UInt8(ascii: "e") || peek() == UInt8(ascii: "E") {
            index += 1
            if peek() == UInt8(ascii: "+") || peek() == UInt8(ascii: "-") { index += 1 }
            guard let c = peek(), isDigit(c) else { throw fail("invalid number") }
            while let c = peek(), isDigit(c) { index += 1 }
        }
    }

    private mutating func skipString() throws(Failure) {
        _ = try parseString(decode: false)
    }

    /// Parses a string starting at the opening quote; returns its decoded value (empty when `decode` is false).
    private mutating func parseString(decode: Bool = true) throws(Failure) -> String {
        index += 1  // opening quote
        var scalars = String.UnicodeScalarView()
        var runStart = index
        var plain = true  // no escapes so far: decode the run in one go
        while index < bytes.count {
            let c = bytes[index]
            switch c {
            case UInt8(ascii: "\""):
                let result: String
                if plain {
                    result = decode ? try validatedUTF8(runStart..<index) : ""
                } else {
                    if decode { scalars.append(contentsOf: try validatedUTF8(runStart..<index).unicodeScalars) }
                    result = String(scalars)
                }
                index += 1
                return result
            case UInt8(ascii: "\\"):
                if decode { scalars.append(contentsOf: try validatedUTF8(runStart..<index).unicodeScalars) }
                plain = false
                index += 1
                guard let e = peek() else { throw fail("unterminated escape") }
                index += 1
                switch e {
                case UInt8(ascii: "\""): scalars.append("\"")
                case UInt8(ascii: "\\"): scalars.append("\\")
                case UInt8(ascii: "/"): scalars.append("/")
                case UInt8(ascii: "b"): scalars.append("\u{08}")
                case UInt8(ascii: "f"): scalars.append("\u{0C}")
                case UInt8(ascii: "n"): scalars.append("\n")
                case UInt8(ascii: "r"): scalars.append("\r")
                case UInt8(ascii: "t"): scalars.append("\t")
                case UInt8(ascii: "u"):
                    var code = try parseHex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard peek() == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate")
                        }
                        index += 2
                        let low = try parseHex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid surrogate pair") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(code) {
                        throw fail("unpaired surrogate")
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("invalid \\u escape") }
                    scalars.append(scalar)
                default: throw fail("invalid escape")
                }
                runStart = index
            case 0..<0x20:
                throw fail("control character in string")
            default:
                index += 1
            }
        }
        throw fail("unterminated string")
    }

    private mutating func parseHex4() throws(Failure) -> UInt32 {
        guard index + 4 <= bytes.count else { throw fail("truncated \\u escape") }
        var value: UInt32 = 0
        for _ in 0..<4 {
            let c = bytes[index]
            let digit: UInt32
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = UInt32(c - UInt8(ascii: "0"))
            case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = UInt32(c - UInt8(ascii: "a") + 10)
            case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = UInt32(c - UInt8(ascii: "A") + 10)
            default: throw fail("invalid \\u escape")
            }
            value = value << 4 | digit
            index += 1
        }
        return value
    }

    private func validatedUTF8(_ range: Range<Int>) throws(Failure) -> String {
        guard let s = String(validating: bytes[range], as: UTF8.self) else {
            throw Failure(offset: range.lowerBound, reason: "invalid UTF-8 in string")
        }
        return s
    }

    private func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    private func peek() -> UInt8? { index < bytes.count ? bytes[index] : nil }

    private mutating func skipWhitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x09, 0x0A, 0x0D: index += 1
            default: return
            }
        }
    }

    private func fail(_ reason: String) -> Failure { Failure(offset: index, reason: reason) }
}
