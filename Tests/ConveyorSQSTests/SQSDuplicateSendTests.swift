import Conveyor
import ConveyorSQS
import Foundation
import Logging
import Synchronization
import Testing

/// Records log entries (level, message, metadata) for assertions; shared by the handlers a logger copies.
final class CapturedLogs: Sendable {
    struct Entry: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
    }

    private let storage = Mutex<[Entry]>([])

    var entries: [Entry] { storage.withLock { $0 } }

    func append(_ entry: Entry) { storage.withLock { $0.append(entry) } }

    /// A logger (level debug) whose entries land here.
    func logger(label: String = "conveyor.sqs.test") -> Logger {
        var logger = Logger(label: label) { _ in Handler(logs: self) }
        logger.logLevel = .debug
        return logger
    }

    struct Handler: LogHandler {
        let logs: CapturedLogs
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var flat: [String: String] = [:]
            for (key, value) in metadata.merging(event.metadata ?? [:], uniquingKeysWith: { $1 }) { flat[key] = "\(value)" }
            logs.append(Entry(level: event.level, message: "\(event.message)", metadata: flat))
        }
    }
}

/// A send retried after its request may have reached SQS is reported (info log, counter), against a fake SQS endpoint
/// (``LocalHTTPServer``) that drops, delays or fails (5xx) the first send.
@Suite("SQS possible duplicate sends (local HTTP server)")
struct SQSDuplicateSendTests {
    /// Which transport failures may have reached SQS: not one that never started or never connected.
    @Test func uncertainDeliveryOfTransportFailures() {
        func failure(_ code: Int, timedOut: Bool = false) -> HTTPTransportError {
            HTTPTransportError(code: code, message: "m", timedOut: timedOut)
        }
        for code in [HTTPTransportError.notStarted, 5, 6, 7] {
            #expect(SQSClient.uncertainDelivery(failure(code)) == nil, "curl \(code)")
        }
        #expect(SQSClient.uncertainDelivery(failure(28, timedOut: true)) == "a timeout")
        #expect(SQSClient.uncertainDelivery(failure(56)) == "a connection error (curl 56)")
    }

    static func provider(port: Int, logs: CapturedLogs, requestTimeout: Duration = .seconds(30)) throws -> SQSQueueProvider {
        let configuration = SQSQueueProvider.Configuration(
            region: "us-east-1",
            endpoint: "http://127.0.0.1:\(port)",
            credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret")),
            retryPolicy: SQSRetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50)),
            requestTimeout: requestTimeout
        )
        return try SQSQueueProvider(configuration: configuration, logger: logs.logger())
    }

    /// What ``enqueueTwoWithFirstBatch(answered:payload:)`` saw.
    struct BatchOutcome {
        var results: [EnqueueResult]
        var batches: Int
        var possibleDuplicateSends: Int
        var logs: CapturedLogs
        var queue: String
    }

    /// Enqueues two messages in one `SendMessageBatch` against a fake endpoint that answers the first batch request
    /// with `first` (status 0: it reads the request, then drops the connection) and accepts the next one.
    static func enqueueTwoWithFirstBatch(answered first: (Int, String), payload: String = "{}") async throws -> BatchOutcome {
        let batches = Atomic<Int>(0)
        let server = try LocalHTTPServer { request in
            switch request.headers["x-amz-target"] {
            case "AmazonSQS.SendMessageBatch":
                if batches.add(1, ordering: .relaxed).newValue == 1 { return first }
                return (200, #"{"Successful":[{"Id":"m0","MessageId":"id-0"},{"Id":"m1","MessageId":"id-1"}],"Failed":[]}"#)
            default:
                return (200, "{}")
            }
        }
        defer { server.stop() }
        let logs = CapturedLogs()
        let provider = try provider(port: server.port, logs: logs)
        let queue = "http://127.0.0.1:\(server.port)/000000000000/dup-test"
        let envelopes = (0..<2).map { _ in Envelope(task: "test.dup", payload: Array(payload.utf8)) }
        let results = try await provider.enqueue(envelopes.map { OutgoingMessage(envelope: $0) }, to: queue)
        try await provider.close()
        return BatchOutcome(
            results: results, batches: batches.load(ordering: .relaxed),
            possibleDuplicateSends: provider.client.possibleDuplicateSends, logs: logs, queue: queue
        )
    }

    @Test func droppedSendMessageBatchIsRetriedAndReported() async throws {
        // The first request is read, then its connection dropped without an answer: SQS may have stored it.
        let payloadMarker = "secret-payload-marker"
        let outcome = try await Self.enqueueTwoWithFirstBatch(answered: (0, ""), payload: #"{"p":"\#(payloadMarker)"}"#)

        #expect(outcome.results.map(\.brokerMessageID) == ["id-0", "id-1"])
        #expect(outcome.batches == 2)
        #expect(outcome.possibleDuplicateSends == 1)
        let reports = outcome.logs.entries.filter { $0.message.contains("may be duplicated") }
        #expect(reports.count == 1)
        let report = try #require(reports.first)
        #expect(report.level == .info)
        #expect(report.message.hasPrefix("SendMessageBatch retried after"))
        #expect(report.message.contains("its 2 messages may be duplicated"))
        #expect(report.metadata["conveyor.queue"] == outcome.queue)
        #expect(report.metadata["sqs.action"] == "SendMessageBatch")
        #expect(report.metadata["job.count"] == "2")
        #expect(!outcome.logs.entries.contains { entry in
            entry.message.contains(payloadMarker) || entry.metadata.values.contains { $0.contains(payloadMarker) }
        })
    }

    @Test func sendAnswered5xxIsRetriedAndReported() async throws {
        // SQS failed while handling the request: it may have stored the messages before failing.
        let outcome = try await Self.enqueueTwoWithFirstBatch(answered: (500, #"{"__type":"com.amazonaws.sqs#InternalError"}"#))

        #expect(outcome.results.map(\.brokerMessageID) == ["id-0", "id-1"])
        #expect(outcome.batches == 2)
        #expect(outcome.possibleDuplicateSends == 1)
        let report = try #require(outcome.logs.entries.first { $0.message.contains("may be duplicated") })
        #expect(report.level == .info)
        #expect(report.message == "SendMessageBatch retried after HTTP 500; its 2 messages may be duplicated")
    }

    @Test func throttledSendIsRetriedWithoutADuplicateReport() async throws {
        let sends = Atomic<Int>(0)
        let server = try LocalHTTPServer { request in
            switch request.headers["x-amz-target"] {
            case "AmazonSQS.SendMessage":
                // An answer from SQS that it refused the request: nothing was sent, nothing can be duplicated.
                if sends.add(1, ordering: .relaxed).newValue == 1 { return (400, #"{"__type":"com.amazonaws.sqs#ThrottlingException"}"#) }
                return (200, #"{"MessageId":"id-0"}"#)
            default:
                return (200, "{}")
            }
        }
        defer { server.stop() }
        let logs = CapturedLogs()
        let provider = try Self.provider(port: server.port, logs: logs)
        let queue = "http://127.0.0.1:\(server.port)/000000000000/dup-test"

        let results = try await provider.enqueue([OutgoingMessage(envelope: Envelope(task: "test.dup", payload: []))], to: queue)
        try await provider.close()

        #expect(results.first?.brokerMessageID == "id-0")
        #expect(sends.load(ordering: .relaxed) == 2)
        #expect(provider.client.possibleDuplicateSends == 0)
        #expect(!logs.entries.contains { $0.message.contains("may be duplicated") })
    }

    @Test func timedOutSendMessageIsRetriedAndReported() async throws {
        let sends = Atomic<Int>(0)
        let server = try LocalHTTPServer { request in
            switch request.headers["x-amz-target"] {
            case "AmazonSQS.SendMessage":
                // The first request gets no answer within the client's request timeout (the server answers each
                // connection on its own thread, so the retry is answered meanwhile).
                if sends.add(1, ordering: .relaxed).newValue == 1 {
                    Thread.sleep(forTimeInterval: 3)
                    return (0, "")
                }
                return (200, #"{"MessageId":"id-0"}"#)
            default:
                return (200, "{}")
            }
        }
        defer { server.stop() }
        let logs = CapturedLogs()
        let provider = try Self.provider(port: server.port, logs: logs, requestTimeout: .milliseconds(300))
        let queue = "http://127.0.0.1:\(server.port)/000000000000/dup-test"

        let results = try await provider.enqueue([OutgoingMessage(envelope: Envelope(task: "test.dup", payload: []))], to: queue)
        try await provider.close()

        #expect(results.first?.brokerMessageID == "id-0")
        #expect(provider.client.possibleDuplicateSends == 1)
        let report = try #require(logs.entries.first { $0.message.contains("may be duplicated") })
        #expect(report.level == .info)
        #expect(report.message == "SendMessage retried after a timeout; its message may be duplicated")
        #expect(report.metadata["job.count"] == "1")
    }

    @Test func aSendThatCouldNotConnectIsNotReported() async throws {
        // Nothing listens on the discard port: the requests never reach anyone.
        let logs = CapturedLogs()
        let provider = try Self.provider(port: 9, logs: logs)
        await #expect(throws: ConveyorError.self) {
            _ = try await provider.enqueue(
                [OutgoingMessage(envelope: Envelope(task: "test.dup", payload: []))], to: "http://127.0.0.1:9/000000000000/dup-test"
            )
        }
        try await provider.close()
        #expect(provider.client.possibleDuplicateSends == 0)
        #expect(!logs.entries.contains { $0.message.contains("may be duplicated") })
    }

    @Test func aSendDroppedEveryTimeFailsSayingItsMessagesMayHaveBeenSent() async throws {
        let server = try LocalHTTPServer { request in
            request.headers["x-amz-target"] == "AmazonSQS.SendMessage" ? (0, "") : (200, "{}")
        }
        defer { server.stop() }
        let logs = CapturedLogs()
        let provider = try Self.provider(port: server.port, logs: logs)  // 3 attempts
        let queue = "http://127.0.0.1:\(server.port)/000000000000/dup-test"
        await #expect {
            _ = try await provider.enqueue([OutgoingMessage(envelope: Envelope(task: "test.dup", payload: []))], to: queue)
        } throws: { error in
            (error as? ConveyorError)?.code == .connectionFailed && "\(error)".contains("may have been sent")
        }
        try await provider.close()
        #expect(provider.client.possibleDuplicateSends == 2)
        #expect(logs.entries.filter { $0.message.contains("may be duplicated") }.count == 2)
    }
}
