import Conveyor
import ConveyorSQS
import Foundation
import Logging
import Synchronization
import Testing

/// Results on SQS where the broker's limits show: an output over SQS's message size fails the awaiting handle with
/// `result_too_large`, and the job is acknowledged (not retried for it).
@Suite("SQS results on LocalStack", .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT: eval \"$(scripts/sqs-test-env.sh)\" starts LocalStack and prints the exports"), .serialized)
struct SQSResultTests {
    /// Returns `bytes` bytes of output; counts its runs.
    struct BigOutput: ConveyorTask {
        struct Input: Codable, Sendable { var bytes: Int }
        static let name = "test.big-output"
        static var options: TaskOptions { TaskOptions(maxAttempts: 3, backoff: .immediate) }
        let runs: RunCounter
        func run(_ input: Input, context: JobContext) async throws -> String {
            runs.add()
            return String(repeating: "x", count: input.bytes)
        }
    }

    final class RunCounter: Sendable {
        private let count = Mutex(0)
        func add() { count.withLock { $0 += 1 } }
        var value: Int { count.withLock { $0 } }
    }

    @Test func anOutputOverTheSizeLimitFailsTheHandleAndTheJobIsNotRetried() async throws {
        try await SQSTestEnvironment.withQueue("big-result") { provider, queue in
            let runs = RunCounter()
            let worker = Worker(
                provider: provider, registry: try TaskRegistry([BigOutput(runs: runs)]),
                configuration: Worker.Configuration(queues: [queue], concurrency: 2, receiveWait: .seconds(1))
            )
            let running = Task { try await worker.run() }
            let client = ConveyorClient(provider: provider)
            do {
                let small = try await client.enqueue(BigOutput.self, .init(bytes: 10), options: .init(queue: queue), tracking: .result)
                #expect(try await small.result(timeout: .seconds(30)) == String(repeating: "x", count: 10))
                let big = try await client.enqueue(BigOutput.self, .init(bytes: 1_100_000), options: .init(queue: queue), tracking: .result)
                do {
                    _ = try await big.result(timeout: .seconds(30))
                    Issue.record("an output over the reply queue's size limit came back")
                } catch let failure as JobFailure {
                    #expect(failure.kind == .failed)
                    #expect(failure.reason.code == "result_too_large")
                    #expect(failure.reason.message.contains("1100"), "\(failure.reason.message)")
                    #expect(failure.attempts == 1)
                }
                try await Task.sleep(for: .seconds(2))
                #expect(runs.value == 2, "the job ran \(runs.value - 1) times; a result too large must not retry it")
                let stats = try await provider.stats(of: queue)
                #expect(stats.ready == 0 && stats.inFlight == 0 && stats.deadLettered == 0, "\(stats)")
            } catch {
                worker.triggerGracefulShutdown()
                _ = await running.result
                await client.results.close()
                throw error
            }
            worker.triggerGracefulShutdown()
            try await running.value
            await client.results.close()
        }
    }

    /// Reports progress once and returns its input.
    struct Stepper: ConveyorTask {
        static let name = "test.stepper"
        func run(_ input: Int, context: JobContext) async throws -> Int {
            context.progress(0.5, "half")
            return input
        }
    }

    /// The request log (trace level) of a run with a tracked job, its events and an observer holds no short poll:
    /// the reply queue, the observer's subscription and the worker all long-poll.
    @Test func resultsEventsAndObserversNeverShortPoll() async throws {
        let logs = CapturedLogs()
        var logger = logs.logger(label: "conveyor.sqs.request-log")
        logger.logLevel = .trace
        let provider = try SQSQueueProvider(configuration: SQSTestEnvironment.configuration(), logger: logger)
        let queue = SQSTestEnvironment.uniqueName("no-short-poll")
        try await provider.createQueue(queue, options: QueueOptions())
        let subscription = try await QueueObserver(provider: provider, queue: queue).subscribe()
        let worker = Worker(
            provider: provider, registry: try TaskRegistry([Stepper()]),
            configuration: Worker.Configuration(queues: [queue], concurrency: 2, receiveWait: .seconds(1))
        )
        let running = Task { try await worker.run() }
        let client = ConveyorClient(provider: provider)
        var failure: (any Error)?
        do {
            let job = try await client.enqueue(Stepper.self, 7, options: .init(queue: queue), tracking: .events)
            var kinds: [JobEvent.Kind] = []
            for await event in job.events { kinds.append(event.kind) }
            #expect(kinds.contains(.progress) && kinds.last == .succeeded, "\(kinds)")
            #expect(try await job.result(timeout: .seconds(30)) == 7)
            var observed = false
            for try await event in subscription.events where event.jobID == job.id && event.kind == .succeeded {
                observed = true
                break
            }
            #expect(observed)
        } catch {
            failure = error
        }
        worker.triggerGracefulShutdown()
        _ = await running.result
        await subscription.close()
        await client.results.close()
        try? await provider.deleteQueue(queue)
        try? await provider.close()
        if let failure { throw failure }

        let receives = logs.entries.filter { $0.message == "SQS request" && $0.metadata["sqs.action"] == "ReceiveMessage" }
        let queues = Set(receives.compactMap { $0.metadata["sqs.queue_url"] })
        // The work queue, the reply queue and the observer's subscription queue.
        #expect(queues.count >= 3, "ReceiveMessage went to \(queues.sorted())")
        let shortPolls = receives.filter { Int($0.metadata["sqs.wait_seconds"] ?? "") ?? 0 < 1 }
        #expect(shortPolls.isEmpty, "short polls: \(shortPolls.map(\.metadata))")
    }
}
