import Conveyor
import ConveyorSQS
import Foundation
import Synchronization
import Testing

/// A fake SQS endpoint for `SendMessage` and `SendMessageBatch` (on ``LocalHTTPServer``): `reply` decides the answer
/// to each send request from the job ids it carries; every send request is recorded with its job ids and answer.
final class FakeSendEndpoint: Sendable {
    enum Reply: Sendable, Equatable {
        /// 200 with every entry successful.
        case accept
        /// 200 after `seconds`.
        case acceptAfter(seconds: Double)
        /// An error answer (4xx refuses the request: nothing stored).
        case refuse(status: Int, type: String)
        /// The connection is closed without an answer after `seconds` (SQS may have stored the messages).
        case drop(afterSeconds: Double)
    }

    struct Request: Sendable {
        var ids: [JobID]
        var reply: Reply
    }

    /// The recorded send requests, shared with the server's handler.
    final class Log: Sendable {
        let requests = Mutex<[Request]>([])
    }

    let server: LocalHTTPServer
    private let log = Log()

    var port: Int { server.port }
    var queueURL: String { "http://127.0.0.1:\(server.port)/000000000000/report-test" }
    var sendRequests: [Request] { log.requests.withLock { $0 } }

    /// Ids of every job that reached the endpoint in a request it answered with `reply`.
    func ids(answered reply: (Reply) -> Bool) -> Set<JobID> {
        Set(sendRequests.filter { reply($0.reply) }.flatMap(\.ids))
    }

    init(reply: @escaping @Sendable (_ ids: [JobID]) -> Reply) throws {
        let log = self.log
        server = try LocalHTTPServer { request in
            let target = request.headers["x-amz-target"] ?? ""
            guard target == "AmazonSQS.SendMessageBatch" || target == "AmazonSQS.SendMessage" else { return (200, "{}") }
            let json = (try? JSONReader.read(request.body)) ?? .object([:])
            let entries = target == "AmazonSQS.SendMessage" ? [json] : json["Entries"]?.array ?? []
            let ids = entries.map { entry in
                (try? EnvelopeCodec.decode(Array((entry["MessageBody"]?.string ?? "").utf8)).id) ?? JobID("undecodable")
            }
            let answer = reply(ids)
            log.requests.withLock { $0.append(Request(ids: ids, reply: answer)) }
            let accepted: String
            if target == "AmazonSQS.SendMessage" {
                accepted = #"{"MessageId":"msg-\#(ids.first?.rawValue ?? "")"}"#
            } else {
                let successful = zip(entries, ids).map { entry, id in
                    #"{"Id":"\#(entry["Id"]?.string ?? "")","MessageId":"msg-\#(id.rawValue)"}"#
                }
                accepted = #"{"Successful":[\#(successful.joined(separator: ","))],"Failed":[]}"#
            }
            switch answer {
            case .accept:
                return (200, accepted)
            case .acceptAfter(let seconds):
                Thread.sleep(forTimeInterval: seconds)
                return (200, accepted)
            case .refuse(let status, let type):
                return (status, #"{"__type":"com.amazonaws.sqs#\#(type)","message":"refused by the test"}"#)
            case .drop(let seconds):
                Thread.sleep(forTimeInterval: seconds)
                return (0, "")
            }
        }
    }

    func stop() { server.stop() }
}

/// Which jobs of a failed `enqueue` were sent, not sent, or may have been sent (`ConveyorError.enqueueReport`),
/// against a fake endpoint that fails chosen requests.
@Suite("SQS enqueue reports (local HTTP server)", .timeLimit(.minutes(1)))
struct SQSEnqueueReportTests {
    static func provider(port: Int, maxConcurrentBatches: Int) throws -> SQSQueueProvider {
        try SQSQueueProvider(configuration: SQSQueueProvider.Configuration(
            region: "us-east-1",
            endpoint: "http://127.0.0.1:\(port)",
            credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret")),
            retryPolicy: SQSRetryPolicy(maxAttempts: 3, baseDelay: .milliseconds(10), maxDelay: .milliseconds(50)),
            requestTimeout: .seconds(30),
            maxConcurrentBatches: maxConcurrentBatches
        ))
    }

    static func messages(_ count: Int) -> [OutgoingMessage] {
        (0..<count).map { i in OutgoingMessage(envelope: Envelope(task: "test.report", payload: Array(#"{"n":\#(i)}"#.utf8))) }
    }

    /// The report puts every job in exactly one list.
    static func expectPartition(_ report: ConveyorError.EnqueueReport, of ids: [JobID]) {
        let all = report.sent + Array(report.failed.keys) + report.uncertain
        #expect(all.count == ids.count, "a job is missing from the report or in two lists")
        #expect(Set(all) == Set(ids))
    }

    @Test func oneChunkRefusedAnotherDroppedTheOthersAllSentAndReported() async throws {
        let messages = Self.messages(45)  // chunks 0-9, 10-19, 20-29, 30-39, 40-44
        let ids = messages.map(\.envelope.id)
        let chunkOf = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0 / 10) })
        let endpoint = try FakeSendEndpoint { batch in
            switch chunkOf[batch[0]] {
            case 0: .refuse(status: 400, type: "InvalidParameterValue")  // fails at once, not retried
            case 1: .acceptAfter(seconds: 0.5)  // in flight when chunk 0 fails
            case 2: .drop(afterSeconds: 0)  // every attempt: may have been stored
            default: .accept
            }
        }
        defer { endpoint.stop() }
        let provider = try Self.provider(port: endpoint.port, maxConcurrentBatches: 2)

        let thrown = await #expect(throws: ConveyorError.self) {
            _ = try await provider.enqueue(messages, to: endpoint.queueURL)
        }
        try await provider.close()
        let error = try #require(thrown)
        let report = try #require(error.enqueueReport)
        Self.expectPartition(report, of: ids)
        #expect(Set(report.failed.keys) == Set(ids[0..<10]))
        #expect(report.failed.values.allSatisfy { $0.contains("InvalidParameterValue") })
        #expect(Set(report.uncertain) == Set(ids[20..<30]))
        #expect(Set(report.sent) == Set(ids[10..<20] + ids[30...]))
        #expect(error.code == .notConfirmed)
        #expect(!error.isRetryable)
        #expect(error.message.contains("10 of 45 messages were not sent"))
        #expect(error.message.contains("10 of 45 messages may have been sent"))
        #expect(error.message.contains("25 of 45 were sent"))
        #expect(error.message.contains(ids[0].rawValue) && error.message.contains(ids[20].rawValue))

        // What the endpoint received: the sent jobs were accepted, the failed ones only refused, the uncertain ones
        // only dropped (three attempts of the same chunk).
        #expect(endpoint.ids { $0 == .accept || $0 == .acceptAfter(seconds: 0.5) } == Set(report.sent))
        #expect(endpoint.ids { if case .refuse = $0 { true } else { false } } == Set(report.failed.keys))
        #expect(endpoint.ids { if case .drop = $0 { true } else { false } } == Set(report.uncertain))
        #expect(endpoint.sendRequests.count == 7)  // 5 chunks, 2 retries of the dropped one
    }

    @Test func cancellingMidEnqueueReportsSentInFlightAndNotStartedChunks() async throws {
        let messages = Self.messages(30)  // chunks 0-9, 10-19, 20-29, one at a time
        let ids = messages.map(\.envelope.id)
        let chunkOf = Dictionary(uniqueKeysWithValues: ids.enumerated().map { ($1, $0 / 10) })
        let endpoint = try FakeSendEndpoint { batch in
            chunkOf[batch[0]] == 1 ? .drop(afterSeconds: 5) : .accept  // chunk 1 is in flight when the caller cancels
        }
        defer { endpoint.stop() }
        let provider = try Self.provider(port: endpoint.port, maxConcurrentBatches: 1)

        let enqueue = Task { try await provider.enqueue(messages, to: endpoint.queueURL) }
        var inFlight = false
        for _ in 0..<2_000 where !inFlight {
            try await Task.sleep(for: .milliseconds(10))
            inFlight = endpoint.sendRequests.contains { chunkOf[$0.ids[0]] == 1 }
        }
        try #require(inFlight, "the second chunk never reached the endpoint")
        enqueue.cancel()
        let result = await enqueue.result
        try await provider.close()

        let error = try #require(result.failure as? ConveyorError, "expected a ConveyorError with a report, got \(result)")
        #expect(error.code == .cancelled)
        let report = try #require(error.enqueueReport)
        Self.expectPartition(report, of: ids)
        #expect(Set(report.sent) == Set(ids[0..<10]))
        #expect(Set(report.uncertain) == Set(ids[10..<20]))
        #expect(Set(report.failed.keys) == Set(ids[20..<30]))
        #expect(report.failed.values.allSatisfy { $0.contains("cancelled") })
        // The chunk not started never reached the endpoint.
        #expect(endpoint.ids { _ in true } == Set(ids[0..<20]))
    }

    @Test func aRefusedSingleSendIsReportedFailed() async throws {
        let endpoint = try FakeSendEndpoint { _ in .refuse(status: 400, type: "InvalidMessageContents") }
        defer { endpoint.stop() }
        let provider = try Self.provider(port: endpoint.port, maxConcurrentBatches: 1)
        let message = Self.messages(1)[0]
        let thrown = await #expect(throws: ConveyorError.self) {
            _ = try await provider.enqueue([message], to: endpoint.queueURL)
        }
        try await provider.close()
        let error = try #require(thrown)
        #expect(error.code == .invalidParameter)
        let report = try #require(error.enqueueReport)
        #expect(report.sent.isEmpty && report.uncertain.isEmpty)
        #expect(report.failed.keys.map { $0 } == [message.envelope.id])
        #expect(error.message.contains("was not sent") && error.message.contains(message.envelope.id.rawValue))
    }

    @Test func aSingleSendDroppedEveryTimeIsReportedUncertain() async throws {
        let endpoint = try FakeSendEndpoint { _ in .drop(afterSeconds: 0) }
        defer { endpoint.stop() }
        let provider = try Self.provider(port: endpoint.port, maxConcurrentBatches: 1)
        let message = Self.messages(1)[0]
        let thrown = await #expect(throws: ConveyorError.self) {
            _ = try await provider.enqueue([message], to: endpoint.queueURL)
        }
        try await provider.close()
        let error = try #require(thrown)
        #expect(error.code == .connectionFailed)
        let report = try #require(error.enqueueReport)
        #expect(report == ConveyorError.EnqueueReport(uncertain: [message.envelope.id]))
        #expect(error.message.contains("may have been sent"))
        #expect(endpoint.sendRequests.count == 3)
    }

    @Test func aSingleSendCancelledInFlightIsReportedUncertain() async throws {
        let endpoint = try FakeSendEndpoint { _ in .drop(afterSeconds: 5) }
        defer { endpoint.stop() }
        let provider = try Self.provider(port: endpoint.port, maxConcurrentBatches: 1)
        let message = Self.messages(1)[0]
        let enqueue = Task { try await provider.enqueue([message], to: endpoint.queueURL) }
        for _ in 0..<2_000 where endpoint.sendRequests.isEmpty {
            try await Task.sleep(for: .milliseconds(10))
        }
        try #require(!endpoint.sendRequests.isEmpty, "the send never reached the endpoint")
        enqueue.cancel()
        let result = await enqueue.result
        try await provider.close()
        let error = try #require(result.failure as? ConveyorError, "expected a ConveyorError with a report, got \(result)")
        #expect(error.code == .cancelled)
        #expect(error.enqueueReport == ConveyorError.EnqueueReport(uncertain: [message.envelope.id]))
    }

    @Test func aMessageRefusedBeforeSendingFailsTheWholeCallWithAReport() async throws {
        let endpoint = try FakeSendEndpoint { _ in .accept }
        defer { endpoint.stop() }
        let provider = try Self.provider(port: endpoint.port, maxConcurrentBatches: 1)
        let big = OutgoingMessage(envelope: Envelope(task: "test.big", payload: Array("\"\(String(repeating: "x", count: 300_000))\"".utf8)))
        let messages = Self.messages(3) + [big]
        let thrown = await #expect(throws: ConveyorError.self) {
            _ = try await provider.enqueue(messages, to: endpoint.queueURL)
        }
        try await provider.close()
        let error = try #require(thrown)
        #expect(error.code == .messageTooLarge)
        let report = try #require(error.enqueueReport)
        Self.expectPartition(report, of: messages.map(\.envelope.id))
        #expect(report.failed.count == 4)
        #expect(endpoint.sendRequests.isEmpty)
    }
}

extension Result {
    /// The error of a failed result.
    fileprivate var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
