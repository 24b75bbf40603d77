/// The package's one JSON writer: envelopes, task inputs on the fast path (``FastJSONEncoder`` writes through it),
/// SQS requests and the command-line tool's output. Object keys are written sorted, so equal values write equal
/// bytes.
package enum JSONText {
    /// The bytes of `value`.
    package static func bytes(_ value: JSONValue) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        append(value, to: &out)
        return out
    }

    /// Appends `value`. A number is written as its text, which must be a JSON number (``JSONValue/int(_:)`` and
    /// ``JSONReader`` make only such).
    package static func append(_ value: JSONValue, to out: inout [UInt8]) {
        switch value {
        case .null: out.append(contentsOf: "null".utf8)
        case .bool(let flag): out.append(contentsOf: (flag ? "true" : "false").utf8)
        case .number(let text): out.append(contentsOf: text.utf8)
        case .string(let text): appendString(text, to: &out)
        case .array(let elements):
            out.append(UInt8(ascii: "["))
            for (i, element) in elements.enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                append(element, to: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let members):
            out.append(UInt8(ascii: "{"))
            for (i, key) in members.keys.sorted().enumerated() {
                if i > 0 { out.append(UInt8(ascii: ",")) }
                appendString(key, to: &out)
                out.append(UInt8(ascii: ":"))
                if let member = members[key] { append(member, to: &out) }
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    /// Appends an object of strings, keys sorted.
    package static func appendStringMap(_ map: [String: String], to out: inout [UInt8]) {
        out.append(UInt8(ascii: "{"))
        for (i, key) in map.keys.sorted().enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            appendString(key, to: &out)
            out.append(UInt8(ascii: ":"))
            appendString(map[key] ?? "", to: &out)
        }
        out.append(UInt8(ascii: "}"))
    }

    /// Appends an integer.
    package static func appendInt(_ value: some BinaryInteger, to out: inout [UInt8]) {
        out.append(contentsOf: String(value).utf8)
    }

    /// Appends `string` as a quoted, escaped JSON string.
    ///
    /// The noncharacters U+FFFE and U+FFFF are written as `\ufffe` and `\uffff`: the JSON means the same, and it
    /// stays within what every broker carries (SQS refuses them in message bodies), so a job that holds them (from
    /// a producer's escapes) can be re-sent, retried and dead-lettered.
    package static func appendString(_ string: String, to out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        // Fast path: nothing to escape (the common case), copied in one go.
        let plain = string.utf8.withContiguousStorageIfAvailable { bytes -> Bool in
            for i in bytes.indices {
                let byte = bytes[i]
                if byte < 0x20 || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\") { return false }
                if isNoncharacterEnd(bytes, i) { return false }
            }
            out.append(contentsOf: bytes)
            return true
        }
        if plain == true {
            out.append(UInt8(ascii: "\""))
            return
        }
        let bytes = Array(string.utf8)
        var i = 0
        while i < bytes.count {
            let byte = bytes[i]
            switch byte {
            case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\"")])
            case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "\\")])
            case 0x0A: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "n")])
            case 0x0D: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "r")])
            case 0x09: out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "t")])
            case 0..<0x20:
                let hex: [UInt8] = Array("0123456789abcdef".utf8)
                out.append(contentsOf: [UInt8(ascii: "\\"), UInt8(ascii: "u"), UInt8(ascii: "0"), UInt8(ascii: "0"),
                                        hex[Int(byte >> 4)], hex[Int(byte & 0xF)]])
            case 0xEF where i + 2 < bytes.count && isNoncharacterEnd(bytes, i + 2):
                out.append(contentsOf: (bytes[i + 2] == 0xBE ? "\\ufffe" : "\\uffff").utf8)
                i += 2
            default: out.append(byte)
            }
            i += 1
        }
        out.append(UInt8(ascii: "\""))
    }

    /// Whether `bytes[i]` ends the UTF-8 of U+FFFE or U+FFFF (`EF BF BE`, `EF BF BF`; `EF` is always a lead byte).
    @inline(__always)
    private static func isNoncharacterEnd<C: RandomAccessCollection<UInt8>>(_ bytes: C, _ i: C.Index) -> Bool {
        let value = bytes[i]
        guard value == 0xBE || value == 0xBF, bytes.distance(from: bytes.startIndex, to: i) >= 2 else { return false }
        return bytes[bytes.index(i, offsetBy: -1)] == 0xBF && bytes[bytes.index(i, offsetBy: -2)] == 0xEF
    }

    /// `string` as a quoted, escaped JSON string.
    package static func quoted(_ string: String) -> String {
        var out: [UInt8] = []
        appendString(string, to: &out)
        return String(decoding: out, as: UTF8.self)
    }
}
