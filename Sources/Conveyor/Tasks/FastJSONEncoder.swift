import Foundation

/// An `Encoder` for task inputs that writes straight into a byte buffer through ``JSONText``: the common shapes (structs,
/// arrays, dictionaries with string keys, strings, integers, booleans, optionals) encode several times faster than
/// with Foundation's `JSONEncoder`. Anything it is unsure about (`Date`, `Data`, `URL`, `Decimal`, floating-point
/// values that are not plain, nested or super encoders, a second container from one encoder, duplicate keys,
/// writes through a container after its value ended) makes it give up, and the caller encodes with `JSONEncoder`
/// instead, so a successful fast encode always yields JSON that decodes to what `JSONEncoder`'s output would.
enum FastJSONEncoder {
    /// Thrown when the fast path gives up; never escapes to users.
    struct GiveUp: Error {}

    static func encode<T: Encodable>(_ value: T) throws(GiveUp) -> [UInt8] {
        let writer = Writer()
        writer.out.reserveCapacity(64)
        do {
            try writer.encodeValue(value, depth: 0)
        } catch {
            throw GiveUp()
        }
        // A type may have caught one of our errors (`try?`) and written something else: start over.
        guard !writer.failed else { throw GiveUp() }
        return writer.out
    }

    /// The output buffer and the position of the value being written.
    final class Writer {
        var out: [UInt8] = []
        var failed = false
        /// Nesting depth of the value being written; a container writes only while it is the innermost one.
        var depth = 0

        func giveUp() -> GiveUp {
            failed = true
            return GiveUp()
        }

        func encodeValue<T: Encodable>(_ value: T, depth: Int) throws {
            guard depth < 64 else { throw giveUp() }
            // Type identity checks are much cheaper than dynamic casts.
            let type = T.self
            if type == String.self {
                JSONText.appendString(unsafeBitCast(value, to: String.self), to: &out)
                return
            }
            if type == Int.self { return appendInteger(unsafeBitCast(value, to: Int.self)) }
            if type == Int64.self { return appendInteger(unsafeBitCast(value, to: Int64.self)) }
            if type == Bool.self {
                out.append(contentsOf: (unsafeBitCast(value, to: Bool.self) ? "true" : "false").utf8)
                return
            }
            if type == Double.self {
                let v = unsafeBitCast(value, to: Double.self)
                return try appendFloatingPoint(v.description, finite: v.isFinite)
            }
            if type == Float.self {
                let v = unsafeBitCast(value, to: Float.self)
                return try appendFloatingPoint(v.description, finite: v.isFinite)
            }
            if type == Int32.self { return appendInteger(unsafeBitCast(value, to: Int32.self)) }
            if type == Int16.self { return appendInteger(unsafeBitCast(value, to: Int16.self)) }
            if type == Int8.self { return appendInteger(unsafeBitCast(value, to: Int8.self)) }
            if type == UInt.self { return appendInteger(unsafeBitCast(value, to: UInt.self)) }
            if type == UInt64.self { return appendInteger(unsafeBitCast(value, to: UInt64.self)) }
            if type == UInt32.self { return appendInteger(unsafeBitCast(value, to: UInt32.self)) }
            if type == UInt16.self { return appendInteger(unsafeBitCast(value, to: UInt16.self)) }
            if type == UInt8.self { return appendInteger(unsafeBitCast(value, to: UInt8.self)) }
            if type == Date.self || type == Data.self || type == URL.self || type == Decimal.self {
                throw giveUp()
            }
            do {
                let saved = self.depth
                self.depth = depth + 1
                let start = out.count
                let encoder = FastEncoder(writer: self, depth: depth + 1)
                try value.encode(to: encoder)
                guard self.depth == depth + 1, encoder.state.kind != .none else { throw giveUp() }
                switch encoder.state.kind {
                case .keyed:
                    if encoder.state.count == 0 { out.append(UInt8(ascii: "{")) }
                    out.append(UInt8(ascii: "}"))
                case .unkeyed:
                    if encoder.state.count == 0 { out.append(UInt8(ascii: "[")) }
                    out.append(UInt8(ascii: "]"))
                case .single, .none:
                    guard out.count > start else { throw giveUp() }
                }
                self.depth = saved
            }
        }

        func appendInteger<I: BinaryInteger>(_ value: I) {
            JSONText.appendInt(value, to: &out)
        }

        /// Plain decimal notation only (no exponent), as `JSONEncoder` writes it; `1.0` is written `1`.
        func appendFloatingPoint(_ text: String, finite: Bool) throws {
            guard finite else { throw giveUp() }
            var utf8 = Array(text.utf8)
            for byte in utf8 where !(byte == UInt8(ascii: "-") || byte == UInt8(ascii: ".") || (0x30...0x39).contains(byte)) {
                throw giveUp()
            }
            if utf8.count > 2, utf8[utf8.count - 2] == UInt8(ascii: "."), utf8[utf8.count - 1] == UInt8(ascii: "0") {
                utf8.removeLast(2)
            }
            out.append(contentsOf: utf8)
        }
    }

    enum ContainerKind { case none, keyed, unkeyed, single }

    /// What the encoder of one value handed out.
    final class EncoderState {
        var kind = ContainerKind.none
        var count = 0
        var keys: [String] = []
    }

    struct FastEncoder: Encoder {
        let writer: Writer
        let depth: Int
        let state = EncoderState()
        var codingPath: [any CodingKey] { [] }
        var userInfo: [CodingUserInfoKey: Any] { [:] }

        func claim(_ kind: ContainerKind) -> Bool {
            guard state.kind == .none, writer.depth == depth else {
                writer.failed = true
                return false
            }
            state.kind = kind
            return true
        }

        func container<Key: CodingKey>(keyedBy type: Key.Type) -> KeyedEncodingContainer<Key> {
            _ = claim(.keyed)
            return KeyedEncodingContainer(Keyed<Key>(encoder: self))
        }

        func unkeyedContainer() -> any UnkeyedEncodingContainer {
            _ = claim(.unkeyed)
            return Unkeyed(encoder: self)
        }

        func singleValueContainer() -> any SingleValueEncodingContainer {
            _ = claim(.single)
            return Single(encoder: self)
        }

        /// Checks that the container of this encoder may write now.
        func check(_ kind: ContainerKind) throws {
            guard !writer.failed, state.kind == kind, writer.depth == depth else { throw writer.giveUp() }
        }
    }

    struct Keyed<Key: CodingKey>: KeyedEncodingContainerProtocol {
        let encoder: FastEncoder
        var codingPath: [any CodingKey] { [] }

        private func key(_ key: Key) throws {
            try encoder.check(.keyed)
            let name = key.stringValue
            let state = encoder.state
            if state.keys.contains(name) { throw encoder.writer.giveUp() }
            state.keys.append(name)
            let writer = encoder.writer
            writer.out.append(UInt8(ascii: state.count == 0 ? "{" : ","))
            state.count += 1
            JSONText.appendString(name, to: &writer.out)
            writer.out.append(UInt8(ascii: ":"))
        }

        mutating func encodeNil(forKey key: Key) throws {
            try self.key(key)
            encoder.writer.out.append(contentsOf: "null".utf8)
        }

        mutating func encode<T: Encodable>(_ value: T, forKey key: Key) throws {
            try self.key(key)
            try encoder.writer.encodeValue(value, depth: encoder.depth)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(
            keyedBy keyType: NestedKey.Type, forKey key: Key
        ) -> KeyedEncodingContainer<NestedKey> {
            encoder.writer.failed = true
            return FastEncoder(writer: encoder.writer, depth: -1).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer(forKey key: Key) -> any UnkeyedEncodingContainer {
            encoder.writer.failed = true
            return FastEncoder(writer: encoder.writer, depth: -1).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder {
            encoder.writer.failed = true
            return FastEncoder(writer: encoder.writer, depth: -1)
        }

        mutating func superEncoder(forKey key: Key) -> any Encoder {
            encoder.writer.failed = true
            return FastEncoder(writer: encoder.writer, depth: -1)
        }
    }

    struct Unkeyed: UnkeyedEncodingContainer {
        let encoder: FastEncoder
        var codingPath: [any CodingKey] { [] }
        var count: Int { encoder.state.count }

        private func separator() throws {
            try encoder.check(.unkeyed)
            let state = encoder.state
            encoder.writer.out.append(UInt8(ascii: state.count == 0 ? "[" : ","))
            state.count += 1
        }

        mutating func encodeNil() throws {
            try separator()
            encoder.writer.out.append(contentsOf: "null".utf8)
        }

        mutating func encode<T: Encodable>(_ value: T) throws {
            try separator()
            try encoder.writer.encodeValue(value, depth: encoder.depth)
        }

        mutating func nestedContainer<NestedKey: CodingKey>(keyedBy keyType: NestedKey.Type) -> KeyedEncodingContainer<NestedKey> {
            encoder.writer.failed = true
            return FastEncoder(writer: encoder.writer, depth: -1).container(keyedBy: keyType)
        }

        mutating func nestedUnkeyedContainer() -> any UnkeyedEncodingContainer {
            encoder.writer.failed = true
            return FastEncoder(writer: encoder.writer, depth: -1).unkeyedContainer()
        }

        mutating func superEncoder() -> any Encoder {
            encoder.writer.failed = true
            return FastEncoder(writer: encoder.writer, depth: -1)
        }
    }

    struct Single: SingleValueEncodingContainer {
        let encoder: FastEncoder
        var codingPath: [any CodingKey] { [] }

        private func begin() throws {
            try encoder.check(.single)
            // One value per single-value container.
            guard encoder.state.count == 0 else { throw encoder.writer.giveUp() }
            encoder.state.count = 1
        }

        mutating func encodeNil() throws {
            try begin()
            encoder.writer.out.append(contentsOf: "null".utf8)
        }

        mutating func encode<T: Encodable>(_ value: T) throws {
            try begin()
            // The value takes this encoder's place: it writes at the depth of its parent.
            let writer = encoder.writer
            writer.depth = encoder.depth - 1
            defer { writer.depth = encoder.depth }
            try writer.encodeValue(value, depth: encoder.depth - 1)
        }
    }
}
