import Conveyor
import Foundation
import Testing

/// Randomized checks of the envelope codec, bounded in time: random envelopes round-trip exactly; random
/// mutations of valid bodies never crash and either decode or fail with a malformed/unsupported error.
@Suite("Envelope codec, randomized")
struct EnvelopeCodecPropertyTests {
    static let budget: Duration = .seconds(1)

    static let alphabet: [String] = [
        "a", "b", "Z", "0", "9", " ", "-", "_", ".", "/", "\"", "\\", "\n", "\r", "\t", "\u{0}", "\u{1F}", "\u{7F}",
        "é", "ü", "✓", "€", "😀", "\u{2028}", "{", "}", "[", "]", ":", ",",
    ]

    static func string<R: RandomNumberGenerator>(_ rng: inout R, maxLength: Int = 12, nonEmpty: Bool = false) -> String {
        let length = Int.random(in: (nonEmpty ? 1 : 0)...maxLength, using: &rng)
        return (0..<length).map { _ in alphabet.randomElement(using: &rng)! }.joined()
    }

    /// Random JSON text, as a producer's serializer could write it.
    static func json<R: RandomNumberGenerator>(_ rng: inout R, depth: Int = 0) -> String {
        let choice = Int.random(in: 0..<(depth > 3 ? 5 : 8), using: &rng)
        switch choice {
        case 0: return "null"
        case 1: return Bool.random(using: &rng) ? "true" : "false"
        case 2: return String(Int.random(in: -1_000_000...1_000_000, using: &rng))
        case 3: return ["0.5", "-2.5e-3", "1E+10", "3.14159", "-0", "0"].randomElement(using: &rng)!
        case 4: return JSONText.quoted(string(&rng))
        case 5:
            let items = (0..<Int.random(in: 0...4, using: &rng)).map { _ in json(&rng, depth: depth + 1) }
            return "[" + items.joined(separator: Bool.random(using: &rng) ? "," : ", ") + "]"
        default:
            let items = (0..<Int.random(in: 0...4, using: &rng)).map { _ in
                JSONText.quoted(string(&rng)) + ": " + json(&rng, depth: depth + 1)
            }
            return "{" + items.joined(separator: ",\n ") + "}"
        }
    }

    static func map<R: RandomNumberGenerator>(_ rng: inout R) -> [String: String] {
        var map: [String: String] = [:]
        for _ in 0..<Int.random(in: 0...3, using: &rng) { map[string(&rng)] = string(&rng, maxLength: 30) }
        return map
    }

    static func date<R: RandomNumberGenerator>(_ rng: inout R) -> Date {
        Date(timeIntervalSince1970: Double(Int64.random(in: -2_208_988_800_000...7_258_118_400_000, using: &rng)) / 1000)
    }

    static func envelope<R: RandomNumberGenerator>(_ rng: inout R) -> Envelope {
        Envelope(
            id: JobID(string(&rng, maxLength: 40, nonEmpty: true)),
            task: string(&rng, maxLength: 20, nonEmpty: true),
            payload: Array(json(&rng).utf8),
            createdAt: date(&rng),
            correlationID: Bool.random(using: &rng) ? string(&rng) : nil,
            deduplicationKey: Bool.random(using: &rng) ? string(&rng) : nil,
            priority: Int.random(in: 0...9, using: &rng),
            maxAttempts: Bool.random(using: &rng) ? Int.random(in: 1...1_000, using: &rng) : nil,
            attemptOffset: Int.random(in: 0...50, using: &rng),
            notBefore: Bool.random(using: &rng) ? date(&rng) : nil,
            traceContext: map(&rng),
            headers: map(&rng)
        )
    }

    @Test func randomEnvelopesRoundTrip() throws {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let deadline = ContinuousClock.now + Self.budget
        var count = 0
        while ContinuousClock.now < deadline {
            let sent = Self.envelope(&rng)
            let bytes = EnvelopeCodec.encode(sent)
            let decoded: Envelope
            do {
                decoded = try EnvelopeCodec.decode(bytes)
            } catch {
                Issue.record("seed \(seed): \(error) for \(String(decoding: bytes, as: UTF8.self))")
                return
            }
            // Dates travel with millisecond precision; the generator uses whole milliseconds.
            var expected = sent
            expected.createdAt = decoded.createdAt
            expected.notBefore = decoded.notBefore
            let same = decoded == expected
                && RFC3339.format(decoded.createdAt) == RFC3339.format(sent.createdAt)
                && decoded.notBefore.map(RFC3339.format) == sent.notBefore.map(RFC3339.format)
                && EnvelopeCodec.encode(decoded) == bytes
            #expect(same, "seed \(seed): \(String(decoding: bytes, as: UTF8.self))")
            if !same { return }
            count += 1
        }
        #expect(count > 100)
    }

    @Test func mutatedBodiesNeverCrash() {
        let seed = UInt64.random(in: 0...UInt64.max)
        var rng = SplitMix64(seed: seed)
        let deadline = ContinuousClock.now + Self.budget
        let interesting: [UInt8] = Array(#"{}[]":,\-0123456789.eEtrufalsn "#.utf8) + [0x00, 0x7F, 0x80, 0xC3, 0xFF]
        var decodedCount = 0, rejectedCount = 0
        while ContinuousClock.now < deadline {
            var bytes = EnvelopeCodec.encode(Self.envelope(&rng))
            for _ in 0..<Int.random(in: 1...4, using: &rng) {
                let index = Int.random(in: 0..<bytes.count, using: &rng)
                let byte = Bool.random(using: &rng)
                    ? interesting.randomElement(using: &rng)!
                    : UInt8.random(in: 0...255, using: &rng)
                switch Int.random(in: 0..<4, using: &rng) {
                case 0: bytes[index] = byte
                case 1: bytes.insert(byte, at: index)
                case 2: bytes.remove(at: index)
                default: bytes.removeSubrange(index...)
                }
                if bytes.isEmpty { break }
            }
            do {
                _ = try EnvelopeCodec.decode(bytes)
                decodedCount += 1
            } catch {
                rejectedCount += 1
                let expected: Set<ConveyorError.Code> = [.malformedEnvelope, .unsupportedEnvelopeVersion]
                #expect(expected.contains(error.code), "seed \(seed): \(error)")
                #expect(!error.message.isEmpty)
            }
        }
        #expect(rejectedCount > 100, "seed \(seed): \(decodedCount) decoded, \(rejectedCount) rejected")
    }
}
