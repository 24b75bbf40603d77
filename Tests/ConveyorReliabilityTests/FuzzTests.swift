import Conveyor
import Foundation
import Testing

@testable import ConveyorSQS

/// Bounded randomized fuzzing of the parsers that see untrusted bytes: the envelope decoder, the SQS JSON response
/// handling and the cron parser. Each runs for `budget` on mutations of valid inputs plus random bytes; the seed
/// is printed so a failure can be replayed (`CONVEYOR_FUZZ_SEED`). No crash and no hang (the time limit) is the
/// property; decoded results are also checked for consistency. Each test also checks that both the accepting and the
/// rejecting path of its parser ran a meaningful number of times (``minimumMutations`` mutated inputs at least,
/// whatever the budget), so that a fuzzer that stopped reaching one of them fails instead of passing.
@Suite("Fuzzing (bounded)", .timeLimit(.minutes(2)))
struct FuzzTests {
    static let budget: Duration = {
        if let text = ProcessInfo.processInfo.environment["CONVEYOR_FUZZ_SECONDS"], let seconds = Double(text) {
            return .milliseconds(Int(seconds * 1000))
        }
        return .seconds(3)
    }()

    /// Mutated inputs each fuzz run tries at least, even when its budget runs out first (a slow machine).
    static let minimumMutations = 5_000

    static func seed() -> UInt64 {
        if let text = ProcessInfo.processInfo.environment["CONVEYOR_FUZZ_SEED"], let seed = UInt64(text) { return seed }
        return UInt64.random(in: 1...UInt64.max)
    }

    /// Tokens that steer mutations into interesting parser states.
    static let dictionary: [[UInt8]] = [
        "{", "}", "[", "]", ",", ":", "\"", "\\", "\\u", "\\ud83d", "\\ude00", "\\u0000", "null", "true", "false",
        "-", "0", "1e999", "-0.0", "1.5", "99999999999999999999", "\"v\":", "\"id\":", "\"task\":", "\"payload\":",
        "\"created_at\":", "\"2026-02-30T25:61:61.9999Z\"", "\"priority\":", "\"trace\":", "\"headers\":", " ", "\n",
        "\u{00}", "\u{FF}", "é", "😀", "*", "/", "L", "W", "#", "?", "@", "MON-FRI", "JAN", "*/0", "0-59/7", "99999999999",
    ].map { Array($0.utf8) }

    /// One random mutation of `input`.
    static func mutate<R: RandomNumberGenerator>(_ input: [UInt8], using rng: inout R) -> [UInt8] {
        var bytes = input
        let rounds = Int.random(in: 1...4, using: &rng)
        for _ in 0..<rounds {
            switch Int.random(in: 0..<8, using: &rng) {
            case 0 where !bytes.isEmpty:  // flip a bit
                let i = Int.random(in: 0..<bytes.count, using: &rng)
                bytes[i] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &rng)
            case 1 where !bytes.isEmpty:  // random byte
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            case 2 where !bytes.isEmpty:  // truncate
                bytes.removeLast(Int.random(in: 1...bytes.count, using: &rng))
            case 3 where !bytes.isEmpty:  // delete a range
                let start = Int.random(in: 0..<bytes.count, using: &rng)
                let end = min(bytes.count, start + Int.random(in: 1...8, using: &rng))
                bytes.removeSubrange(start..<end)
            case 4:  // insert a dictionary token
                let at = Int.random(in: 0...bytes.count, using: &rng)
                bytes.insert(contentsOf: dictionary.randomElement(using: &rng)!, at: at)
            case 5 where bytes.count > 1:  // duplicate a slice
                let start = Int.random(in: 0..<bytes.count, using: &rng)
                let end = min(bytes.count, start + Int.random(in: 1...32, using: &rng))
                let at = Int.random(in: 0...bytes.count, using: &rng)
                bytes.insert(contentsOf: Array(bytes[start..<end]), at: at)
            case 6:  // deep nesting
                let depth = Int.random(in: 1...2000, using: &rng)
                let at = Int.random(in: 0...bytes.count, using: &rng)
                bytes.insert(contentsOf: Array(repeating: UInt8(ascii: Bool.random(using: &rng) ? "[" : "{"), count: depth), at: at)
            default:  // random bytes
                bytes = (0..<Int.random(in: 0...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }
            }
        }
        return bytes
    }

    /// Runs `body` on every input of `corpus`, then on mutations of it until the budget is spent (and at least
    /// ``minimumMutations``); returns the number of inputs tried.
    static func fuzz(_ name: String, corpus: [[UInt8]], _ body: ([UInt8]) throws -> Void) rethrows -> Int {
        let seed = seed()
        var rng = SplitMix64(seed: seed)
        print("fuzz \(name): seed \(seed) (replay with CONVEYOR_FUZZ_SEED=\(seed))")
        let deadline = ContinuousClock.now + budget
        var count = 0
        for input in corpus {
            try body(input)
            count += 1
        }
        var mutations = 0
        while mutations < minimumMutations || ContinuousClock.now < deadline {
            mutations += 64
            for _ in 0..<64 {
                let input = mutate(corpus.randomElement(using: &rng)!, using: &rng)
                try body(input)
                count += 1
            }
        }
        print("fuzz \(name): \(count) inputs, no crash")
        return count
    }

    // MARK: - Envelope decoder

    static let envelopeCorpus: [[UInt8]] = {
        var corpus: [[UInt8]] = [
            Array(#"{"v":1,"id":"j-1","task":"email.send","payload":{"to":"ada@example.com"}}"#.utf8),
            Array(#"{"v":1,"id":"j","task":"t","payload":null,"created_at":"2026-11-25T16:04:23.123+01:00","priority":5.0,"max_attempts":3,"attempt_offset":2,"not_before":"2026-11-25T16:04:23Z","trace":{"traceparent":"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},"headers":{"x-dead-letter-reason":"boom"}}"#.utf8),
            Array(#" {"payload":[1,2.5,"\ud83d\ude00",{"a":[]}],"task":"\u00e9","id":"\"q\"","v":1} "#.utf8),
            Array(#"{"v":2,"id":"j","task":"t","payload":{}}"#.utf8),
        ]
        let full = Envelope(
            task: "record", payload: Array(#"{"n":1,"s":"é\n"}"#.utf8), correlationID: "c", deduplicationKey: "d",
            priority: 9, maxAttempts: 7, attemptOffset: 1, notBefore: Date(timeIntervalSince1970: 1_800_000_000),
            traceContext: ["traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"], headers: ["k": "v"])
        corpus.append(EnvelopeCodec.encode(full))
        return corpus
    }()

    @Test("EnvelopeCodec.decode: mutated and random bodies never crash; what decodes re-encodes and decodes equal")
    func envelopeDecoder() throws {
        var decoded = 0
        var rejected = 0
        let count = Self.fuzz("EnvelopeCodec.decode", corpus: Self.envelopeCorpus) { input in
            do {
                let envelope = try EnvelopeCodec.decode(input)
                decoded += 1
                #expect(!envelope.id.rawValue.isEmpty)
                #expect(!envelope.task.isEmpty)
                let again = try EnvelopeCodec.decode(EnvelopeCodec.encode(envelope))
                #expect(again.id == envelope.id)
                #expect(again.task == envelope.task)
                #expect(again.payload == envelope.payload)
            } catch let error as ConveyorError {
                rejected += 1
                #expect(
                    [.malformedEnvelope, .unsupportedEnvelopeVersion].contains(error.code),
                    "unexpected error code \(error.code) for input \(input.prefix(80))")
                #expect(!error.message.isEmpty)
            } catch {
                Issue.record("EnvelopeCodec.decode threw a non-Conveyor error: \(error)")
            }
        }
        print("fuzz EnvelopeCodec.decode: \(decoded) of \(count) inputs decoded, \(rejected) rejected")
        Self.expectBothPaths(count: count, accepted: decoded, acceptedName: "decoded", rejected: rejected, rejectedName: "rejected")
    }

    // MARK: - SQS JSON responses

    static let sqsCorpus: [[UInt8]] = [
        #"{"Messages":[{"MessageId":"m-1","ReceiptHandle":"rh-1","MD5OfBody":"x","Body":"{\"v\":1,\"id\":\"j\",\"task\":\"t\",\"payload\":{}}","Attributes":{"ApproximateReceiveCount":"2","SentTimestamp":"1764086663123"},"MessageAttributes":{"traceparent":{"StringValue":"00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01","DataType":"String"}}}]}"#,
        #"{"Messages":[{"MessageId":"m-2","ReceiptHandle":"rh","Body":"not json","Attributes":{"ApproximateReceiveCount":"x"}}, {"Body":null}]}"#,
        #"{"Successful":[{"Id":"0","MessageId":"m","MD5OfMessageBody":"x"}],"Failed":[{"Id":"1","SenderFault":true,"Code":"InvalidParameterValue","Message":"bad"}]}"#,
        #"{"__type":"com.amazonaws.sqs#QueueDoesNotExist","message":"The specified queue does not exist."}"#,
        #"{"__type":"ThrottlingException","Message":"Rate exceeded"}"#,
        #"{"QueueUrl":"http://127.0.0.1:4566/000000000000/q","Attributes":{"ApproximateNumberOfMessages":"3"}}"#,
        "",
    ].map { Array($0.utf8) }

    @Test("SQS responses: mutated and random JSON never crash JSONReader, the message decoder or the error parser")
    func sqsResponses() async throws {
        var env = ["AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:9", "AWS_REGION": "us-east-1"]
        env["AWS_ACCESS_KEY_ID"] = "AKIDEXAMPLE"
        env["AWS_SECRET_ACCESS_KEY"] = "fuzz-secret"
        let provider = try SQSQueueProvider(configuration: .fromEnvironment(env), logger: ReliabilityEnvironment.logger)
        var parsed = 0
        var unparsed = 0
        var messages = 0
        var undecodable = 0
        var errors: [String: Int] = [:]
        let statuses = [400, 403, 404, 413, 429, 500, 502, 503, 504]
        let count = Self.fuzz("SQS responses", corpus: Self.sqsCorpus) { input in
            // What SQSClient.call does with a 2xx body (JSONReader, then the typed ReceiveMessage answer), then what receive
            // does with each message.
            let object = try? JSONReader.read(input, limits: SQSClient.responseLimits)
            if let object {
                parsed += 1
                // What parses must write (JSONText) and read back to the same value.
                #expect((try? JSONReader.read(JSONText.bytes(object), limits: SQSClient.responseLimits)) == object, "written SQS JSON does not read back")
                for message in (try? SQSAPI.ReceiveMessage.response(from: object)) ?? [] {
                    let received = provider.decode(message, queue: "fuzz")
                    if case .failure(let error) = received.envelope {
                        undecodable += 1
                        #expect(received.rawBody != nil)
                        #expect(!error.message.isEmpty)
                    }
                    messages += 1
                }
            } else {
                unparsed += 1
            }
            // What SQSClient does with an error answer.
            let status = statuses[input.count % statuses.count]
            let response = HTTPResponse(status: status, headers: input.count % 3 == 0 ? ["x-amzn-query-error": String(decoding: input.prefix(40), as: UTF8.self)] : [:], body: input)
            let error = SQSClient.parseError(response, action: "ReceiveMessage")
            #expect(!error.message.contains("fuzz-secret"))
            errors[error.code.description, default: 0] += 1
        }
        try await provider.close()
        print("fuzz SQS responses: \(parsed) of \(count) parsed, \(messages) messages decoded (\(undecodable) undecodable); error codes \(errors)")
        Self.expectBothPaths(count: count, accepted: parsed, acceptedName: "parsed", rejected: unparsed, rejectedName: "unparsable")
        Self.expectBothPaths(
            count: messages, minimumCount: 100, accepted: messages - undecodable, acceptedName: "messages with a decodable envelope",
            rejected: undecodable, rejectedName: "undecodable messages")
        #expect(errors.values.reduce(0, +) == count, "the error parser did not see every input: \(errors)")
        #expect(errors.count >= 3, "the error answers mapped to fewer than 3 error codes: \(errors)")
    }

    /// Both outcomes of a parser (accepted, rejected) ran a meaningful number of times: each at least 10 times and
    /// at least ``minimumShare`` of the inputs, so that neither path is left untested by mutations that stopped
    /// reaching it. (Seen here: cron expressions parse about 1 % of the time, envelopes 7 %, SQS responses 18 %.)
    static func expectBothPaths(
        count: Int, minimumCount: Int = minimumMutations, accepted: Int, acceptedName: String, rejected: Int, rejectedName: String,
        sourceLocation: SourceLocation = #_sourceLocation
    ) {
        let least = Swift.max(10, Int(Double(count) * minimumShare))
        #expect(count >= minimumCount, "only \(count) inputs tried, expected at least \(minimumCount)", sourceLocation: sourceLocation)
        #expect(accepted >= least, "only \(accepted) of \(count) inputs \(acceptedName), expected at least \(least)", sourceLocation: sourceLocation)
        #expect(rejected >= least, "only \(rejected) of \(count) inputs \(rejectedName), expected at least \(least)", sourceLocation: sourceLocation)
    }

    /// The share of the inputs each path must see (see ``expectBothPaths(count:minimumCount:accepted:acceptedName:rejected:rejectedName:sourceLocation:)``).
    static let minimumShare = 0.001

    // MARK: - Cron

    static let cronCorpus: [[UInt8]] = [
        "* * * * *", "*/15 9-17 * * MON-FRI", "0 0 1 1 *", "0 30 9 L * ?", "@daily", "@hourly", "@every 5m",
        "5 4 * * sun", "0 0 29 2 *", "0-59/7 */2 1,15 JAN-JUN 0-6", "0 0 0 ? * 1#3", "15W * * * *", "0 0 31 4 *",
    ].map { Array($0.utf8) }

    @Test("CronExpression: mutated and random expressions never crash; parsed ones compute a next fire time")
    func cronParser() throws {
        var parsed = 0
        var rejected = 0
        let zones = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe"].compactMap(TimeZone.init(identifier:))
        let start = Date(timeIntervalSince1970: 1_764_086_663)
        let count = Self.fuzz("CronExpression", corpus: Self.cronCorpus) { input in
            let text = String(decoding: input, as: UTF8.self)
            do {
                let expression = try CronExpression(text)
                parsed += 1
                // A parsed expression must answer (or say it never fires) without hanging.
                let schedule = Schedule.cron(expression, timeZone: zones[input.count % zones.count])
                if let next = schedule.nextFireDate(after: start) { #expect(next > start) }
            } catch let error as ConveyorError {
                rejected += 1
                #expect(!error.message.isEmpty)
            } catch {
                Issue.record("CronExpression threw a non-Conveyor error: \(error)")
            }
        }
        print("fuzz CronExpression: \(parsed) of \(count) inputs parsed, \(rejected) rejected")
        Self.expectBothPaths(count: count, accepted: parsed, acceptedName: "parsed", rejected: rejected, rejectedName: "rejected")
    }
}

/// A small, seedable generator (SplitMix64) so fuzz runs can be replayed.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
