import Conveyor
import ConveyorSQS
import Foundation
import Synchronization
import Testing

/// Numbers from SQS never trap and never lose a job: hand-built `ReceiveMessage` and `GetQueueAttributes` answers
/// from a fake endpoint go through the provider's real request and parsing path.
@Suite("SQS broker numbers (local HTTP server)", .timeLimit(.minutes(1)))
struct SQSBrokerNumberTests {
    /// A fake endpoint answering `action` with `body` (other actions with `{}`), and a provider pointed at it.
    static func endpoint(
        _ answers: @escaping @Sendable (_ action: String) -> String?
    ) throws -> (LocalHTTPServer, SQSQueueProvider, String) {
        let server = try LocalHTTPServer { request in
            let action = (request.headers["x-amz-target"] ?? "").replacingOccurrences(of: "AmazonSQS.", with: "")
            return (200, answers(action) ?? "{}")
        }
        let provider = try SQSQueueProvider(configuration: SQSQueueProvider.Configuration(
            endpoint: "http://127.0.0.1:\(server.port)",
            credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret")),
            retryPolicy: .none
        ))
        return (server, provider, "http://127.0.0.1:\(server.port)/000000000000/numbers")
    }

    /// A JSON string literal.
    static func json(_ text: String) -> String {
        JSONText.quoted(text)
    }

    /// A `ReceiveMessage` answer with one message whose body is `envelope` and whose `Attributes` are `attributes`
    /// (JSON member text, e.g. `"ApproximateReceiveCount":"-1"`).
    static func receiveAnswer(_ envelope: Envelope, attributes: String, messageAttributes: String = "") -> String {
        let body = json(String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self))
        return #"{"Messages":[{"MessageId":"m-1","ReceiptHandle":"rh-1","Body":\#(body),"Attributes":{\#(attributes)},"MessageAttributes":{\#(messageAttributes)}}]}"#
    }

    /// Receives the one message of `answer`.
    static func receiveOne(_ answer: String) async throws -> ReceivedMessage {
        let (server, provider, queue) = try endpoint { $0 == "ReceiveMessage" ? answer : nil }
        defer { server.stop() }
        let received = try await provider.receive(from: queue, max: 10, wait: .zero)
        try await provider.close()
        try #require(received.count == 1)
        return received[0]
    }

    struct CountCase: Sendable, CustomTestStringConvertible {
        /// The JSON value of `ApproximateReceiveCount` (a string literal or a bare number).
        var value: String
        var offset: Int
        var attempt: Int
        var testDescription: String { "ApproximateReceiveCount \(value), attempt offset \(offset) → \(attempt)" }
    }

    static let max = SQSQueueProvider.maximumAttempt

    static let countCases: [CountCase] = [
        CountCase(value: #""1""#, offset: 0, attempt: 1),
        CountCase(value: #""3""#, offset: 2, attempt: 5),
        CountCase(value: "4", offset: 0, attempt: 4),  // a JSON number instead of a string
        CountCase(value: #""9223372036854775807""#, offset: 0, attempt: max),
        CountCase(value: #""9223372036854775807""#, offset: 1, attempt: max),  // Int.max + 1
        // The largest offset the envelope codec accepts (a larger one is a malformed envelope).
        CountCase(value: #""2""#, offset: Envelope.maximumAttemptOffset, attempt: Envelope.maximumAttemptOffset + 2),
        CountCase(value: #""9223372036854775807""#, offset: Envelope.maximumAttemptOffset, attempt: max),
        CountCase(value: #""99999999999999999999999""#, offset: 0, attempt: max),
        CountCase(value: #""1e300""#, offset: 0, attempt: max),
        CountCase(value: #""inf""#, offset: 0, attempt: max),
        CountCase(value: #""2.9""#, offset: 0, attempt: 2),
        CountCase(value: #""-1""#, offset: 0, attempt: 1),
        CountCase(value: #""-9223372036854775808""#, offset: 3, attempt: 4),
        CountCase(value: #""0""#, offset: 0, attempt: 1),
        CountCase(value: #""nan""#, offset: 0, attempt: 1),
        CountCase(value: #""""#, offset: 0, attempt: 1),
        CountCase(value: #""three""#, offset: 0, attempt: 1),
    ]

    @Test(arguments: countCases)
    func receiveCountsGiveASaneAttempt(_ countCase: CountCase) async throws {
        var envelope = Envelope(task: "test.numbers", payload: Array("{}".utf8))
        envelope.attemptOffset = countCase.offset
        let message = try await Self.receiveOne(
            Self.receiveAnswer(envelope, attributes: #""ApproximateReceiveCount":\#(countCase.value),"SentTimestamp":"1700000000000""#)
        )
        #expect(message.attempt == countCase.attempt)
        // The job is not lost: its envelope decoded, and it can be settled.
        #expect(try message.envelope.get().id == envelope.id)
        #expect(message.receipt.token(as: String.self) == "rh-1")
        // An absurd count is past any max attempts, and one more attempt does not overflow.
        #expect(message.attempt <= Self.max && message.attempt.addingReportingOverflow(1).overflow == false)
    }

    static let timestampCases: [(String, Date?)] = [
        (#""1700000000000""#, Date(timeIntervalSince1970: 1_700_000_000)),
        ("1700000000000", Date(timeIntervalSince1970: 1_700_000_000)),
        (#""9223372036854775807""#, nil),
        (#""-1""#, nil),
        (#""-1e300""#, nil),
        (#""1e300""#, nil),
        (#""nan""#, nil),
        (#""inf""#, nil),
        (#""""#, nil),
        (#""yesterday""#, nil),
    ]

    @Test(arguments: timestampCases)
    func sentTimestampsAreDatesBetween1970And9999OrNothing(_ value: String, _ expected: Date?) async throws {
        let envelope = Envelope(task: "test.numbers", payload: Array("{}".utf8))
        let message = try await Self.receiveOne(
            Self.receiveAnswer(envelope, attributes: #""ApproximateReceiveCount":"1","SentTimestamp":\#(value)"#)
        )
        #expect(message.enqueuedAt == expected)
        #expect(message.attempt == 1)
        #expect(try message.envelope.get().id == envelope.id)
    }

    @Test func queueCountsAreNeverNegativeAndNeverOverflow() async throws {
        let (server, provider, queue) = try Self.endpoint { action in
            guard action == "GetQueueAttributes" else { return nil }
            return #"""
                {"Attributes":{"ApproximateNumberOfMessages":"9223372036854775807","ApproximateNumberOfMessagesNotVisible":"9223372036854775807","ApproximateNumberOfMessagesDelayed":"-1"}}
                """#
        }
        defer { server.stop() }
        let stats = try await provider.stats(of: queue)
        try await provider.close()
        #expect(stats.ready == Int.max)
        #expect(stats.inFlight == Int.max)
        #expect(stats.delayed == 0)
        #expect(stats.deadLettered == Int.max)  // the dead-letter queue's two counts, saturated
    }

    @Test(arguments: [#""-1""#, #""0""#, #""1000""#, #""1e300""#, #""nan""#, #""""#, #""99999999999999999999""#, "-5"])
    func anUnusableMaximumMessageSizeFallsBackToTheDefault(_ value: String) async throws {
        let (server, provider, queue) = try Self.endpoint { action in
            switch action {
            case "GetQueueAttributes": #"{"Attributes":{"MaximumMessageSize":\#(value)}}"#
            case "SendMessage": #"{"MessageId":"id-1"}"#
            default: nil
            }
        }
        defer { server.stop() }
        let small = Envelope(task: "test.numbers", payload: Array("\"\(String(repeating: "s", count: 2_000))\"".utf8))
        let large = Envelope(task: "test.numbers", payload: Array("\"\(String(repeating: "l", count: 270_000))\"".utf8))
        let results = try await provider.enqueue([OutgoingMessage(envelope: small)], to: queue)
        #expect(results.first?.brokerMessageID == "id-1")
        await #expect {
            _ = try await provider.enqueue([OutgoingMessage(envelope: large)], to: queue)
        } throws: { error in
            (error as? ConveyorError)?.code == .messageTooLarge && "\(error)".contains("262144-byte limit")
        }
        try await provider.close()
    }

    @Test(arguments: [(#""-5""#, 0), (#""1e300""#, SQSQueueProvider.maximumAttempt), (#""9223372036854775807""#, SQSQueueProvider.maximumAttempt), (#""x""#, 0), (#""4""#, 4)])
    func deadLetterAttemptsAreClamped(_ value: String, _ expected: Int) async throws {
        let envelope = Envelope(task: "test.numbers", payload: Array("{}".utf8))
        let answered = Atomic<Bool>(false)
        let answer = Self.receiveAnswer(
            envelope, attributes: #""ApproximateReceiveCount":"1""#,
            messageAttributes: #""conveyor.dead_letter_attempt":{"DataType":"String","StringValue":\#(value)}"#
        )
        let (server, provider, queue) = try Self.endpoint { action in
            switch action {
            case "ReceiveMessage": answered.exchange(true, ordering: .relaxed) ? #"{"Messages":[]}"# : answer
            case "ChangeMessageVisibility": "{}"
            default: nil
            }
        }
        defer { server.stop() }
        let letters = try await provider.deadLetters(of: queue, limit: 10)
        try await provider.close()
        let letter = try #require(letters.first)
        #expect(letters.count == 1)
        #expect(letter.attempts == expected)
        #expect(try letter.envelope.get().id == envelope.id)
    }
}

/// What the SQS provider tells the provider-neutral core (no broker).
@Suite("SQS answers the core's questions")
struct SQSProviderNeutralCoreTests {
    @Test func deduplicatingQueueIsFIFO() throws {
        let (server, provider, _) = try SQSBrokerNumberTests.endpoint { _ in nil }
        defer { server.stop() }
        #expect(provider.deduplicatingQueueName("orders-claims") == "orders-claims.fifo")
        #expect(provider.deduplicatingQueueName("orders-claims.fifo") == "orders-claims.fifo")
        #expect(JobScheduler(provider: provider).claimQueue == "conveyor-schedules-claims.fifo")
        #expect(provider.capabilities.brokerTimestamps)
        #expect(!provider.capabilities.declaresQueuesOnUse)
        #expect(provider.sessions == nil && provider.releasing != nil && provider.deadLetterQueues != nil)
    }
}
