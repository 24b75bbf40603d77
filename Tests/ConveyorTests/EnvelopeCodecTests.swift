import Conveyor
import Foundation
import Testing

private func decode(_ text: String) -> Result<Envelope, ConveyorError> {
    Result { () throws(ConveyorError) -> Envelope in try EnvelopeCodec.decode(Array(text.utf8)) }
}

private func decodeBytes(_ bytes: [UInt8]) -> Result<Envelope, ConveyorError> {
    Result { () throws(ConveyorError) -> Envelope in try EnvelopeCodec.decode(bytes) }
}

private func expectCode(
    _ result: Result<Envelope, ConveyorError>,
    _ code: ConveyorError.Code,
    sourceLocation: SourceLocation = #_sourceLocation
) {
    switch result {
    case .success(let envelope):
        Issue.record("decoded \(envelope), expected \(code)", sourceLocation: sourceLocation)
    case .failure(let error):
        #expect(error.code == code, "\(error)", sourceLocation: sourceLocation)
        #expect(!error.message.isEmpty, sourceLocation: sourceLocation)
    }
}

/// A valid envelope as text with one field replaced (or removed, when `value` is nil).
private func body(replacing key: String, with value: String?) -> String {
    var fields: [(String, String)] = [
        ("v", "1"),
        ("id", #""job-1""#),
        ("task", #""email.send""#),
        ("payload", #"{"to":"ada@example.com"}"#),
        ("created_at", #""2026-11-25T16:04:23.123Z""#),
    ]
    if let index = fields.firstIndex(where: { $0.0 == key }) {
        if let value { fields[index].1 = value } else { fields.remove(at: index) }
    } else if let value {
        fields.append((key, value))
    }
    return "{" + fields.map { "\"\($0.0)\":\($0.1)" }.joined(separator: ",") + "}"
}

@Suite("Envelope codec")
struct EnvelopeCodecTests {
    static let full = Envelope(
        id: JobID("0b5cbb5e-8d0a-4a3c-9f43-2f2c3e0f8c11"),
        task: "email.send",
        payload: Array(#"{"to": "ada@example.com", "n": [1, 2.5, -3e2, true, null], "s": "é \"q\" \\ \u00e9"}"#.utf8),
        createdAt: Date(timeIntervalSince1970: 1_764_086_663.123),
        correlationID: "order-42",
        deduplicationKey: "welcome-ada",
        priority: 7,
        maxAttempts: 5,
        attemptOffset: 2,
        notBefore: Date(timeIntervalSince1970: 1_764_090_000.5),
        traceContext: ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", "tracestate": "congo=t61rcWkgMzE"],
        headers: ["x-tenant": "acme", "x-quote": "\"\\\n\t\u{1}", "x-unicode": "ü ✓ 😀"]
    )

    @Test func everyFieldRoundTrips() throws {
        let encoded = EnvelopeCodec.encode(Self.full)
        let decoded = try EnvelopeCodec.decode(encoded)
        #expect(decoded.version == 1)
        #expect(decoded.id == Self.full.id)
        #expect(decoded.task == Self.full.task)
        #expect(decoded.payload == Self.full.payload)
        #expect(RFC3339.format(decoded.createdAt) == "2025-11-25T16:04:23.123Z")
        #expect(abs(decoded.createdAt.timeIntervalSince(Self.full.createdAt)) < 0.0005)
        #expect(decoded.correlationID == "order-42")
        #expect(decoded.deduplicationKey == "welcome-ada")
        #expect(decoded.priority == 7)
        #expect(decoded.maxAttempts == 5)
        #expect(decoded.attemptOffset == 2)
        #expect(decoded.notBefore.map(RFC3339.format) == "2025-11-25T17:00:00.500Z")
        #expect(decoded.traceContext == Self.full.traceContext)
        #expect(decoded.headers == Self.full.headers)
        // Re-encoding a decoded envelope gives the same bytes (no drift across hops).
        #expect(EnvelopeCodec.encode(decoded) == encoded)
    }

    @Test func minimalEnvelopeOmitsOptionalFields() throws {
        let envelope = Envelope(
            id: "j",
            task: "t",
            payload: Array("42".utf8),
            createdAt: Date(timeIntervalSince1970: 0)
        )
        let text = String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self)
        #expect(text == #"{"v":1,"id":"j","task":"t","payload":42,"created_at":"1970-01-01T00:00:00.000Z"}"#)
        #expect(try EnvelopeCodec.decode(Array(text.utf8)) == envelope)
    }

    /// U+FFFE and U+FFFF (a producer's `\uffff` escapes) are written escaped, never as raw UTF-8: SQS refuses them
    /// in a message body, so a job holding them could not be retried, hopped or dead-lettered and was received
    /// again forever. Found by WorkerFuzzTests (SQS, seed 20251125).
    @Test func noncharactersAreWrittenEscaped() throws {
        #expect(JSONText.quoted("a\u{FFFF}b\u{FFFE}c") == #""a\uffffb\ufffec""#)
        #expect(JSONText.quoted("\u{FFFF}") == #""\uffff""#)
        #expect(JSONText.quoted("\u{FFFE}\"") == #""\ufffe\"""#)
        // Neighbours are written as they are.
        #expect(JSONText.quoted("\u{FFFD}\u{EFFF}\u{10FFFF}") == "\"\u{FFFD}\u{EFFF}\u{10FFFF}\"")
        let body = try EnvelopeCodec.decode(Array(#"{"v":1,"id":"j\uFFFF","task":"t\ufffe","payload":{},"headers":{"k\uffff":"\uFFFE"}}"#.utf8))
        let encoded = EnvelopeCodec.encode(body)
        let noncharacters: [[UInt8]] = [[0xEF, 0xBF, 0xBE], [0xEF, 0xBF, 0xBF]]
        for bytes in noncharacters {
            #expect(!encoded.indices.contains { encoded[$0...].starts(with: bytes) }, "raw \(bytes) in \(String(decoding: encoded, as: UTF8.self))")
        }
        let decoded = try EnvelopeCodec.decode(encoded)
        #expect(decoded.id.rawValue == "j\u{FFFF}")
        #expect(decoded.task == "t\u{FFFE}")
        #expect(decoded.headers == ["k\u{FFFF}": "\u{FFFE}"])
    }

    @Test func emptyPayloadIsWrittenAsNull() throws {
        let envelope = Envelope(task: "t", payload: [])
        let decoded = try EnvelopeCodec.decode(EnvelopeCodec.encode(envelope))
        #expect(decoded.payload == Array("null".utf8))
    }

    @Test(arguments: ["0", "2", "99", "-1"])
    func unknownVersionIsUnsupported(_ version: String) {
        expectCode(decode(body(replacing: "v", with: version)), .unsupportedEnvelopeVersion)
    }

    @Test func unknownVersionWinsOverOtherProblems() {
        // A future version may change any other field: the version is checked first.
        expectCode(decode(#"{"v":2,"job":"something else entirely"}"#), .unsupportedEnvelopeVersion)
    }

    @Test(arguments: ["v", "id", "task", "payload"])
    func missingRequiredFieldIsMalformed(_ key: String) {
        let result = decode(body(replacing: key, with: nil))
        expectCode(result, .malformedEnvelope)
        if case .failure(let error) = result { #expect(error.message.contains("\"\(key)\"")) }
    }

    @Test func missingCreatedAtDefaultsToNow() throws {
        let before = Date()
        let envelope = try decode(body(replacing: "created_at", with: nil)).get()
        #expect(envelope.createdAt >= before.addingTimeInterval(-1))
    }

    @Test(arguments: [
        ("v", #""1""#), ("v", "1.5"), ("v", "true"), ("v", "null"),
        ("id", "5"), ("id", #""""#), ("id", "null"), ("id", "[]"),
        ("task", #""""#), ("task", "{}"), ("task", "false"),
        ("priority", #""high""#), ("priority", "10"), ("priority", "-1"), ("priority", "1.5"),
        ("max_attempts", "0"), ("max_attempts", #""3""#),
        ("attempt_offset", "-1"), ("attempt_offset", "1e400"),
        ("created_at", #""yesterday""#), ("created_at", "1764086663"), ("created_at", #""2026-02-30T00:00:00Z""#),
        ("not_before", #""2026-11-25""#),
        ("correlation_id", "7"), ("dedup_key", "[]"),
        ("trace", #"{"traceparent":1}"#), ("trace", #""00-abc""#), ("headers", "[]"), ("headers", #"{"a":{"b":"c"}}"#),
    ])
    func badFieldTypeIsMalformed(_ key: String, _ value: String) {
        let result = decode(body(replacing: key, with: value))
        expectCode(result, .malformedEnvelope)
        if case .failure(let error) = result { #expect(error.message.contains("\"\(key)\""), "\(error)") }
    }

    @Test(arguments: [
        "", " ", "null", "[]", "[1]", "\"text\"", "42", "{", "}", "{}", "{\"v\":1", "{\"v\":1,}", "{\"v\" 1}",
        "{'v':1}", "{\"v\":1}}", "{\"v\":1} x", "{\"v\":01}", "{\"v\":-}", "{\"v\":1.}", "{\"v\":1e}",
        "{\"v\":tru}", "{\"v\":nul}", "{\"a\":\"\\x\"}", "{\"a\":\"\\u12\"}", "{\"a\":\"\\ud800\"}",
        "{\"a\":\"\\udc00\"}", "{\"a\":\"\u{1}\"}", "{\"a\":\"unterminated}", "{\"a\":[1,2}",
    ])
    func invalidJSONIsMalformed(_ text: String) {
        expectCode(decode(text), .malformedEnvelope)
    }

    @Test func invalidUTF8IsMalformed() {
        var bytes = Array(body(replacing: "task", with: #""email""#).utf8)
        let index = bytes.firstIndex(of: UInt8(ascii: "m"))!
        bytes[index] = 0xFF
        expectCode(decodeBytes(bytes), .malformedEnvelope)
        expectCode(decodeBytes([0xEF, 0xBB, 0xBF] + Array(body(replacing: "v", with: "1").utf8)), .malformedEnvelope)
    }

    @Test func everyTruncationIsMalformed() {
        let bytes = EnvelopeCodec.encode(Self.full)
        for length in 0..<bytes.count {
            let result = decodeBytes(Array(bytes[..<length]))
            guard case .failure(let error) = result else {
                Issue.record("a body truncated to \(length) of \(bytes.count) bytes decoded")
                return
            }
            #expect(error.code == .malformedEnvelope)
        }
    }

    @Test func deepNestingIsMalformedNotACrash() throws {
        for depth in [300, 10_000, 200_000] {
            let payload = String(repeating: "[", count: depth) + String(repeating: "]", count: depth)
            expectCode(decode(body(replacing: "payload", with: payload)), .malformedEnvelope)
            let objects = String(repeating: #"{"a":"#, count: depth) + "1" + String(repeating: "}", count: depth)
            expectCode(decode(body(replacing: "payload", with: objects)), .malformedEnvelope)
            expectCode(decode(body(replacing: "extra", with: payload)), .malformedEnvelope)
            expectCode(decode(body(replacing: "headers", with: objects)), .malformedEnvelope)
        }
        // Moderate nesting is fine.
        let payload = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(try decode(body(replacing: "payload", with: payload)).get().payload == Array(payload.utf8))
    }

    @Test func oversizedBodyIsMalformed() {
        let big = "\"" + String(repeating: "x", count: EnvelopeCodec.maximumBodyBytes) + "\""
        expectCode(decode(body(replacing: "payload", with: big)), .malformedEnvelope)
    }

    @Test func randomBytesAreMalformed() {
        var rng = SplitMix64(seed: 0xC0FFEE)
        for _ in 0..<2_000 {
            let count = Int.random(in: 0..<200, using: &rng)
            let bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
            if case .success = decodeBytes(bytes) { Issue.record("random bytes decoded: \(bytes)") }
        }
    }

    /// What Python's `json.dumps(job)` writes: spaces after separators, its own field order, non-ASCII as
    /// `\uXXXX` escapes (surrogate pairs beyond the BMP), and an unknown field.
    @Test func pythonProducerEnvelopeDecodes() throws {
        let text = #"""
        {"payload": {"to": "ada@example.com", "name": "Ad\u00e9"}, "task": "email.send", "v": 1, "id": "6f1c1a8e-5d3a-4c2e-9b7f-0a1b2c3d4e5f", "created_at": "2026-11-25T17:04:23.123456+01:00", "correlation_id": "ord\u00e9r-42", "max_attempts": 3, "priority": 5, "trace": {"traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}, "headers": {"x-emoji": "\ud83d\ude00", "x-slash": "a\/b"}, "producer": {"lang": "python", "version": [3, 12]}, "not_before": null, "dedup_key": null}
        """#
        let envelope = try decode(text).get()
        #expect(envelope.id == "6f1c1a8e-5d3a-4c2e-9b7f-0a1b2c3d4e5f")
        #expect(envelope.task == "email.send")
        #expect(envelope.payload == Array(#"{"to": "ada@example.com", "name": "Ad\u00e9"}"#.utf8))
        #expect(RFC3339.format(envelope.createdAt) == "2026-11-25T16:04:23.123Z")
        #expect(envelope.correlationID == "ordér-42")
        #expect(envelope.maxAttempts == 3)
        #expect(envelope.priority == 5)
        #expect(envelope.attemptOffset == 0)
        #expect(envelope.notBefore == nil)
        #expect(envelope.deduplicationKey == nil)
        #expect(envelope.traceContext == ["traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"])
        #expect(envelope.headers == ["x-emoji": "😀", "x-slash": "a/b"])
    }

    /// What Node's `JSON.stringify(job, null, 2)` writes: indented with newlines, UTF-8 as is.
    @Test func nodeProducerEnvelopeDecodes() throws {
        let text = """
        {
          "id": "node-1",
          "v": 1,
          "created_at": "2026-11-25T16:04:23Z",
          "task": "report.render",
          "payload": [
            "ü",
            1.5e-3
          ],
          "headers": {},
          "trace": {}
        }
        """
        let envelope = try decode(text).get()
        #expect(envelope.id == "node-1")
        #expect(envelope.task == "report.render")
        #expect(envelope.payload == Array("[\n    \"ü\",\n    1.5e-3\n  ]".utf8))
        #expect(RFC3339.format(envelope.createdAt) == "2026-11-25T16:04:23.000Z")
        #expect(envelope.headers.isEmpty)
        #expect(envelope.traceContext.isEmpty)
    }

    /// The output of the Python helper in docs/wire-format.md.
    @Test func documentedPythonHelperOutputDecodes() throws {
        let text = #"{"v":1,"id":"3773d162-45a0-45cb-8101-b81674ccb4a3","task":"email.send","payload":{"to":"ada@example.com","subject":"Wélcome"},"created_at":"2026-11-25T16:43:52.213Z","correlation_id":"signup-42","dedup_key":"k","priority":5,"max_attempts":3,"not_before":"2026-11-25T18:43:52.213453+00:00","trace":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}}"#
        let envelope = try decode(text).get()
        #expect(envelope.id == "3773d162-45a0-45cb-8101-b81674ccb4a3")
        #expect(envelope.payload == Array(#"{"to":"ada@example.com","subject":"Wélcome"}"#.utf8))
        #expect(envelope.notBefore.map(RFC3339.format) == "2026-11-25T18:43:52.213Z")
        #expect(envelope.deduplicationKey == "k")
        #expect(envelope.priority == 5)
        #expect(envelope.maxAttempts == 3)
    }

    @Test func payloadNullIsKeptAsJSONNull() throws {
        #expect(try decode(body(replacing: "payload", with: "null")).get().payload == Array("null".utf8))
    }
}

@Suite("RFC 3339")
struct RFC3339Tests {
    @Test(arguments: [
        ("1970-01-01T00:00:00.000Z", 0.0),
        ("2025-11-25T16:04:23.123Z", 1_764_086_663.123),
        ("2024-02-29T23:59:59.999Z", 1_709_251_199.999),
        ("2000-02-29T00:00:00.000Z", 951_782_400.0),
        ("1969-12-31T23:59:59.999Z", -0.001),
        ("1900-03-01T00:00:00.000Z", -2_203_891_200.0),
        ("9999-12-31T23:59:59.999Z", 253_402_300_799.999),
    ])
    func formatsAndParses(_ text: String, _ seconds: Double) throws {
        #expect(RFC3339.format(Date(timeIntervalSince1970: seconds)) == text)
        let parsed = try #require(RFC3339.parse(text))
        #expect(abs(parsed.timeIntervalSince1970 - seconds) < 0.0005)
        #expect(RFC3339.format(parsed) == text)
    }

    @Test(arguments: [
        ("2026-11-25T17:04:23.123+01:00", "2026-11-25T16:04:23.123Z"),
        ("2026-11-25T10:34:23.123-05:30", "2026-11-25T16:04:23.123Z"),
        ("2026-11-26T00:30:00+08:30", "2026-11-25T16:00:00.000Z"),
        ("2026-01-01T00:30:00+01:00", "2025-12-31T23:30:00.000Z"),
        ("2026-11-25T16:04:23-00:00", "2026-11-25T16:04:23.000Z"),
        ("2026-11-25t16:04:23z", "2026-11-25T16:04:23.000Z"),
        ("2026-11-25 16:04:23Z", "2026-11-25T16:04:23.000Z"),
        ("2026-11-25T16:04:23.1Z", "2026-11-25T16:04:23.100Z"),
        ("2026-11-25T16:04:23.123456789123Z", "2026-11-25T16:04:23.123Z"),
        ("2026-11-25T16:04:23.9996Z", "2026-11-25T16:04:24.000Z"),
        ("2024-03-01T00:30:00+01:00", "2024-02-29T23:30:00.000Z"),
    ])
    func parsesOffsetsAndVariants(_ text: String, _ utc: String) throws {
        let parsed = try #require(RFC3339.parse(text))
        #expect(RFC3339.format(parsed) == utc)
    }

    @Test(arguments: [
        "", "2026-11-25", "2026-11-25T16:04:23", "2026-11-25T16:04Z", "2026-13-01T00:00:00Z", "2026-00-01T00:00:00Z",
        "2026-11-00T00:00:00Z", "2026-11-31T00:00:00Z", "2023-02-29T00:00:00Z", "1900-02-29T00:00:00Z",
        "2026-02-30T00:00:00Z", "2026-11-25T24:00:00Z", "2026-11-25T16:60:00Z", "2026-11-25T16:04:23.Z",
        "2026-11-25T16:04:23+0100", "2026-11-25T16:04:23+01", "2026-11-25T16:04:23Zjunk", "26-11-25T16:04:23Z",
        "2026-11-25T16:04:23+24:00", "２０２６-11-25T16:04:23Z", "2026/11/25T16:04:23Z",
    ])
    func rejectsInvalidTimestamps(_ text: String) {
        #expect(RFC3339.parse(text) == nil)
    }

    @Test func leapDays() throws {
        for year in [1600, 2000, 2004, 2024, 2400] {
            let text = "\(year)-02-29T12:00:00.000Z"
            #expect(RFC3339.parse(text).map(RFC3339.format) == text)
        }
        for year in [1700, 1900, 2023, 2100] {
            #expect(RFC3339.parse("\(year)-02-29T12:00:00Z") == nil)
        }
    }

    @Test func formatOfParseIsStable() {
        var rng = SplitMix64(seed: 42)
        for _ in 0..<20_000 {
            let millis = Int64.random(in: -2_208_988_800_000...7_258_118_400_000, using: &rng)
            let date = Date(timeIntervalSince1970: Double(millis) / 1000)
            let text = RFC3339.format(date)
            let parsed = RFC3339.parse(text)
            #expect(parsed.map(RFC3339.format) == text)
            if parsed.map(RFC3339.format) != text { return }
        }
    }

    @Test func extremeDatesAreClampedNotACrash() {
        #expect(RFC3339.format(.distantFuture).hasPrefix("4001-"))
        #expect(RFC3339.format(Date(timeIntervalSince1970: 1e300)) == "9999-12-31T23:59:59.999Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: -1e300)) == "0001-01-01T00:00:00.000Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: .nan)) == "1970-01-01T00:00:00.000Z")
        #expect(RFC3339.format(Date(timeIntervalSince1970: .infinity)) == "9999-12-31T23:59:59.999Z")
    }
}

