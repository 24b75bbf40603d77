import Conveyor
@testable import ConveyorSQS
import Foundation
import Synchronization
import Testing

/// Global limits on SQS queues that the conformance suite does not cover.
@Suite(
    "SQS flow limits on LocalStack",
    .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT: eval \"$(scripts/sqs-test-env.sh)\" starts LocalStack and prints the exports"),
    .timeLimit(.minutes(3))
)
struct SQSFlowLimitTests {
    struct Input: Codable, Sendable {
        var index: Int
        var key: String
    }

    /// One job at a time per key, one attempt.
    struct OneAtATime: ConveyorTask {
        static let name = "sqs-tests.one-at-a-time"
        static var options: TaskOptions { TaskOptions(maxAttempts: 1, globalConcurrency: 1) }
        static func limitKey(for input: Input) -> String? { input.key }
        let runs: Runs
        func run(_ input: Input, context: JobContext) async throws {
            runs.add(input.index, attempt: context.attempt)
            try await Task.sleep(for: .milliseconds(300))
        }
    }

    final class Runs: Sendable {
        private let state = Mutex<[(index: Int, attempt: Int)]>([])
        func add(_ index: Int, attempt: Int) { state.withLock { $0.append((index, attempt)) } }
        var all: [(index: Int, attempt: Int)] { state.withLock { $0 } }
    }

    /// A FIFO job queue has no per-message delay, so a job sent back for its limit goes back at once under a
    /// deduplication key of its own: every job runs once at attempt 1 and none is dead-lettered (sent back with a
    /// delay, the copy was refused and the job failed instead, which counted an attempt and dead-lettered it).
    @Test func jobsOfAFIFOQueueWaitingForAPermitKeepTheirAttempt() async throws {
        try await SQSTestEnvironment.withQueue("flow-fifo", fifo: true) { provider, queue in
            let key = queue
            let runs = Runs()
            let client = ConveyorClient(provider: provider)
            let worker = Worker(
                provider: provider, registry: try TaskRegistry([OneAtATime(runs: runs)]),
                configuration: Worker.Configuration(queues: [queue], concurrency: 4, receiveWait: .seconds(1), shutdownGracePeriod: .seconds(5))
            )
            let running = Task { try await worker.run() }
            // Four groups, so that the FIFO queue hands out four jobs at once and three of them wait for the permit.
            for index in 0..<4 {
                try await client.enqueue(OneAtATime.self, Input(index: index, key: key), options: .init(queue: queue, groupID: "g\(index)"))
            }
            let deadline = ContinuousClock.now + .seconds(90)
            while runs.all.count < 4, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(100)) }
            worker.triggerGracefulShutdown()
            try await running.value
            try? await client.removeLimits(for: OneAtATime.name, key: key)
            #expect(runs.all.map(\.index).sorted() == [0, 1, 2, 3], "\(runs.all)")
            #expect(runs.all.allSatisfy { $0.attempt == 1 }, "\(runs.all)")
            #expect(try await provider.stats(of: queue).deadLettered == 0)
        }
    }
}
