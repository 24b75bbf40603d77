/// The package's one JSON reader: envelopes, task inputs on the fast path, SQS responses.
///
/// Hardened for hostile input: a size limit, a nesting limit (recursion is bounded by it), strict RFC 8259 syntax
/// (numbers, escapes, surrogate pairs, no trailing data), UTF-8 validated in every string it decodes, and no traps
/// on any input (every index is checked). Top-level members can be kept as their byte range instead of being
/// decoded (``readObject(_:keepingRaw:limits:)``), so an envelope's payload is validated but never copied into a tree.
package struct JSONReader {
    /// What the reader accepts.
    package struct Limits: Sendable {
        /// Most bytes in a document.
        package var maximumBytes: Int
        /// Deepest nesting of arrays and objects (the top-level value is at depth 1).
        package var maximumDepth: Int
        /// Whether a key repeated in one object is an error; otherwise the last value wins.
        package var rejectsDuplicateKeys: Bool

        /// Limits for a document of at most `maximumBytes` bytes and `maximumDepth` levels.
        package init(maximumBytes: Int = 16 << 20, maximumDepth: Int = 256, rejectsDuplicateKeys: Bool = false) {
            self.maximumBytes = maximumBytes
            self.maximumDepth = maximumDepth
            self.rejectsDuplicateKeys = rejectsDuplicateKeys
        }
    }

    /// Why a document was refused, and where.
    package struct Failure: Error, CustomStringConvertible {
        /// Byte offset of the problem.
        package var offset: Int
        /// What is wrong.
        package var reason: String
        /// `reason at byte offset`.
        package var description: String { "\(reason) at byte \(offset)" }
    }

    private let bytes: [UInt8]
    private let limits: Limits
    private var index = 0

    private init(_ bytes: [UInt8], limits: Limits) {
        self.bytes = bytes
        self.limits = limits
    }

    /// Reads one JSON document.
    package static func read(_ bytes: [UInt8], limits: Limits = Limits()) throws(Failure) -> JSONValue {
        var reader = JSONReader(bytes, limits: limits)
        try reader.checkSize()
        let value = try reader.value(depth: 1)
        try reader.finish()
        return value
    }

    /// Reads a document that must be an object: the members named in `rawKeys` are validated and returned as their
    /// byte ranges in `bytes`, not decoded (strings in them are checked for syntax, not for UTF-8: the payload's
    /// reader does that); the others are decoded.
    package static func readObject(
        _ bytes: [UInt8], keepingRaw rawKeys: Set<String>, limits: Limits = Limits()
    ) throws(Failure) -> (members: [String: JSONValue], raw: [String: Range<Int>]) {
        var reader = JSONReader(bytes, limits: limits)
        try reader.checkSize()
        reader.skipWhitespace()
        guard reader.peek() == UInt8(ascii: "{") else { throw reader.fail("expected '{'") }
        var raw: [String: Range<Int>] = [:]
        // The object itself is not counted: its members are at depth 1.
        let members = try reader.objectMembers(depth: 0) { reader, key throws(Failure) -> MemberRead in
            guard rawKeys.contains(key) else { return .decode }
            raw[key] = try reader.memberRawRange()
            return .consumed
        }
        try reader.finish()
        return (members, raw)
    }

    /// Reads a document that must be an object, member by member, collecting nothing: `member` gets each key (every
    /// occurrence, in order) with the reader at its value, and must read the value with ``memberValue()`` or
    /// ``memberRawRange()``. For a reader of a known set of fields (the envelope) that keeps what it needs in
    /// variables instead of a dictionary.
    package static func forEachMember(
        _ bytes: [UInt8], limits: Limits = Limits(), _ member: (String, inout JSONReader) throws(Failure) -> Void
    ) throws(Failure) {
        var reader = JSONReader(bytes, limits: limits)
        try reader.checkSize()
        reader.skipWhitespace()
        guard reader.peek() == UInt8(ascii: "{") else { throw reader.fail("expected '{'") }
        _ = try reader.objectMembers(depth: 0) { reader, key throws(Failure) -> MemberRead in
            try member(key, &reader)
            return .consumed
        }
        try reader.finish()
    }

    /// The value of the top-level member the reader is at (``forEachMember(_:limits:_:)``), decoded.
    package mutating func memberValue() throws(Failure) -> JSONValue {
        try value(depth: 1)
    }

    /// Validates and skips the value of the top-level member the reader is at; returns its bytes' range (strings
    /// in it are checked for syntax, not for UTF-8).
    package mutating func memberRawRange() throws(Failure) -> Range<Int> {
        let start = index
        try skipValue(depth: 1)
        return start..<index
    }

    // MARK: Values

    private func checkSize() throws(Failure) {
        guard bytes.count <= limits.maximumBytes else {
            throw Failure(offset: 0, reason: "document is \(bytes.count) bytes, over the \(limits.maximumBytes)-byte limit")
        }
    }

    private mutating func finish() throws(Failure) {
        skipWhitespace()
        guard index == bytes.count else { throw fail("unexpected data after the value") }
    }

    private mutating func value(depth: Int) throws(Failure) -> JSONValue {
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: "{"):
            return .object(try objectMembers(depth: depth) { _, _ throws(Failure) in .decode })
        case UInt8(ascii: "["):
            guard depth <= limits.maximumDepth else { throw fail("nesting deeper than \(limits.maximumDepth)") }
            index += 1
            var elements: [JSONValue] = []
            skipWhitespace()
            if peek() == UInt8(ascii: "]") { index += 1; return .array(elements) }
            while true {
                elements.append(try value(depth: depth + 1))
                skipWhitespace()
                switch peek() {
                case UInt8(ascii: ","): index += 1
                case UInt8(ascii: "]"): index += 1; return .array(elements)
                default: throw fail("expected ',' or ']'")
                }
            }
        case UInt8(ascii: "\""): return .string(try string(decode: true))
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-")?, (UInt8(ascii: "0")...UInt8(ascii: "9"))?:
            let start = index
            try skipNumber()
            return .number(String(decoding: bytes[start..<index], as: UTF8.self))
        case nil: throw fail("unexpected end of input")
        default: throw fail("unexpected character")
        }
    }

    /// How ``objectMembers(depth:_:)`` treats a member's value.
    private enum MemberRead {
        /// Decode it into the result.
        case decode
        /// The caller read it and keeps it elsewhere.
        case consumed
    }

    /// The members of the object at `index`; `special` may read a member's value itself (``MemberRead/consumed``).
    private mutating func objectMembers(
        depth: Int, _ special: (inout JSONReader, String) throws(Failure) -> MemberRead
    ) throws(Failure) -> [String: JSONValue] {
        guard depth <= limits.maximumDepth else { throw fail("nesting deeper than \(limits.maximumDepth)") }
        index += 1
        var members: [String: JSONValue] = [:]
        skipWhitespace()
        if peek() == UInt8(ascii: "}") { index += 1; return members }
        while true {
            skipWhitespace()
            let keyOffset = index
            guard peek() == UInt8(ascii: "\"") else { throw fail("expected a field name") }
            let key = try string(decode: true)
            skipWhitespace()
            guard peek() == UInt8(ascii: ":") else { throw fail("expected ':'") }
            index += 1
            skipWhitespace()
            switch try special(&self, key) {
            case .consumed:
                break
            case .decode:
                let member = try value(depth: depth + 1)
                if members.updateValue(member, forKey: key) != nil && limits.rejectsDuplicateKeys {
                    throw Failure(offset: keyOffset, reason: "duplicate key")
                }
            }
            skipWhitespace()
            switch peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return members
            default: throw fail("expected ',' or '}'")
            }
        }
    }

    /// Validates and skips one value (strings are checked for syntax, not decoded).
    private mutating func skipValue(depth: Int) throws(Failure) {
        skipWhitespace()
        switch peek() {
        case UInt8(ascii: "{"):
            guard depth <= limits.maximumDepth else { throw fail("nesting deeper than \(limits.maximumDepth)") }
            index += 1
            skipWhitespace()
            if peek() == UInt8(ascii: "}") { index += 1; return }
            while true {
                skipWhitespace()
                guard peek() == UInt8(ascii: "\"") else { throw fail("expected a field name") }
                _ = try string(decode: false)
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
            guard depth <= limits.maximumDepth else { throw fail("nesting deeper than \(limits.maximumDepth)") }
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
        case UInt8(ascii: "\""): _ = try string(decode: false)
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-")?, (UInt8(ascii: "0")...UInt8(ascii: "9"))?: try skipNumber()
        case nil: throw fail("unexpected end of input")
        default: throw fail("unexpected character")
        }
    }

    // MARK: Scalars

    private mutating func literal(_ text: StaticString) throws(Failure) {
        let count = text.utf8CodeUnitCount
        guard count <= bytes.count - index else { throw fail("unexpected end of input") }
        for offset in 0..<count where bytes[index + offset] != text.utf8Start[offset] {
            throw fail("invalid literal")
        }
        index += count
    }

    /// `-? (0 | [1-9][0-9]*) (. [0-9]+)? ([eE] [+-]? [0-9]+)?`
    private mutating func skipNumber() throws(Failure) {
        if peek() == UInt8(ascii: "-") { index += 1 }
        guard let first = peek(), isDigit(first) else { throw fail("invalid number") }
        index += 1
        if first != UInt8(ascii: "0") {
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

    /// The string at `index` (an opening quote); its decoded value, or "" when `decode` is false (then only its
    /// syntax is checked).
    private mutating func string(decode: Bool) throws(Failure) -> String {
        index += 1  // opening quote
        let start = index
        // Fast path: no escape, decoded in one go.
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") {
                index += 1
                return decode ? try validatedUTF8(bytes[start..<index - 1], at: start) : ""
            }
            if byte == UInt8(ascii: "\\") { break }
            if byte < 0x20 { throw fail("control character in string") }
            index += 1
        }
        var out: [UInt8] = []
        if decode { out.append(contentsOf: bytes[start..<index]) }
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "\""):
                index += 1
                return decode ? try validatedUTF8(out[...], at: start) : ""
            case UInt8(ascii: "\\"):
                index += 1
                guard let escape = peek() else { throw fail("unterminated escape") }
                index += 1
                switch escape {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5C)
                case UInt8(ascii: "/"): out.append(0x2F)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0C)
                case UInt8(ascii: "n"): out.append(0x0A)
                case UInt8(ascii: "r"): out.append(0x0D)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var code = try hex4()
                    if (0xD800..<0xDC00).contains(code) {
                        guard peek() == UInt8(ascii: "\\"), index + 1 < bytes.count, bytes[index + 1] == UInt8(ascii: "u") else {
                            throw fail("unpaired surrogate")
                        }
                        index += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("invalid surrogate pair") }
                        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(code) {
                        throw fail("unpaired surrogate")
                    }
                    guard let scalar = Unicode.Scalar(code) else { throw fail("invalid \\u escape") }
                    if decode { UTF8.encode(scalar) { out.append($0) } }
                default: throw fail("invalid escape")
                }
            default:
                if byte < 0x20 { throw fail("control character in string") }
                out.append(byte)
                index += 1
            }
        }
        throw fail("unterminated string")
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard 4 <= bytes.count - index else { throw fail("truncated \\u escape") }
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

    private func validatedUTF8(_ slice: ArraySlice<UInt8>, at offset: Int) throws(Failure) -> String {
        guard let text = String(validating: slice, as: UTF8.self) else {
            throw Failure(offset: offset, reason: "invalid UTF-8 in string")
        }
        return text
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
