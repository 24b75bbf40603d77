import Foundation

/// Encodes and decodes ``Envelope`` in the JSON wire format of `docs/wire-format.md`.
///
/// The payload is embedded verbatim as a JSON value, so it is neither re-encoded on send nor re-parsed on
/// receipt beyond validation. Decoding never traps: any malformed body yields a ``ConveyorError`` with code
/// ``ConveyorError/Code/malformedEnvelope`` or ``ConveyorError/Code/unsupportedEnvelopeVersion``.
public enum EnvelopeCodec {
    /// Largest body the decoder accepts (16 MiB); larger bodies are malformed.
    public static let maximumBodyBytes = 16 << 20

    /// The JSON bytes of `envelope`.
    public static func encode(_ envelope: Envelope) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + envelope.payload.count)
        out.append(contentsOf: #"{"v":"#.utf8)
        JSONText.appendInt(envelope.version, to: &out)
        out.append(contentsOf: #","id":"#.utf8)
        JSONText.appendString(envelope.id.rawValue, to: &out)
        out.append(contentsOf: #","task":"#.utf8)
        JSONText.appendString(envelope.task, to: &out)
        out.append(contentsOf: #","payload":"#.utf8)
        if envelope.payload.isEmpty {
            out.append(contentsOf: "null".utf8)
        } else {
            out.append(contentsOf: envelope.payload)
        }
        out.append(contentsOf: #","created_at":"#.utf8)
        JSONText.appendString(RFC3339.format(envelope.createdAt), to: &out)
        if let value = envelope.correlationID {
            out.append(contentsOf: #","correlation_id":"#.utf8)
            JSONText.appendString(value, to: &out)
        }
        if let value = envelope.deduplicationKey {
            out.append(contentsOf: #","dedup_key":"#.utf8)
            JSONText.appendString(value, to: &out)
        }
        if envelope.priority != 0 {
            out.append(contentsOf: #","priority":"#.utf8)
            JSONText.appendInt(envelope.priority, to: &out)
        }
        if let value = envelope.maxAttempts {
            out.append(contentsOf: #","max_attempts":"#.utf8)
            JSONText.appendInt(value, to: &out)
        }
        if envelope.attemptOffset != 0 {
            out.append(contentsOf: #","attempt_offset":"#.utf8)
            JSONText.appendInt(envelope.attemptOffset, to: &out)
        }
        if let value = envelope.notBefore {
            out.append(contentsOf: #","not_before":"#.utf8)
            JSONText.appendString(RFC3339.format(value), to: &out)
        }
        if !envelope.traceContext.isEmpty {
            out.append(contentsOf: #","trace":"#.utf8)
            JSONText.appendStringMap(envelope.traceContext, to: &out)
        }
        if !envelope.headers.isEmpty {
            out.append(contentsOf: #","headers":"#.utf8)
            JSONText.appendStringMap(envelope.headers, to: &out)
        }
        if let value = envelope.replyTo {
            out.append(contentsOf: #","reply_to":"#.utf8)
            JSONText.appendString(value, to: &out)
            if envelope.replyEvents { out.append(contentsOf: #","reply_events":true"#.utf8) }
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// Decodes an envelope from `body`, or throws a ``ConveyorError`` that says what is wrong with it.
    public static func decode(_ body: some Collection<UInt8>) throws(ConveyorError) -> Envelope {
        let bytes = Array(body)
        guard bytes.count <= maximumBodyBytes else {
            throw ConveyorError(.malformedEnvelope, "body is \(bytes.count) bytes, over the \(maximumBodyBytes)-byte limit")
        }
        // One pass over the members, keeping the known ones in variables (no dictionary); unknown members are read
        // and dropped, so they are checked exactly as strictly. The last of a repeated key wins.
        var fields = Fields()
        do {
            try JSONReader.forEachMember(bytes, limits: .init(maximumBytes: maximumBodyBytes)) { key, reader throws(JSONReader.Failure) in
                if key == "payload" {
                    fields.payload = try reader.memberRawRange()
                } else {
                    let value = try reader.memberValue()
                    fields.set(key, value)
                }
            }
        } catch {
            throw ConveyorError(.malformedEnvelope, "body is not a JSON object: \(error.description)")
        }
        guard let versionValue = fields.v else {
            throw ConveyorError(.malformedEnvelope, "missing field \"v\" (envelope version)")
        }
        guard case .number(let versionText) = versionValue, let version = integer(versionText) else {
            throw ConveyorError(.malformedEnvelope, "field \"v\" must be an integer")
        }
        guard version == Envelope.currentVersion else {
            throw ConveyorError(
                .unsupportedEnvelopeVersion,
                "envelope version \(version) is not supported (this worker reads version \(Envelope.currentVersion))"
            )
        }
        func string(_ value: JSONValue?, _ key: String, required: Bool) throws(ConveyorError) -> String? {
            switch value {
            case .none, .null?:
                if required { throw ConveyorError(.malformedEnvelope, "missing field \"\(key)\"") }
                return nil
            case .string(let s)?:
                if required && s.isEmpty { throw ConveyorError(.malformedEnvelope, "field \"\(key)\" is empty") }
                return s
            default:
                throw ConveyorError(.malformedEnvelope, "field \"\(key)\" must be a string")
            }
        }
        func int(_ value: JSONValue?, _ key: String) throws(ConveyorError) -> Int? {
            switch value {
            case .none, .null?: return nil
            case .number(let text)?:
                guard let i = integer(text) else {
                    throw ConveyorError(.malformedEnvelope, "field \"\(key)\" must be an integer")
                }
                return i
            default: throw ConveyorError(.malformedEnvelope, "field \"\(key)\" must be an integer")
            }
        }
        func date(_ value: JSONValue?, _ key: String, required: Bool) throws(ConveyorError) -> Date? {
            guard let text = try string(value, key, required: required) else { return nil }
            guard let date = RFC3339.parse(text) else {
                throw ConveyorError(.malformedEnvelope, "field \"\(key)\" is not an RFC 3339 timestamp")
            }
            return date
        }
        func map(_ value: JSONValue?, _ key: String) throws(ConveyorError) -> [String: String] {
            switch value {
            case .none, .null?: return [:]
            case .object(let members)?:
                var strings: [String: String] = [:]
                for (name, value) in members {
                    guard case .string(let text) = value else { break }
                    strings[name] = text
                }
                if strings.count == members.count { return strings }
            default: break
            }
            throw ConveyorError(.malformedEnvelope, "field \"\(key)\" must be an object of strings")
        }
        let id = try string(fields.id, "id", required: true)!
        let task = try string(fields.task, "task", required: true)!
        guard let range = fields.payload else {
            throw ConveyorError(.malformedEnvelope, "missing field \"payload\"")
        }
        let priority = try int(fields.priority, "priority") ?? 0
        guard (0...9).contains(priority) else {
            throw ConveyorError(.malformedEnvelope, "field \"priority\" must be between 0 and 9")
        }
        let maxAttempts = try int(fields.maxAttempts, "max_attempts")
        if let maxAttempts, maxAttempts < 1 {
            throw ConveyorError(.malformedEnvelope, "field \"max_attempts\" must be at least 1")
        }
        let replyEvents: Bool
        switch fields.replyEvents {
        case .none, .null?: replyEvents = false
        case .bool(let value)?: replyEvents = value
        default: throw ConveyorError(.malformedEnvelope, "field \"reply_events\" must be true or false")
        }
        let offset = try int(fields.attemptOffset, "attempt_offset") ?? 0
        guard (0...Envelope.maximumAttemptOffset).contains(offset) else {
            throw ConveyorError(
                .malformedEnvelope, "field \"attempt_offset\" must be between 0 and \(Envelope.maximumAttemptOffset) (is \(offset))")
        }
        return Envelope(
            id: JobID(id),
            task: task,
            payload: Array(bytes[range]),
            createdAt: try date(fields.createdAt, "created_at", required: false) ?? Date(),
            correlationID: try string(fields.correlationID, "correlation_id", required: false),
            deduplicationKey: try string(fields.dedupKey, "dedup_key", required: false),
            priority: priority,
            maxAttempts: maxAttempts,
            attemptOffset: offset,
            notBefore: try date(fields.notBefore, "not_before", required: false),
            traceContext: try map(fields.trace, "trace"),
            headers: try map(fields.headers, "headers"),
            replyTo: try string(fields.replyTo, "reply_to", required: false).flatMap { $0.isEmpty ? nil : $0 },
            replyEvents: replyEvents,
            version: version
        )
    }

    /// The envelope's known members as read, by name (the payload as its byte range).
    private struct Fields {
        var v, id, task, createdAt, correlationID, dedupKey, priority, maxAttempts, attemptOffset, notBefore: JSONValue?
        var trace, headers, replyTo, replyEvents: JSONValue?
        var payload: Range<Int>?

        mutating func set(_ key: String, _ value: JSONValue) {
            switch key {
            case "v": v = value
            case "id": id = value
            case "task": task = value
            case "created_at": createdAt = value
            case "correlation_id": correlationID = value
            case "dedup_key": dedupKey = value
            case "priority": priority = value
            case "max_attempts": maxAttempts = value
            case "attempt_offset": attemptOffset = value
            case "not_before": notBefore = value
            case "trace": trace = value
            case "headers": headers = value
            case "reply_to": replyTo = value
            case "reply_events": replyEvents = value
            default: break
            }
        }
    }

    /// An integral JSON number (`3`, `3.0`, `3e0`), as the envelope's integer fields accept it.
    private static func integer(_ text: String) -> Int? {
        Double(text).flatMap { Int(exactly: $0) }
    }
}
