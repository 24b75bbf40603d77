import Foundation

// The wire form of a job event (docs/wire-format.md, "Replies and events"): a JSON object carried as the payload of
// an envelope of task `conveyor.reply`, so that reply queues hold envelopes like every other Conveyor queue.

extension JobEvent {
    /// The task name of reply envelopes.
    public static let replyTask = "conveyor.reply"
    /// The task name of broadcast envelopes, whose payload is a JSON array of events
    /// (``EventBroadcastingProvider``).
    public static let eventsTask = "conveyor.events"

    /// The broadcast envelope carrying `events`.
    package static func broadcastEnvelope(_ events: [JobEvent]) -> Envelope {
        var payload: [UInt8] = [UInt8(ascii: "[")]
        for (index, event) in events.enumerated() {
            if index > 0 { payload.append(UInt8(ascii: ",")) }
            payload += event.json
        }
        payload.append(UInt8(ascii: "]"))
        return Envelope(task: eventsTask, payload: payload)
    }

    /// The events of a broadcast envelope's payload; malformed ones are left out.
    package static func broadcastEvents(_ payload: [UInt8]) -> [JobEvent] {
        guard case .array(let items)? = try? JSONReader.read(payload, limits: .init(maximumBytes: EnvelopeCodec.maximumBodyBytes)) else { return [] }
        return items.compactMap { item in try? JobEvent(json: JSONText.bytes(item)) }
    }

    /// Longest note or reason text sent (bytes of UTF-8); longer text is cut.
    static let maximumTextBytes = 1000
    /// Most queue names a heartbeat carries.
    static let maximumHeartbeatQueues = 100

    /// The event's JSON object.
    package var json: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(160 + (output?.count ?? 0))
        out.append(contentsOf: #"{"kind":"#.utf8)
        JSONText.appendString(kind.rawValue, to: &out)
        out.append(contentsOf: #","id":"#.utf8)
        JSONText.appendString(jobID.rawValue, to: &out)
        out.append(contentsOf: #","task":"#.utf8)
        JSONText.appendString(task, to: &out)
        out.append(contentsOf: #","queue":"#.utf8)
        JSONText.appendString(queue, to: &out)
        out.append(contentsOf: #","attempt":"#.utf8)
        JSONText.appendInt(attempt, to: &out)
        out.append(contentsOf: #","at":"#.utf8)
        JSONText.appendString(RFC3339.format(at), to: &out)
        if let progress, progress.isFinite {
            out.append(contentsOf: #","progress":"#.utf8)
            out.append(contentsOf: String(min(max(progress, 0), 1)).utf8)
        }
        if let note {
            out.append(contentsOf: #","note":"#.utf8)
            JSONText.appendString(note.truncated(toUTF8Bytes: Self.maximumTextBytes), to: &out)
        }
        if let output, !output.isEmpty {
            out.append(contentsOf: #","output":"#.utf8)
            out.append(contentsOf: output)
        }
        if let reason {
            out.append(contentsOf: #","reason_code":"#.utf8)
            JSONText.appendString(reason.code.truncated(toUTF8Bytes: Self.maximumTextBytes), to: &out)
            out.append(contentsOf: #","reason":"#.utf8)
            JSONText.appendString(reason.message.truncated(toUTF8Bytes: Self.maximumTextBytes), to: &out)
        }
        if let retryAfter {
            out.append(contentsOf: #","retry_after_ms":"#.utf8)
            JSONText.appendInt(Self.milliseconds(retryAfter), to: &out)
        }
        if let workerHeartbeat {
            out.append(contentsOf: #","worker":{"host":"#.utf8)
            JSONText.appendString(workerHeartbeat.host.truncated(toUTF8Bytes: Self.maximumTextBytes), to: &out)
            out.append(contentsOf: #","pid":"#.utf8)
            JSONText.appendInt(workerHeartbeat.pid, to: &out)
            out.append(contentsOf: #","queues":["#.utf8)
            for (index, queue) in workerHeartbeat.queues.prefix(Self.maximumHeartbeatQueues).enumerated() {
                if index > 0 { out.append(UInt8(ascii: ",")) }
                JSONText.appendString(queue, to: &out)
            }
            out.append(contentsOf: #"],"concurrency":"#.utf8)
            JSONText.appendInt(workerHeartbeat.concurrency, to: &out)
            out.append(contentsOf: #","busy":"#.utf8)
            JSONText.appendInt(workerHeartbeat.busy, to: &out)
            out.append(contentsOf: #","started_at":"#.utf8)
            JSONText.appendString(RFC3339.format(workerHeartbeat.startedAt), to: &out)
            out.append(UInt8(ascii: "}"))
        }
        out.append(UInt8(ascii: "}"))
        return out
    }

    /// The reply envelope carrying this event.
    package var replyEnvelope: Envelope {
        Envelope(task: Self.replyTask, payload: json, createdAt: at)
    }

    /// Reads an event from its JSON object; throws ``ConveyorError/Code/malformedEnvelope`` saying which field is
    /// wrong. Numbers are checked: an attempt outside 1...Int32.max, a progress that is not a finite number, or a
    /// negative delay are refused, never trapped on.
    package init(json bytes: [UInt8]) throws(ConveyorError) {
        var members: [String: JSONValue] = [:]
        var output: Range<Int>?
        do {
            try JSONReader.forEachMember(bytes, limits: .init(maximumBytes: EnvelopeCodec.maximumBodyBytes)) { key, reader throws(JSONReader.Failure) in
                if key == "output" {
                    output = try reader.memberRawRange()
                } else {
                    members[key] = try reader.memberValue()
                }
            }
        } catch {
            throw ConveyorError(.malformedEnvelope, "job event is not a JSON object: \(error.description)")
        }
        func string(_ key: String) throws(ConveyorError) -> String {
            guard case .string(let text)? = members[key], !text.isEmpty else {
                throw ConveyorError(.malformedEnvelope, "job event: field \"\(key)\" must be a non-empty string")
            }
            return text
        }
        func optionalString(_ key: String) throws(ConveyorError) -> String? {
            switch members[key] {
            case .none, .null?: return nil
            case .string(let text)?: return text
            default: throw ConveyorError(.malformedEnvelope, "job event: field \"\(key)\" must be a string")
            }
        }
        func number(_ key: String) throws(ConveyorError) -> Double? {
            switch members[key] {
            case .none, .null?: return nil
            case .number(let text)?:
                guard let value = Double(text), value.isFinite else { break }
                return value
            default: break
            }
            throw ConveyorError(.malformedEnvelope, "job event: field \"\(key)\" must be a finite number")
        }
        let kind = Kind(try string("kind"))
        let attemptValue = try number("attempt") ?? 1
        guard attemptValue >= 1, attemptValue <= Double(Int32.max), let attempt = Int(exactly: attemptValue) else {
            throw ConveyorError(.malformedEnvelope, "job event: field \"attempt\" must be an integer from 1")
        }
        let progress = try number("progress")
        if let progress, !(0...1).contains(progress) {
            throw ConveyorError(.malformedEnvelope, "job event: field \"progress\" must be between 0 and 1")
        }
        var retryAfter: Duration?
        if let milliseconds = try number("retry_after_ms") {
            guard milliseconds >= 0, milliseconds <= 1e15 else {
                throw ConveyorError(.malformedEnvelope, "job event: field \"retry_after_ms\" must be between 0 and 10^15")
            }
            retryAfter = .milliseconds(Int64(milliseconds))
        }
        let at = try optionalString("at").map { text throws(ConveyorError) -> Date in
            guard let date = RFC3339.parse(text) else {
                throw ConveyorError(.malformedEnvelope, "job event: field \"at\" is not an RFC 3339 timestamp")
            }
            return date
        } ?? Date()
        let code = try optionalString("reason_code")
        let message = try optionalString("reason")
        let heartbeat = try Self.heartbeat(members["worker"], workerID: try string("id"))
        self.init(
            kind: kind,
            jobID: JobID(try string("id")),
            task: try optionalString("task") ?? "",
            queue: try optionalString("queue") ?? "",
            attempt: attempt,
            at: at,
            progress: progress,
            note: try optionalString("note"),
            output: output.map { Array(bytes[$0]) },
            reason: code == nil && message == nil ? nil : FailureReason(code: code ?? "unknown", message: message ?? ""),
            retryAfter: retryAfter
        )
        self.workerHeartbeat = heartbeat
    }

    /// The `worker` member of a heartbeat event; numbers are checked (a pid, concurrency or busy count outside
    /// 0...Int32.max is refused).
    private static func heartbeat(_ value: JSONValue?, workerID: String) throws(ConveyorError) -> WorkerHeartbeat? {
        guard let value, value != .null else { return nil }
        guard case .object(let fields) = value else {
            throw ConveyorError(.malformedEnvelope, "job event: field \"worker\" must be an object")
        }
        func count(_ key: String) throws(ConveyorError) -> Int {
            guard case .number(let text)? = fields[key], let number = Double(text), number >= 0, number <= Double(Int32.max),
                  let whole = Int(exactly: number) else {
                throw ConveyorError(.malformedEnvelope, "job event: field \"worker.\(key)\" must be an integer from 0 to 2^31-1")
            }
            return whole
        }
        guard case .string(let host)? = fields["host"] else {
            throw ConveyorError(.malformedEnvelope, "job event: field \"worker.host\" must be a string")
        }
        var queues: [String] = []
        if case .array(let items)? = fields["queues"] {
            for item in items.prefix(maximumHeartbeatQueues) {
                guard case .string(let queue) = item else {
                    throw ConveyorError(.malformedEnvelope, "job event: field \"worker.queues\" must be an array of strings")
                }
                queues.append(queue)
            }
        }
        var startedAt = Date()
        if case .string(let text)? = fields["started_at"] {
            guard let date = RFC3339.parse(text) else {
                throw ConveyorError(.malformedEnvelope, "job event: field \"worker.started_at\" is not an RFC 3339 timestamp")
            }
            startedAt = date
        }
        return WorkerHeartbeat(
            workerID: workerID, host: host, pid: try count("pid"), queues: queues, concurrency: try count("concurrency"),
            busy: try count("busy"), startedAt: startedAt)
    }

    /// Whole milliseconds of `duration`, 0 for negative ones, at most 10^15.
    private static func milliseconds(_ duration: Duration) -> Int {
        let (seconds, attoseconds) = duration.components
        guard seconds >= 0 else { return 0 }
        guard seconds < 1_000_000_000_000 else { return 1_000_000_000_000_000 }
        return Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000)
    }
}
