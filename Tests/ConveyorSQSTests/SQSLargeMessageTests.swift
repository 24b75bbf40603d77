import Conveyor
import Foundation
import Logging
import Synchronization
import Testing

@testable import ConveyorSQS

/// Records the inputs a ``LargeInputTask`` ran with.
final class LargeInputs: Sendable {
    private let inputs = Mutex<[Int: String]>([:])
    func record(_ input: LargeInputTask.Input) { inputs.withLock { $0[input.n] = input.data } }
    var all: [Int: String] { inputs.withLock { $0 } }
}

/// A task whose input is large; it records what it received.
struct LargeInputTask: ConveyorTask {
    struct Input: Codable, Sendable {
        var n: Int
        var data: String
    }
    static let name = "test.large-input"
    let inputs: LargeInputs
    func run(_ input: Input, context: JobContext) async throws -> Int {
        inputs.record(input)
        return input.data.utf8.count
    }

    /// `count` characters, different for each `n`, so that a truncated, shifted or swapped input shows.
    static func data(_ n: Int, count: Int) -> String {
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ")
        return String((0..<count).map { alphabet[($0 &* 7 &+ $0 / 61 &+ n) % alphabet.count] })
    }
}

/// Waits until `condition` holds (polling every 100 ms); fails after `timeout`, a guard against hangs, not a timing
/// assertion.
func waitUntil(_ what: String, timeout: Duration = .seconds(90), _ condition: () async throws -> Bool) async throws {
    let deadline = ContinuousClock.now + timeout
    while ContinuousClock.now < deadline {
        if try await condition() { return }
        try await Task.sleep(for: .milliseconds(100))
    }
    Issue.record("gave up waiting for \(what)")
    throw CancellationError()
}

/// SQS messages up to a queue's `MaximumMessageSize` (up to 1 MiB), on LocalStack.
@Suite(
    "SQS messages up to 1 MiB on LocalStack",
    .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT: eval \"$(scripts/sqs-test-env.sh)\" starts LocalStack and prints the exports"),
    .serialized
)
struct SQSLargeMessageTests {
    /// Runs `body` with a worker of ``LargeInputTask`` on `queue`, then stops the worker.
    static func withWorker(
        _ provider: SQSQueueProvider, _ queue: String, inputs: LargeInputs, _ body: () async throws -> Void
    ) async throws {
        let worker = Worker(
            provider: provider, registry: try TaskRegistry([LargeInputTask(inputs: inputs)]),
            configuration: Worker.Configuration(queues: [queue], concurrency: 2, receiveWait: .seconds(1))
        )
        let running = Task { try await worker.run() }
        do {
            try await body()
        } catch {
            worker.triggerGracefulShutdown()
            _ = await running.result
            throw error
        }
        worker.triggerGracefulShutdown()
        try await running.value
    }

    @Test func aQueueCreatedWith1MiBRunsAJobOfAbout900KBWithItsInputIntact() async throws {
        try await SQSTestEnvironment.withQueue("big-job", options: QueueOptions(maximumMessageBytes: 1_048_576)) { provider, queue in
            // The queue and its dead-letter queue carry the limit.
            for name in [queue, queue + "-dlq"] {
                let url = try await SQSTestEnvironment.queueURL(provider, name)
                let attributes = try await provider.client.call(SQSAPI.GetQueueAttributes(queueURL: url, names: ["MaximumMessageSize"]))
                #expect(attributes["MaximumMessageSize"] == "1048576", "\(name): \(attributes)")
            }
            let inputs = LargeInputs()
            let data = LargeInputTask.data(1, count: 900_000)
            try await Self.withWorker(provider, queue, inputs: inputs) {
                let client = ConveyorClient(provider: provider)
                _ = try await client.enqueue(LargeInputTask.self, .init(n: 1, data: data), options: .init(queue: queue))
                try await waitUntil("the 900 KB job to run") { inputs.all[1] != nil }
            }
            #expect(inputs.all[1]?.utf8.count == 900_000)
            #expect(inputs.all[1] == data, "the job's input changed on its way")
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready == 0 && stats.deadLettered == 0, "\(stats)")
        }
    }

    /// Six jobs of about 300 KB: three fit a 1 MiB batch, so two `SendMessageBatch` requests (chunks of 256 KiB
    /// would take one request per job). The request log (trace level, one line per action) counts them.
    @Test func aBatchOfLargeJobsOnA1MiBQueueTakesFewerRequestsAndEveryJobRuns() async throws {
        let logs = CapturedLogs()
        var logger = logs.logger()
        logger.logLevel = .trace
        let provider = try SQSQueueProvider(configuration: SQSTestEnvironment.configuration(), logger: logger)
        let queue = SQSTestEnvironment.uniqueName("big-batch")
        try await provider.createQueue(queue, options: QueueOptions())
        do {
            // Raised on the existing queue, as an operator would (SetQueueAttributes).
            let url = try await SQSTestEnvironment.queueURL(provider, queue)
            _ = try await provider.client.call(SQSAPI.SetQueueAttributes(queueURL: url, attributes: ["MaximumMessageSize": "1048576"]))

            let sent = (0..<6).map { n in
                Envelope(
                    task: LargeInputTask.name,
                    payload: JSONText.bytes(["n": .int(n), "data": .string(LargeInputTask.data(n, count: 300_000))])
                )
            }
            let before = logs.entries.count
            let results = try await provider.enqueue(sent.map { OutgoingMessage(envelope: $0) }, to: queue)
            #expect(results.map(\.jobID) == sent.map(\.id))
            let batches = logs.entries.dropFirst(before).filter { $0.message == "SQS request" && $0.metadata["sqs.action"] == "SendMessageBatch" }
            #expect(batches.count == 2, "SendMessageBatch requests: \(batches.count) (one per job means 256 KiB chunks)")

            let inputs = LargeInputs()
            try await Self.withWorker(provider, queue, inputs: inputs) {
                try await waitUntil("the six jobs to run") { inputs.all.count == 6 }
            }
            for n in 0..<6 {
                #expect(inputs.all[n] == LargeInputTask.data(n, count: 300_000), "job \(n)'s input")
            }
        } catch {
            try? await provider.deleteQueue(queue)
            try? await provider.close()
            throw error
        }
        try await provider.deleteQueue(queue)
        try await provider.close()
    }

    /// An envelope whose size as SQS counts it (body plus the `conveyor.task` attribute) is `bytes`.
    static func envelope(sqsSize bytes: Int, task: String = "test.big") -> Envelope {
        var envelope = Envelope(task: task, payload: Array(#""""#.utf8))
        let overhead = EnvelopeCodec.encode(envelope).count + "conveyor.task".utf8.count + task.utf8.count + "String".utf8.count
        envelope.payload = Array("\"\(LargeInputTask.data(bytes, count: max(0, bytes - overhead)))\"".utf8)
        return envelope
    }

    /// Ten messages of about 1 MiB come back intact, several per receive (responses of about 10 MB).
    @Test func tenMessagesOfAbout1MiBAreReceivedIntact() async throws {
        try await SQSTestEnvironment.withQueue("big-receive", options: QueueOptions(maximumMessageBytes: 1_048_576)) { provider, queue in
            let sent = (0..<10).map { _ in Self.envelope(sqsSize: 1_048_576 - 200) }
            _ = try await provider.enqueue(sent.map { OutgoingMessage(envelope: $0) }, to: queue)
            let received = try await SQSTestEnvironment.drain(provider, queue, count: 10)
            #expect(received.count == 10)
            let byID = Dictionary(uniqueKeysWithValues: sent.map { ($0.id, $0.payload) })
            for message in received {
                let envelope = try message.envelope.get()
                #expect(envelope.payload == byID[envelope.id], "job \(envelope.id)'s payload changed")
            }
            try await provider.acknowledge(received)
        }
    }

    /// A job near 1 MiB is dead-lettered to a 1 MiB dead-letter queue with its reason (shortened to fit) and its
    /// input intact, and redriven back.
    @Test func aJobNear1MiBIsDeadLetteredWithItsReasonAndRedriven() async throws {
        try await SQSTestEnvironment.withQueue("big-dlq", options: QueueOptions(maximumMessageBytes: 1_048_576)) { provider, queue in
            let sent = Self.envelope(sqsSize: 1_048_576 - 90)
            try await provider.enqueue(OutgoingMessage(envelope: sent), to: queue)
            let message = try #require(try await SQSTestEnvironment.drain(provider, queue, count: 1).first)
            #expect(try message.envelope.get().payload == sent.payload)

            let reason = String(repeating: "the downstream service answered 503; ", count: 40)
            try await provider.fail(message, reason: FailureReason(code: "task_error", message: reason), retryAfter: nil)
            let letters = try await provider.deadLetters(of: queue, limit: 10)
            #expect(letters.count == 1)
            let letter = try #require(letters.first)
            #expect(try letter.envelope.get().id == sent.id)
            #expect(try letter.envelope.get().payload == sent.payload)
            #expect(letter.reason.code == "task_error")
            #expect(!letter.reason.message.isEmpty && reason.hasPrefix(String(letter.reason.message.prefix(30))))

            #expect(try await provider.redrive(queue, ids: nil) == 1)
            let back = try #require(try await SQSTestEnvironment.drain(provider, queue, count: 1).first)
            #expect(try back.envelope.get().id == sent.id)
            #expect(try back.envelope.get().payload == sent.payload)
            try await provider.acknowledge([back])
        }
    }

    /// SQS's default `MaximumMessageSize` (256 KiB), set explicitly: LocalStack creates queues with 1 MiB.
    @Test func aJobOverA256KiBQueuesLimitIsRefusedNamingTheLimitAndTheQueue() async throws {
        try await SQSTestEnvironment.withQueue("too-large") { provider, queue in
            let url = try await SQSTestEnvironment.queueURL(provider, queue)
            _ = try await provider.client.call(SQSAPI.SetQueueAttributes(queueURL: url, attributes: ["MaximumMessageSize": "262144"]))
            let small = SQSTestEnvironment.envelope()
            let big = SQSTestEnvironment.envelope(payload: "\"\(String(repeating: "x", count: 300_000))\"")
            for messages in [[big], [small, big]] {
                do {
                    _ = try await provider.enqueue(messages.map { OutgoingMessage(envelope: $0) }, to: queue)
                    Issue.record("a 300 KB job was sent to a 256 KiB queue")
                } catch let error as ConveyorError {
                    #expect(error.code == .messageTooLarge)
                    for expected in [queue, "262144", "MaximumMessageSize", "1048576", big.id.rawValue, "reference"] {
                        #expect(error.message.contains(expected), "missing \"\(expected)\": \(error.message)")
                    }
                    // Reported, not dropped: every job of the call is listed as not sent.
                    let report = try #require(error.enqueueReport)
                    #expect(Set(report.failed.keys) == Set(messages.map(\.id)))
                    #expect(report.sent.isEmpty && report.uncertain.isEmpty)
                    #expect(report.failed[big.id]?.contains("MaximumMessageSize") == true, "\(report.failed)")
                }
            }
            #expect(try await provider.receive(from: queue, max: 10, wait: .seconds(1)).isEmpty)
        }
    }
}

/// Chunking and option checks that need no broker.
@Suite("SQS batch chunks by the queue's size limit, queue option checks")
struct SQSMessageSizeUnitTests {
    static func provider() throws -> SQSQueueProvider {
        // Never contacted: the options are refused before any request.
        try SQSQueueProvider(configuration: SQSQueueProvider.Configuration(
            endpoint: "http://127.0.0.1:9",
            credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret"))
        ))
    }

    static func entries(_ sizes: [Int]) -> [SQSQueueProvider.SendEntry] {
        sizes.enumerated().map { index, size in
            SQSQueueProvider.SendEntry(index: index, jobID: JobID.random(), message: SQSAPI.MessageFields(body: "x"), size: size)
        }
    }

    @Test func chunksHoldAtMostTenEntriesAndTheQueuesLimitInAll() {
        func shape(_ sizes: [Int], _ limit: Int) -> [[Int]] {
            SQSQueueProvider.chunks(Self.entries(sizes), maximumBytes: limit).map { $0.map(\.index) }
        }
        let six = Array(repeating: 300_000, count: 6)
        #expect(shape(six, 1_048_576) == [[0, 1, 2], [3, 4, 5]])
        #expect(shape(six, 262_144) == [[0], [1], [2], [3], [4], [5]])
        #expect(shape(Array(repeating: 100, count: 25), 1_048_576).map(\.count) == [10, 10, 5])
        // Exactly the limit fits; one byte more starts a new chunk.
        #expect(shape([524_288, 524_288, 1], 1_048_576) == [[0, 1], [2]])
        #expect(shape([1_048_576, 1_048_576], 1_048_576) == [[0], [1]])
        #expect(shape([], 1_048_576).isEmpty)
    }

    @Test(arguments: [Int.min, -1, 0, 1_023, 1_048_577, Int.max])
    func aMaximumMessageSizeOutOfRangeIsAnInvalidConfiguration(_ bytes: Int) async throws {
        let provider = try Self.provider()
        await #expect {
            try await provider.createQueue("sized", options: QueueOptions(maximumMessageBytes: bytes))
        } throws: { error in
            let error = error as? ConveyorError
            return error?.code == .invalidConfiguration && error?.message.contains("\(bytes)") == true
                && error?.message.contains("1048576") == true
        }
        try await provider.close()
    }

    @Test func highThroughputWithoutFIFOIsAnInvalidConfiguration() async throws {
        let provider = try Self.provider()
        for (queue, fifo) in [("plain", false), ("plain", true)] {
            await #expect {
                try await provider.createQueue(queue, options: QueueOptions(fifo: fifo, highThroughput: true))
            } throws: { error in
                // `fifo` on a name without .fifo is refused as before (invalidParameter); without `fifo`, by the flag.
                let code = (error as? ConveyorError)?.code
                return fifo ? code == .invalidParameter : code == .invalidConfiguration
            }
        }
        try await provider.close()
    }
}
