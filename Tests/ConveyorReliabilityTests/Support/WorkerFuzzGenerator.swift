import Conveyor
import Foundation

@testable import ConveyorRabbitMQ

/// Generates messages that follow docs/wire-format.md with random mixes of extreme and odd timestamps, numbers,
/// reserved headers, unknown fields and wrong JSON types, plus hostile broker properties, from a seed.
///
/// Ranges chosen so that a run terminates: `not_before` is absent, in the past (down to year 1), at most 2.5 s
/// ahead (the job hops, then runs), malformed, or — where the provider keeps delayed messages per queue (memory,
/// SQS) — far in the future (tomorrow to year 9999), such jobs being expected to stay delayed, neither run nor
/// dead-lettered. RabbitMQ gets no far-future jobs: their hop copies would wait for days in the delay levels the
/// whole vhost shares, after the test queue is gone. Handlers fail at most 2 times per job; backoffs are 50 ms.
struct WorkerFuzzGenerator {
    /// Per provider: what the generator may produce.
    struct Profile: Sendable {
        var name: String
        /// Far-future `not_before` (held jobs).
        var farFuture: Bool
        /// Bodies SQS accepts: valid UTF-8, never empty, no U+FFFE/U+FFFF unescaped, at most ~200 KB.
        var sqsSafe: Bool
        /// Longest odd string (ids, trace values, task names, headers).
        var hugeString: Int
        var rabbitMQProperties = false
        var sqsAttributes = false
        var memoryOverrides = false

        static let memory = Profile(name: "memory", farFuture: true, sqsSafe: false, hugeString: 150_000, memoryOverrides: true)
        static let rabbitMQ = Profile(name: "rabbitmq", farFuture: false, sqsSafe: false, hugeString: 150_000, rabbitMQProperties: true)
        static let sqs = Profile(name: "sqs", farFuture: true, sqsSafe: true, hugeString: 60_000, sqsAttributes: true)
    }

    static let taskName = "fuzz.record"
    static let defaultMaxAttempts = 3

    let seed: UInt64
    let profile: Profile
    let now: Date
    private var rng: SplitMix64

    init(seed: UInt64, profile: Profile, now: Date = Date()) {
        self.seed = seed
        self.profile = profile
        self.now = now
        // One stream per provider, so that adding a provider does not change the others' messages.
        var mix = SplitMix64(seed: seed ^ UInt64(truncatingIfNeeded: profile.name.utf8.reduce(5381) { ($0 &* 33) &+ Int($1) }))
        self.rng = SplitMix64(seed: mix.next())
    }

    // MARK: Randomness

    private mutating func chance(_ p: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < p }
    private mutating func int(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }
    private mutating func pick<T>(_ items: [T]) -> T { items[int(0...items.count - 1)] }

    // MARK: Pools

    /// A number literal and how the decoder must read it in an integer field.
    enum Reading { case valid(Int?), ambiguous(Int), malformed }

    static let priorityLiterals: [(String, Reading)] = [
        ("0", .valid(0)), ("5", .valid(5)), ("9", .valid(9)), ("5.0", .valid(5)), ("9e0", .valid(9)), ("-0", .valid(0)),
        ("-0.0", .valid(0)), ("0.1e1", .valid(1)), ("null", .valid(nil)),
        ("10", .malformed), ("-1", .malformed), ("5.5", .malformed), ("\"5\"", .malformed), ("1e300", .malformed),
        ("1e400", .malformed), ("9223372036854775807", .malformed), ("-9223372036854775808", .malformed),
        ("9007199254740993", .malformed), ("true", .malformed), ("[]", .malformed), ("{}", .malformed), ("1E1", .malformed),
    ]
    static let maxAttemptsLiterals: [(String, Reading)] = [
        ("1", .valid(1)), ("3", .valid(3)), ("1.0", .valid(1)), ("2e0", .valid(2)), ("null", .valid(nil)),
        ("9007199254740991", .valid(9_007_199_254_740_991)), ("1e15", .valid(1_000_000_000_000_000)),
        // Beyond 2^53: the wire format calls them malformed, the decoder reads those that fit in an Int.
        ("9007199254740993", .ambiguous(9_007_199_254_740_992)), ("1e18", .ambiguous(1_000_000_000_000_000_000)),
        ("4611686018427387904", .ambiguous(4_611_686_018_427_387_904)),
        ("0", .malformed), ("-1", .malformed), ("-0", .malformed), ("1.5", .malformed), ("0.5", .malformed),
        ("1e300", .malformed), ("1e400", .malformed), ("9223372036854775807", .malformed),
        ("18446744073709551616", .malformed), ("-9223372036854775808", .malformed), ("\"3\"", .malformed),
        ("false", .malformed), ("[]", .malformed),
    ]
    static let attemptOffsetLiterals: [(String, Reading)] = [
        ("0", .valid(0)), ("1", .valid(1)), ("2", .valid(2)), ("-0", .valid(0)), ("1000000", .valid(1_000_000)),
        ("1e6", .valid(1_000_000)), ("999999.0", .valid(999_999)), ("null", .valid(nil)),
        ("1000001", .malformed), ("-1", .malformed), ("9223372036854775807", .malformed), ("1e300", .malformed),
        ("1e400", .malformed), ("0.5", .malformed), ("-0.5", .malformed), ("\"1\"", .malformed), ("true", .malformed),
    ]
    /// RFC 3339 timestamps the decoder reads (all far from now).
    static let validTimestamps = [
        "0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "1970-01-01T00:00:00Z",
        "2026-11-25T16:04:23.123456789012345678901234567890Z", "2024-02-29T12:00:00+23:59", "2024-02-29T12:00:00-23:59",
        "2026-01-01t00:00:00z", "2026-01-01 00:00:00Z", "2016-12-31T23:59:60Z", "2000-01-01T00:00:00-00:00",
        "1969-12-31T23:59:59.999999999Z",
    ]
    /// Text that is not an RFC 3339 timestamp.
    static let invalidTimestamps = [
        "2026-13-01T00:00:00Z", "2026-02-30T00:00:00Z", "2026-02-29T00:00:00Z", "2026-01-01T24:00:00Z",
        "2026-01-01T00:60:00Z", "2026-01-01T00:00:61Z", "2026-01-01T00:00:00", "2026-01-01T00:00:00.Z",
        "2026-01-01T00:00:00+24:00", "2026-01-01T00:00:00+0100", "+10000-01-01T00:00:00Z", "-0001-01-01T00:00:00Z",
        "10000-01-01T00:00:00Z", "yesterday", "", "1700000000", "2026-01-01", "2026-01-01T00:00:00Z ",
        " 2026-01-01T00:00:00Z", "２０２６-01-01T00:00:00Z", "2026-1-1T0:0:0Z", "NaN", "Infinity",
    ]
    /// Timestamps of a wrong JSON type.
    static let wrongTypeTimestamps = ["1700000000", "1.7e12", "-1", "true", "{}", "[]", "1e400"]
    /// Hop-header values the worker must ignore (not a number, negative, infinite, beyond 1e15 ms).
    static let ignoredHopValues = [
        "9223372036854775807", "-1", "nan", "NaN", "inf", "-inf", "Infinity", "1e300", "", "1e15000", "1e16",
        "99999999999999999999999", " 5", "5ms", "١٢", "0b101", "1_000", "-1e-300", "\u{2212}5", "-9223372036854775808",
    ]
    /// Hop-header values that are numbers in range (honoured when the job has a `not_before`).
    static let inRangeHopValues = ["0", "1.5", "0x10", "+5", "-0", "1e15", "1700000000000"]
    /// Extreme number literals for unknown fields and payload extras.
    static let extremeNumbers = [
        "9223372036854775807", "-9223372036854775808", "9223372036854775808", "18446744073709551616",
        "9007199254740993", "9007199254740991", "-9007199254740993", "1e300", "-1e300", "1e400", "-1e400", "1e-400",
        "4.9e-324", "-0", "-0.0", "0e0", "1E+2", "123456789012345678901234567890", "0.000000000000000000001",
    ]
    /// Pieces of odd strings.
    static let atoms: [String] = [
        "a", "job", "é", "😀", "\u{0}", "\u{1F}", "\u{7F}", "\u{FFFF}", "\u{FFFE}", "\u{2028}", "\u{FEFF}", "\"", "\\",
        "/", "\u{10FFFF}", "\u{E000}", "\u{FFFD}", " ", "\n", "\t", "%s", "{}", "null", "\u{200D}", "x-conveyor-",
    ]

    // MARK: Strings

    /// A short or long odd string (never empty).
    private mutating func oddString(long: Bool = false) -> String {
        var s = ""
        for _ in 0..<int(1...6) { s += pick(Self.atoms) }
        guard long || chance(0.08) else { return s }
        let length = pick([256, 300, 1_000, 5_000, chance(0.3) ? profile.hugeString : 2_000])
        var out = s
        while out.utf8.count < length { out += pick(["x", "é", "😀", "-", "0"]) }
        return out
    }

    /// `s` as a JSON string literal, escaping at random (`\u` in either case, surrogate pairs, short escapes).
    private mutating func json(_ s: String) -> String {
        var out = "\""
        let randomEscapes = s.unicodeScalars.count < 2_000
        for scalar in s.unicodeScalars {
            let v = scalar.value
            let must = v < 0x20 || scalar == "\"" || scalar == "\\" || (profile.sqsSafe && (v == 0xFFFE || v == 0xFFFF))
            if !must && !(randomEscapes && chance(0.12)) {
                out.unicodeScalars.append(scalar)
                continue
            }
            switch scalar {
            case "\"" where chance(0.7): out += "\\\""
            case "\\" where chance(0.7): out += "\\\\"
            case "\n" where chance(0.5): out += "\\n"
            case "\t" where chance(0.5): out += "\\t"
            case "/" where chance(0.5): out += "\\/"
            default:
                if v > 0xFFFF {
                    let u = v - 0x10000
                    out += hex4(0xD800 + (u >> 10)) + hex4(0xDC00 + (u & 0x3FF))
                } else {
                    out += hex4(v)
                }
            }
        }
        return out + "\""
    }

    private mutating func hex4(_ v: UInt32) -> String {
        var digits = String(v, radix: 16, uppercase: chance(0.5))
        while digits.count < 4 { digits = "0" + digits }
        return "\\u" + digits
    }

    // MARK: Messages

    /// What the generator decided for one body.
    private struct Draft {
        var fields: [(key: String, json: String)] = []
        var traits: [String] = []
        var malformed: Set<String> = []
        var ambiguous: Set<String> = []
        var bodyBroken = false
        var versionMalformed = false
        var versionUnsupported = false
        var id: String?
        var unknownTask = false
        var payload: PayloadKind = .good
        var fail = 0
        var maxAttempts: Int?
        var offset = 0
        var farFuture = false
        var attemptsUnreliable = false
        var mayBrokerExpire = false

        enum PayloadKind { case good, bad, ambiguous }

        mutating func add(_ key: String, _ json: String, _ trait: String? = nil) {
            fields.append((key, json))
            if let trait { traits.append(trait) }
        }

        mutating func reading(_ key: String, _ literal: (String, Reading)) -> Int? {
            add(key, literal.0, "\(key)=\(literal.0.prefix(24))")
            switch literal.1 {
            case .valid(let value): return value
            case .ambiguous(let value):
                ambiguous.insert(key)
                return value
            case .malformed:
                malformed.insert(key)
                return nil
            }
        }
    }

    /// Largest body sent to SQS (its limit is 256 KiB, message attributes included).
    static let sqsMaximumBody = 200_000

    /// The `index`-th message of this generator's stream.
    mutating func message(_ index: Int) -> FuzzMessage {
        var message = draftMessage(index)
        while profile.sqsSafe && message.body.count > Self.sqsMaximumBody { message = draftMessage(index) }
        return message
    }

    private mutating func draftMessage(_ index: Int) -> FuzzMessage {
        if chance(0.04) { return garbageBody(index) }
        var d = Draft()
        // Most messages are valid (if odd); the others get one or more malformed fields.
        let hostile = chance(0.35)
        func roll(_ g: inout WorkerFuzzGenerator, validBelow: Int) -> Int { hostile ? g.int(0...99) : g.int(0...validBelow - 1) }
        let seedTag = String(seed % 1_000_000, radix: 36)

        // v
        switch roll(&self, validBelow: 92) {
        case 0..<88: d.add("v", pick(["1", "1", "1", "1.0", "1e0"]))
        case 88..<92: d.add("v", pick(["2", "0", "-0", "99"]), "unsupported v"); d.versionUnsupported = true
        case 92..<96: d.add("v", pick(["\"1\"", "1.5", "true", "9223372036854775807", "1e300", "null", "[1]"]), "malformed v"); d.versionMalformed = true
        default: d.traits.append("no v"); d.versionMalformed = true
        }

        // id
        let baseID = "fz\(seedTag)-\(profile.name)-\(index)"
        switch roll(&self, validBelow: 90) {
        case 0..<55: d.id = baseID
        case 55..<90: d.id = baseID + "-" + oddString(long: chance(0.35)); d.traits.append("odd id (\(d.id!.utf8.count) bytes)")
        case 90..<96:
            d.add("id", pick(["5", "\"\"", "null", "[\"x\"]", "{}", "true"]), "malformed id"); d.malformed.insert("id")
        default: d.traits.append("no id"); d.malformed.insert("id")
        }
        if let id = d.id { d.add("id", json(id)) }

        // task
        switch roll(&self, validBelow: 96) {
        case 0..<86: d.add("task", json(Self.taskName))
        case 86..<96:
            let task = pick(["no.such.task", "fuzz.record ", "FUZZ.RECORD", "fuzz.record\u{0}", "fuzz.record\u{FFFF}", oddString(), oddString(long: true)])
            d.add("task", json(task), "unknown task (\(task.utf8.count) bytes)"); d.unknownTask = true
        case 96..<98: d.add("task", pick(["\"\"", "7", "null", "{}"]), "malformed task"); d.malformed.insert("task")
        default: d.traits.append("no task"); d.malformed.insert("task")
        }

        // payload
        var payloadFields = [#""n":\#(index)"#]
        if chance(0.25) {
            d.fail = int(1...2)
            payloadFields.append(#""fail":\#(d.fail)"#)
            d.traits.append("fails \(d.fail)x")
        }
        if chance(0.3) {
            payloadFields.append(#""x":\#(pick(Self.extremeNumbers))"#)
            payloadFields.append(#""deep":\#(String(repeating: "[", count: 20))\#(pick(Self.extremeNumbers))\#(String(repeating: "]", count: 20))"#)
            d.traits.append("payload extras")
        }
        var generatedPayload = false
        switch roll(&self, validBelow: 98) {
        case 0..<85:
            d.add("payload", "{" + payloadFields.shuffled(using: &rng).joined(separator: ",") + "}")
            generatedPayload = true
        case 85..<92:
            d.add("payload", pick([#"{"n":"seven"}"#, #"{"n":1e300}"#, #"{"n":9223372036854775808}"#, #"{"n":-9223372036854775809}"#, "[]", "null", #""str""#, #"{"fail":1}"#, #"{"n":1,"fail":"x"}"#, #"{"n":1.5}"#]), "bad payload")
            d.payload = .bad
        case 92..<97:
            d.add("payload", pick([#"{"n":1.0}"#, #"{"n":-0}"#, #"{"n":1e2}"#, #"{"n":1E+2}"#, #"{"n":-0.0}"#, #"{"n":1,"n":2}"#]), "ambiguous payload")
            d.payload = .ambiguous
        case 97: d.add("payload", #"{"n":9223372036854775807,"m":-9223372036854775808}"#, "payload Int.max/min")
        default: d.traits.append("no payload"); d.malformed.insert("payload")
        }
        if !generatedPayload {
            // Another payload than the generated one: it plans no failure.
            d.fail = 0
            d.traits.removeAll { $0.hasPrefix("fails ") || $0 == "payload extras" }
        }

        // created_at
        switch roll(&self, validBelow: 88) {
        case 0..<45: d.add("created_at", json(RFC3339.format(now)))
        case 45..<60: break
        case 60..<88: let t = pick(Self.validTimestamps); d.add("created_at", json(t), "created_at \(t)")
        case 88..<95: let t = pick(Self.invalidTimestamps); d.add("created_at", json(t), "bad created_at \(t)"); d.malformed.insert("created_at")
        default: let t = pick(Self.wrongTypeTimestamps); d.add("created_at", t, "created_at type \(t)"); d.malformed.insert("created_at")
        }

        // not_before
        var hasNotBefore = true
        switch roll(&self, validBelow: 91) {
        case 0..<60: hasNotBefore = false
        case 60..<72: let t = pick(Self.validTimestamps.filter { !$0.hasPrefix("9999") }); d.add("not_before", json(t), "not_before \(t)")
        case 72..<76: d.add("not_before", json(RFC3339.format(now.addingTimeInterval(-1))), "not_before 1 s ago")
        case 76..<86:
            let ahead = Double(int(200...2_500)) / 1000
            d.add("not_before", json(RFC3339.format(now.addingTimeInterval(ahead))), "not_before +\(ahead) s")
        case 86..<91 where profile.farFuture:
            let t = pick(["9999-12-31T23:59:59.999Z", RFC3339.format(now.addingTimeInterval(86_400)), "3000-01-01T00:00:00+23:59"])
            d.add("not_before", json(t), "far not_before \(t)"); d.farFuture = true
        case 91..<96: let t = pick(Self.invalidTimestamps); d.add("not_before", json(t), "bad not_before \(t)"); d.malformed.insert("not_before")
        case 96..<99: let t = pick(Self.wrongTypeTimestamps); d.add("not_before", t, "not_before type \(t)"); d.malformed.insert("not_before")
        default: d.add("not_before", "null", "not_before null"); hasNotBefore = false
        }

        // Integers.
        func literals(_ pool: [(String, Reading)]) -> [(String, Reading)] {
            hostile ? pool : pool.filter { if case .malformed = $0.1 { false } else { true } }
        }
        if chance(0.35) { _ = d.reading("priority", pick(literals(Self.priorityLiterals))) }
        if chance(0.35) { d.maxAttempts = d.reading("max_attempts", pick(literals(Self.maxAttemptsLiterals))) }
        if chance(0.3) { d.offset = d.reading("attempt_offset", pick(literals(Self.attemptOffsetLiterals))) ?? 0 }

        // Strings.
        if chance(0.3) {
            if !hostile || chance(0.8) { d.add("correlation_id", json(oddString(long: chance(0.4))), "odd correlation_id") }
            else { d.add("correlation_id", pick(["5", "{}", "[]", "true"]), "malformed correlation_id"); d.malformed.insert("correlation_id") }
        }
        if chance(0.15) {
            if !hostile || chance(0.8) { d.add("dedup_key", json("\(baseID)-" + oddString(long: chance(0.3))), "odd dedup_key") }
            else { d.add("dedup_key", pick(["5", "{}", "false"]), "malformed dedup_key"); d.malformed.insert("dedup_key") }
        }

        // trace
        if chance(0.35) {
            if !hostile || chance(0.75) {
                var entries: [String] = []
                for _ in 0..<int(1...3) {
                    let key = pick(["traceparent", "traceparent", "tracestate", "baggage", ""])
                    let value = pick([
                        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "00-zzzz", "", "ff-" + String(repeating: "f", count: 52),
                        oddString(), oddString(long: true),
                    ])
                    entries.append(json(key) + ":" + json(value))
                }
                d.add("trace", "{" + entries.joined(separator: ",") + "}", "odd trace")
            } else {
                d.add("trace", pick([#"{"traceparent":5}"#, #""x""#, "[]", #"{"traceparent":{"a":"b"}}"#, "7"]), "malformed trace")
                d.malformed.insert("trace")
            }
        }

        // headers
        if chance(0.55) {
            if !hostile || chance(0.8) {
                var entries: [String] = []
                for _ in 0..<int(1...6) {
                    let (key, value) = header(hasNotBefore: hasNotBefore)
                    entries.append(json(key) + ":" + json(value))
                }
                d.add("headers", "{" + entries.joined(separator: ",") + "}", "reserved headers")
            } else {
                d.add("headers", pick([#"{"x-conveyor-hops":5}"#, #"{"x-conveyor-due-ms":1e300}"#, #"{"a":null}"#, "[]", #""x""#, #"{"a":["b"]}"#]), "malformed headers")
                d.malformed.insert("headers")
            }
        }

        // Unknown fields.
        if chance(0.3) {
            for _ in 0..<int(1...3) {
                let (key, value) = pick([
                    ("producer", #"{"lang":"python","n":1e300,"nested":{"a":[1,2,{"b":null}]}}"#),
                    ("extra", "[" + (0..<4).map { _ in pick(Self.extremeNumbers) }.joined(separator: ",") + "]"),
                    ("x-conveyor-hops", json("9223372036854775807")),
                    ("V", "2"), ("payload_", "1"), ("big", pick(Self.extremeNumbers)),
                    ("nan", json("NaN")), ("inf", json("-Infinity")),
                    ("deep", String(repeating: "[", count: 200) + String(repeating: "]", count: 200)),
                ])
                d.add(key, value, "unknown \(key)")
            }
        }

        return finish(index, d, hostile: hostile)
    }

    /// A reserved or unknown header with an absurd value.
    private mutating func header(hasNotBefore: Bool) -> (String, String) {
        let hopValues = hasNotBefore ? Self.ignoredHopValues : Self.ignoredHopValues + Self.inRangeHopValues
        switch int(0...9) {
        case 0: return (Envelope.HeaderKey.hopDueAt, pick(hopValues))
        case 1: return (Envelope.HeaderKey.hopDelay, pick(hopValues))
        case 2: return (Envelope.HeaderKey.hops, pick(Self.ignoredHopValues + Self.inRangeHopValues))
        case 3: return (JobScheduler.scheduleHeader, oddString())
        case 4: return (JobScheduler.slotHeader, pick(Self.validTimestamps + Self.invalidTimestamps))
        case 5: return ("x-conveyor-attempt", pick(Self.extremeNumbers))
        case 6:
            return pick([
                (Envelope.HeaderKey.deadLetterCode, "bogus"), (Envelope.HeaderKey.deadLetterAttempt, pick(Self.extremeNumbers)),
                (Envelope.HeaderKey.deadLetteredAt, "yesterday"), (Envelope.HeaderKey.deadLetterReason, oddString()),
            ])
        case 7: return (Envelope.HeaderKey.lastError, oddString(long: true))
        case 8: return ("", oddString())
        default: return (oddString(), oddString())
        }
    }

    /// Serializes the fields (shuffled, with whitespace and an occasional duplicate key whose last value counts)
    /// and decides the expectation.
    private mutating func finish(_ index: Int, _ draft: Draft, hostile: Bool) -> FuzzMessage {
        var d = draft
        var fields = d.fields.shuffled(using: &rng)
        // Duplicate keys: the last one wins, so an earlier copy with another value changes nothing.
        if chance(0.08), let victim = fields.indices.randomElement(using: &rng) {
            let key = fields[victim].key
            let decoy = pick(["99", "null", #""x""#, "{}", "-1", "1e300"])
            fields.insert((key, decoy), at: victim)
            d.traits.append("duplicate \(key)")
        }
        let space = { (g: inout WorkerFuzzGenerator) -> String in g.chance(0.2) ? g.pick([" ", "\n", "\t", "\r\n", "  "]) : "" }
        var text = space(&self) + "{"
        for (n, field) in fields.enumerated() {
            if n > 0 { text += "," }
            text += space(&self) + json(field.key) + space(&self) + ":" + space(&self) + field.json + space(&self)
        }
        text += "}" + space(&self)
        var body = Array(text.utf8)

        // Body-level breakage.
        if hostile && chance(0.08) {
            d.bodyBroken = true
            switch int(0...4) {
            case 0: body = [0xEF, 0xBB, 0xBF] + body; d.traits.append("BOM")
            case 1: body += Array(pick([",", "x", "}", "{}", "null"]).utf8); d.traits.append("trailing data")
            case 2 where !profile.sqsSafe: body.insert(0, at: 0); d.traits.append("NUL before the object")
            case 3: body = Array(text.replacingOccurrences(of: "}", with: ",}", options: .backwards, range: text.range(of: "}", options: .backwards)).utf8); d.traits.append("trailing comma")
            default: body = Array(body.prefix(max(1, body.count / 2))); d.traits.append("truncated")
            }
            // SQS carries text: a cut through a multi-byte character is sent as U+FFFD, so generate it that way.
            if profile.sqsSafe { body = Array(String(decoding: body, as: UTF8.self).utf8) }
        }

        var message = FuzzMessage(index: index, body: body, traits: d.traits, expected: expectation(d), jobID: d.id)
        if profile.rabbitMQProperties { amqpProperties(&message, &d) }
        if profile.sqsAttributes { sqsAttributes(&message) }
        if profile.memoryOverrides { memoryOverrides(&message, &d) }
        message.expected = expectation(d)
        return message
    }

    private func expectation(_ d: Draft) -> FuzzExpectation {
        // Expired before a consumer takes it, the broker dead-letters a message itself, whatever its body.
        d.mayBrokerExpire ? bodyExpectation(d).or(.anyDeadLetter) : bodyExpectation(d)
    }

    private func bodyExpectation(_ d: Draft) -> FuzzExpectation {
        if d.bodyBroken { return .deadLetters("malformed_envelope") }
        if d.versionMalformed { return .deadLetters("malformed_envelope", naming: ["v"]) }
        if d.versionUnsupported { return .deadLetters("unsupported_envelope_version") }
        if !d.malformed.isEmpty { return .deadLetters("malformed_envelope", naming: d.malformed.sorted()) }
        var e: FuzzExpectation
        if d.unknownTask {
            e = .deadLetters("unknown_task")
        } else if d.farFuture {
            e = .held
        } else {
            let maxAttempts = d.maxAttempts ?? Self.defaultMaxAttempts
            // Attempts run from offset + 1; the handler fails while attempt <= fail; a failure at attempt >= max
            // dead-letters.
            let completes = d.offset + 1 > d.fail || d.fail < maxAttempts
            e = completes ? .completes : .deadLetters("task_error")
            if d.fail > 0 && d.attemptsUnreliable { e = .completes.or(.deadLetters("task_error")) }
            switch d.payload {
            case .good: break
            case .bad: e = .deadLetters("payload_decoding_failed")
            case .ambiguous: e = e.or(.deadLetters("payload_decoding_failed"))
            }
        }
        if !d.ambiguous.isEmpty { e = e.or(.deadLetters("malformed_envelope", naming: d.ambiguous.sorted())) }
        return e
    }

    // MARK: Broker properties

    /// Header values of every AMQP kind: integers at the ends of every width, numbers as strings, floats, decimals,
    /// timestamps, arrays and tables (as a foreign producer or a plugin might write the reserved headers).
    private mutating func oddField() -> FuzzAMQPField {
        switch int(0...16) {
        case 0: return .i64(pick([.max, .min, 0, -1, 5, 1 << 53]))
        case 1: return .i32(pick([.max, .min, -1, 3]))
        case 2: return .u32(pick([.max, 0, 2]))
        case 3: return .i16(pick([.max, .min, -1]))
        case 4: return .u16(pick([.max, 0]))
        case 5: return .i8(pick([.max, .min, -1]))
        case 6: return .u8(pick([.max, 0, 1]))
        case 7: return .utf8(pick(["99999999999999999999", "-99999999999999999999", "-5", "+7", "nan", "inf", "1e300", "", " 3", "３", "0x10", "9223372036854775807"]))
        case 8: return .f64(pick([1e300, -1e300, 0.5, -0.0, 3.0, .greatestFiniteMagnitude, .leastNonzeroMagnitude]))
        case 9: return .f32(pick([3.4e38, -1, 0.5]))
        case 10: return .decimal(places: pick([0, 2, 255]), pick([.max, 0, 300]))
        case 11: return .timestamp(pick([.max, 0, UInt64(Int64.max), AMQPDelivery.maximumTimestamp + 1]))
        case 12: return .bool(chance(0.5))
        case 13: return .void
        case 14: return .bytes(pick([[], [0, 0xFF, 0xFE], Array("5".utf8)]))
        case 15: return .array(pick([[], [.i64(.max)], [.utf8("3"), .void, .array([.i8(-1)])]]))
        default: return .table(pick([[], [FuzzAMQPHeader(key: "count", value: .i64(.max))], [FuzzAMQPHeader(key: "", value: .utf8("x"))]]))
        }
    }

    private mutating func amqpProperties(_ message: inout FuzzMessage, _ d: inout Draft) {
        var p = FuzzAMQPProperties()
        if chance(0.15) { p.contentType = pick([nil, "text/plain", "application/octet-stream", "", String(repeating: "t", count: 255)]) }
        if chance(0.1) { p.contentEncoding = pick(["gzip", "identity", "é"]) }
        // RabbitMQ refuses a delivery mode other than 1 and 2 (PRECONDITION_FAILED).
        if chance(0.1) { p.deliveryMode = pick([nil, 1]) }
        if chance(0.1) { p.type = pick(["order", ""]) }
        if chance(0.3) { p.priority = pick([0, 9, 10, 128, 255]) }
        if chance(0.4) {
            p.timestamp = pick([0, 1, AMQPDelivery.maximumTimestamp, AMQPDelivery.maximumTimestamp + 1, UInt64.max, UInt64(Int64.max), UInt64(now.timeIntervalSince1970)])
        }
        if chance(0.1) {
            p.expiration = pick(["4294967295", "86400000", "0", "1"])
            if p.expiration == "0" || p.expiration == "1" { d.mayBrokerExpire = true }
        }
        if chance(0.15) { p.messageID = pick(["", "é", "not-the-job-id", String(repeating: "m", count: 255)]) }
        if chance(0.15) { p.correlationID = pick(["", "😀", String(repeating: "c", count: 255)]) }
        for _ in 0..<(chance(0.6) ? int(1...5) : 0) {
            switch int(0...8) {
            case 0: p.headers.append(.init(key: AMQPHeader.attempt, value: oddField())); d.attemptsUnreliable = true
            case 1: p.headers.append(.init(key: AMQPHeader.deliveryCount, value: oddField())); d.attemptsUnreliable = true
            case 2 where p.expiration == nil:
                // x-death as RabbitMQ writes it is an array of tables; these are wrong types or absurd counts.
                p.headers.append(.init(key: "x-death", value: pick([
                    .array([.table([.init(key: "count", value: .i64(.max)), .init(key: "reason", value: .utf8("expired")), .init(key: "queue", value: .utf8("elsewhere"))])]),
                    .table([.init(key: "count", value: .i64(.max))]), .utf8("x"), .i64(-1), .bool(false), .void,
                ])))
            case 3: p.headers.append(.init(key: AMQPHeader.task, value: chance(0.5) ? .utf8(pick(["other.task", ""])) : oddField()))
            case 4: p.headers.append(.init(key: pick([AMQPHeader.traceparent, AMQPHeader.tracestate]), value: chance(0.5) ? .utf8(pick(["00-zzzz", "", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"])) : oddField()))
            case 5: p.headers.append(.init(key: pick([AMQPHeader.deadLetterCode, AMQPHeader.deadLetterReason]), value: oddField()))
            case 6: p.headers.append(.init(key: pick([Envelope.HeaderKey.hopDueAt, Envelope.HeaderKey.hopDelay, Envelope.HeaderKey.hops]), value: oddField()))
            case 7: p.headers.append(.init(key: pick(["", "é", String(repeating: "k", count: 255)]), value: oddField()))
            default: p.headers.append(.init(key: "x-first-death-reason", value: .utf8("rejected")))
            }
        }
        let headers = p.headers.map { "\($0.key.prefix(24))=\($0.value)" }.joined(separator: "/")
        if !p.headers.isEmpty || p.priority != nil || p.timestamp != nil || p.expiration != nil { message.traits.append("AMQP headers [\(headers)] priority \(p.priority.map(String.init) ?? "-") timestamp \(p.timestamp.map(String.init) ?? "-") expiration \(p.expiration ?? "-")") }
        message.amqp = p
    }

    private mutating func sqsAttributes(_ message: inout FuzzMessage) {
        guard chance(0.5) else { return }
        var attributes: [String: [String: String]] = [:]
        func string(_ value: String) -> [String: String] { ["DataType": "String", "StringValue": value] }
        for _ in 0..<int(1...6) {
            switch int(0...8) {
            case 0: attributes["traceparent"] = string(pick(["00-zzzz", " ", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", String(repeating: "t", count: 4_000)]))
            case 1: attributes["tracestate"] = string(pick(["a=b", "é😀", String(repeating: "s", count: 1_000)]))
            case 2: attributes["conveyor.task"] = string(pick(["other.task", "é"]))
            case 3: attributes["conveyor.dead_letter_attempt"] = string(pick(["-5", "1e300", "9223372036854775807", "x"]))
            case 4: attributes["conveyor.dead_letter_code"] = string("bogus")
            case 5: attributes["x-conveyor-attempt"] = ["DataType": "Number", "StringValue": pick(["99999999999999999999999999999999999999", "-0", "1E+126", "-1"])]
            case 6: attributes["x-conveyor-due-ms"] = ["DataType": "Number.int", "StringValue": "-1"]
            case 7: attributes["blob"] = ["DataType": "Binary", "BinaryValue": Data([0, 0xFF, 0xFE]).base64EncodedString()]
            default: attributes["ApproximateReceiveCount"] = string("9223372036854775807")
            }
        }
        message.sqsAttributes = attributes
        if chance(0.1) { message.sqsDelaySeconds = 1 }
        message.traits.append("SQS attributes \(attributes.keys.sorted().joined(separator: "/"))")
    }

    private mutating func memoryOverrides(_ message: inout FuzzMessage, _ d: inout Draft) {
        if chance(0.15) {
            message.memoryAttempt = pick([0, -1, Int.min, Int.max, Int(Int32.max), 1_000_001])
            d.attemptsUnreliable = true
            message.traits.append("first attempt reported as \(message.memoryAttempt!)")
        }
        if chance(0.15) {
            let date: Date? = pick([nil, .distantPast, .distantFuture, Date(timeIntervalSince1970: -1e300), Date(timeIntervalSince1970: 1e300), Date(timeIntervalSince1970: .infinity), Date(timeIntervalSince1970: .nan)])
            message.memoryEnqueuedAt = .some(date)
            message.traits.append("enqueued at \(date.map { "\($0.timeIntervalSince1970)" } ?? "nil")")
        }
    }

    /// A body that is no envelope at all.
    private mutating func garbageBody(_ index: Int) -> FuzzMessage {
        var choices = ["null", "[]", "\"v\"", "{", "NaN", "{\"v\":1,\"id\":\"x\",\"task\":\"fuzz.record\",\"payload\":NaN}", "{}", "1e400", "{\"v\":1}}", "x"]
        if !profile.sqsSafe {
            choices += ["", "\u{0}"]
        }
        var body = Array(pick(choices).utf8)
        if !profile.sqsSafe && chance(0.3) {
            body = (0..<int(1...64)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        }
        return FuzzMessage(index: index, body: body, traits: ["garbage body"], expected: .deadLetters("malformed_envelope"), jobID: nil)
    }
}
