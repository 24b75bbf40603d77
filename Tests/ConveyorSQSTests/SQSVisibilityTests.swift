import Conveyor
import ConveyorSQS
import Foundation
import Synchronization
import Testing

/// Batched visibility changes (`ChangeMessageVisibilityBatch`): heartbeats and releases.
@Suite("SQS visibility batches on LocalStack", .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT: eval \"$(scripts/sqs-test-env.sh)\" starts LocalStack and prints the exports"), .serialized)
struct SQSVisibilityTests {
    @Test func batchExtensionKeepsMessagesInvisibleThenZeroBringsThemBack() async throws {
        // Receives ask for 3 s; the extension must outlast that.
        try await SQSTestEnvironment.withQueue("batch-extend", configure: { $0.visibilityTimeout = .seconds(3) }) { provider, queue in
            let sent = (0..<12).map { i in OutgoingMessage(envelope: SQSTestEnvironment.envelope(payload: #"{"n":\#(i)}"#)) }
            _ = try await provider.enqueue(sent, to: queue)
            let received = try await SQSTestEnvironment.drain(provider, queue, count: 12)
            #expect(received.count == 12)
            #expect(SQSTestEnvironment.ids(received) == Set(sent.map(\.envelope.id)))

            try await provider.extendVisibility(received, by: .seconds(120))
            try await Task.sleep(for: .seconds(4))  // past the receive's own 3 s
            #expect(try await provider.receive(from: queue, max: 10, wait: .seconds(1)).isEmpty)

            try await provider.extendVisibility(received, by: .zero)
            let back = try await SQSTestEnvironment.drain(provider, queue, count: 12)
            #expect(SQSTestEnvironment.ids(back) == Set(sent.map(\.envelope.id)))
            #expect(back.allSatisfy { $0.attempt == 2 })
            try await provider.acknowledge(back)
        }
    }

    @Test func batchExtensionIgnoresStaleReceipts() async throws {
        try await SQSTestEnvironment.withQueue("batch-extend-stale") { provider, queue in
            let (_, received) = try await SQSTestEnvironment.sendAndReceive(provider, queue, count: 3)
            #expect(received.count == 3)
            // Two of them are acknowledged meanwhile (their jobs finished): extending all three must not throw.
            try await provider.acknowledge(Array(received.prefix(2)))
            try await provider.extendVisibility(received, by: .seconds(60))
            // A single stale receipt goes through ChangeMessageVisibility and is ignored too.
            try await provider.extendVisibility([received[0]], by: .seconds(60))
            let bogus = SQSTestEnvironment.messageWithBogusReceipt(in: queue)
            try await provider.extendVisibility([bogus, received[2]], by: .seconds(60))
            try await provider.acknowledge([received[2]])
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready + stats.inFlight == 0)
        }
    }

    @Test func releaseMakesMessagesAvailableAtOnce() async throws {
        // The default receive visibility (30 s) would keep them hidden for the whole test without the release.
        try await SQSTestEnvironment.withQueue("release") { provider, queue in
            let (sent, received) = try await SQSTestEnvironment.sendAndReceive(provider, queue, count: 12)
            #expect(received.count == 12)
            let releasing: any ReleasingQueueProvider = provider
            try await releasing.release(received)
            let back = try await SQSTestEnvironment.drain(provider, queue, count: 12)
            #expect(SQSTestEnvironment.ids(back) == Set(sent.map(\.envelope.id)))
            // SQS counts the release's receive: the next delivery is attempt 2.
            #expect(back.allSatisfy { $0.attempt == 2 })

            // One message (ChangeMessageVisibility), then stale receipts, which are ignored.
            let one = try #require(back.first)
            try await provider.release([one])
            let again = try await SQSTestEnvironment.drain(provider, queue, count: 1)
            #expect(SQSTestEnvironment.ids(again) == [try one.envelope.get().id])
            try await provider.acknowledge(again + back.dropFirst())
            try await provider.release(received)
            try await provider.release([one])
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready + stats.inFlight == 0)
        }
    }

    /// One visibility timeout, owned by the provider: with the queue's own 2 s (the provider configured with `nil`),
    /// a worker heartbeats a 5 s job by those 2 s, so another consumer never sees it while it runs. The worker used
    /// to assume 30 s of its own and heartbeat after 21 s: the message reappeared after 2 s and ran twice.
    @Test(.timeLimit(.minutes(1)))
    func workerHeartbeatsByTheQueuesOwnVisibilityTimeout() async throws {
        try await SQSTestEnvironment.withQueue(
            "one-visibility", options: QueueOptions(visibilityTimeout: .seconds(2)), configure: { $0.visibilityTimeout = nil }
        ) { provider, queue in
            #expect(try await provider.visibilityTimeout(of: queue) == .seconds(2))
            let runs = Mutex(0)
            var registry = TaskRegistry()
            try registry.register(SlowJob { runs.withLock { $0 += 1 } })
            let worker = Worker(
                provider: provider, registry: registry,
                // A free executor: a copy delivered again while the job runs would start at once (and count a second run).
                configuration: Worker.Configuration(queues: [queue], concurrency: 2, batchSize: 1, receiveWait: .seconds(1))
            )
            let stream = worker.events()
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                _ = try await ConveyorClient(provider: provider).enqueue(SlowJob.self, SlowJob.Input(), options: EnqueueOptions(queue: queue))
                var events = stream.makeAsyncIterator()
                while let event = await events.next(), event.kind != .started {}
                // A second consumer polls the queue for as long as the job runs.
                var seen = 0
                let until = ContinuousClock.now + .seconds(4)
                while ContinuousClock.now < until {
                    seen += try await provider.receive(from: queue, max: 10, wait: .seconds(1)).count
                }
                while let event = await events.next(), event.kind != .succeeded {}
                worker.triggerGracefulShutdown()
                try await group.waitForAll()
                #expect(seen == 0, "another consumer received the running job's message")
            }
            #expect(runs.withLock { $0 } == 1)
            // A redelivered copy would have gone to the worker's own buffer (it receives ahead while a job runs) and been
            // given back at shutdown: the queue must be empty.
            let left = try await provider.stats(of: queue)
            #expect(left.ready + left.inFlight == 0, "the message was delivered again while its job ran: \(left)")
        }
    }
}

/// A job that runs for 5 seconds.
private struct SlowJob: ConveyorTask {
    struct Input: Codable, Sendable {}
    static let name = "visibility.slow"
    static let options = TaskOptions(maxAttempts: 1, timeout: nil)
    let onRun: @Sendable () -> Void
    func run(_ input: Input, context: JobContext) async throws -> NoOutput {
        onRun()
        try await Task.sleep(for: .seconds(5))
        return NoOutput()
    }
}
