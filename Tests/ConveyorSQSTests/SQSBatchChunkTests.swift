import Conveyor
import ConveyorSQS
import Foundation
import Synchronization
import Testing

/// The chunks of one batch operation run concurrently, bounded by `maxConcurrentBatches` (no broker).
@Suite("SQS batch chunks run concurrently")
struct SQSChunkConcurrencyTests {
    static func provider(maxConcurrentBatches: Int) throws -> SQSQueueProvider {
        // Never contacted: the chunk runner is exercised with a local body.
        try SQSQueueProvider(configuration: SQSQueueProvider.Configuration(
            endpoint: "http://127.0.0.1:9",
            credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret")),
            maxConcurrentBatches: maxConcurrentBatches
        ))
    }

    /// Counts chunks in flight; a chunk waits (up to 10 s) until `target` are in flight at once, so a serial runner
    /// shows a peak of 1 and a concurrent one reaches `target`.
    final class InFlight: Sendable {
        private let state = Mutex<(current: Int, peak: Int)>((0, 0))
        var peak: Int { state.withLock { $0.peak } }

        func run(target: Int) async {
            state.withLock { $0.current += 1; $0.peak = Swift.max($0.peak, $0.current) }
            for _ in 0..<10_000 where state.withLock({ $0.peak }) < target {
                try? await Task.sleep(for: .milliseconds(1))
            }
            state.withLock { $0.current -= 1 }
        }
    }

    @Test func chunksRunConcurrentlyUpToTheBoundAndKeepTheirOrder() async throws {
        let provider = try Self.provider(maxConcurrentBatches: 3)
        let inFlight = InFlight()
        let chunks = (0..<7).map { [$0] }
        let outputs = try await provider.forEachChunk(chunks) { chunk in
            await inFlight.run(target: 3)
            return chunk[0] * 10
        }
        #expect(outputs == [0, 10, 20, 30, 40, 50, 60])
        #expect(inFlight.peak == 3)
    }

    @Test func everyChunkRunsWhenOneThrowsThenTheErrorIsRethrown() async throws {
        let provider = try Self.provider(maxConcurrentBatches: 2)
        let ran = Mutex<Set<Int>>([])
        await #expect {
            _ = try await provider.forEachChunk((0..<5).map { [$0] }) { chunk in
                ran.withLock { _ = $0.insert(chunk[0]) }
                if chunk[0] == 1 { throw ConveyorError(.brokerError, "chunk 1 failed") }
                return chunk[0]
            }
        } throws: { error in
            (error as? ConveyorError)?.message == "chunk 1 failed"
        }
        #expect(ran.withLock { $0 } == [0, 1, 2, 3, 4])
    }
}

/// Many-chunk visibility changes, releases and deletes on LocalStack.
@Suite("SQS many-chunk batch operations on LocalStack", .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT: eval \"$(scripts/sqs-test-env.sh)\" starts LocalStack and prints the exports"), .serialized)
struct SQSBatchChunkTests {
    @Test func extendReleaseAndAcknowledgeMoreThanTenMessages() async throws {
        try await SQSTestEnvironment.withQueue("chunks", configure: { $0.maxConcurrentBatches = 3 }) { provider, queue in
            let sent = (0..<35).map { SQSTestEnvironment.envelope(payload: #"{"n":\#($0)}"#) }
            _ = try await provider.enqueue(sent.map { OutgoingMessage(envelope: $0) }, to: queue)
            let received = try await SQSTestEnvironment.drain(provider, queue, count: 35)
            #expect(SQSTestEnvironment.ids(received) == Set(sent.map(\.id)))

            try await provider.extendVisibility(received, by: .seconds(60))
            try await provider.release(received)
            let again = try await SQSTestEnvironment.drain(provider, queue, count: 35)
            #expect(SQSTestEnvironment.ids(again) == Set(sent.map(\.id)))

            try await provider.acknowledge(again)
            #expect(try await provider.receive(from: queue, max: 10, wait: .seconds(1)).isEmpty)
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready == 0 && stats.inFlight == 0)
        }
    }
}

/// Batched deletes and visibility changes against a fake endpoint that refuses or drops chosen chunks: every chunk
/// runs, then one error counts what was not done and what may have been.
@Suite("SQS receipt batches report every chunk (local HTTP server)", .timeLimit(.minutes(1)))
struct SQSReceiptBatchReportTests {
    /// A fake endpoint that answers a batch by the first receipt handle in it: `refused` → 400, `dropped` → no
    /// answer, others → all successful. Records the handles of every batch request.
    final class Endpoint: Sendable {
        let server: LocalHTTPServer

        init(refused: String, dropped: String? = nil) throws {
            let box = Box()
            server = try LocalHTTPServer { request in
                let target = request.headers["x-amz-target"] ?? ""
                guard target.hasSuffix("Batch") else { return (200, "{}") }
                let entries = (try? JSONReader.read(request.body))?["Entries"]?.array ?? []
                let handles = entries.compactMap { $0["ReceiptHandle"]?.string }
                box.requests.withLock { $0.append(handles) }
                if handles.first == refused {
                    return (400, #"{"__type":"com.amazonaws.sqs#InvalidParameterValue","message":"refused by the test"}"#)
                }
                if handles.first == dropped { return (0, "") }
                let successful = entries.map { #"{"Id":"\#($0["Id"]?.string ?? "")"}"# }
                return (200, #"{"Successful":[\#(successful.joined(separator: ","))],"Failed":[]}"#)
            }
            self.box = box
        }

        final class Box: Sendable {
            let requests = Mutex<[[String]]>([])
        }

        let box: Box
        var requests: [[String]] { box.requests.withLock { $0 } }
        var url: String { "http://127.0.0.1:\(server.port)/000000000000/receipts" }
    }

    static func messages(_ count: Int, queue: String) -> [ReceivedMessage] {
        (0..<count).map { i in
            ReceivedMessage(queue: queue, receipt: Receipt("h\(i)"), attempt: 1, envelope: .failure(ConveyorError(.malformedEnvelope, "test")))
        }
    }

    static func provider(port: Int) throws -> SQSQueueProvider {
        try SQSQueueProvider(configuration: SQSQueueProvider.Configuration(
            endpoint: "http://127.0.0.1:\(port)",
            credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret")),
            retryPolicy: SQSRetryPolicy(maxAttempts: 2, baseDelay: .milliseconds(10), maxDelay: .milliseconds(20)),
            maxConcurrentBatches: 2
        ))
    }

    @Test func acknowledgeRunsEveryChunkThenCountsTheRefusedAndTheUncertain() async throws {
        // Chunks h0-h9, h10-h19, h20-h29, h30-h34: the first refused, the third dropped.
        let endpoint = try Endpoint(refused: "h0", dropped: "h20")
        defer { endpoint.server.stop() }
        let provider = try Self.provider(port: endpoint.server.port)
        let thrown = await #expect(throws: ConveyorError.self) {
            try await provider.acknowledge(Self.messages(35, queue: endpoint.url))
        }
        try await provider.close()
        let error = try #require(thrown)
        #expect(error.message.contains("10 of 35 messages of \(endpoint.url) could not be deleted"))
        #expect(error.message.contains("InvalidParameterValue"))
        #expect(error.message.contains("10 of 35 messages of \(endpoint.url) may or may not have been deleted"))
        #expect(error.code == .brokerError)
        // Every chunk reached the endpoint (the dropped one twice).
        #expect(Set(endpoint.requests.flatMap { $0 }) == Set((0..<35).map { "h\($0)" }))
        #expect(endpoint.requests.count == 5)
    }

    @Test func releaseRunsEveryChunkThenCountsTheRefused() async throws {
        let endpoint = try Endpoint(refused: "h10")
        defer { endpoint.server.stop() }
        let provider = try Self.provider(port: endpoint.server.port)
        let thrown = await #expect(throws: ConveyorError.self) {
            try await provider.release(Self.messages(25, queue: endpoint.url))
        }
        try await provider.close()
        let error = try #require(thrown)
        #expect(error.message.contains("10 of 25 messages of \(endpoint.url) could not be released"))
        #expect(!error.message.contains("may or may not"))
        #expect(error.code == .invalidParameter)
        #expect(Set(endpoint.requests.flatMap { $0 }) == Set((0..<25).map { "h\($0)" }))
    }
}
