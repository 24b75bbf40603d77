import Conveyor
import ConveyorRabbitMQ
import Foundation
import Synchronization
import Testing

/// ``ReleasingQueueProvider`` on a real broker, inside the serialized broker suite.
extension RabbitMQIntegrationTests {

    /// A released delivery is requeued (not copied) and received again with the same envelope. On a classic
    /// queue it comes back `redelivered`, i.e. as attempt 2, and releasing it again keeps attempt 2; on a quorum
    /// queue every release adds one to `x-delivery-count`.
    @Test(arguments: ["classic", "quorum"])
    func release_requeuesWithTheDocumentedAttempt(_ type: String) async throws {
        try await withQueue("release-\(type)", configure: { if type == "quorum" { $0.queueType = .quorum } }) { provider, queue in
            let envelope = testEnvelope(1)
            try await provider.enqueue(OutgoingMessage(envelope: envelope), to: queue)
            let first = try #require(try await provider.receive(from: queue, count: 1).first)
            #expect(first.attempt == 1)
            try await provider.release([first])
            #expect(try await provider.stats(of: queue).inFlight == 0)

            let second = try #require(try await provider.receive(from: queue, count: 1).first)
            #expect(try second.envelope.get().id == envelope.id)
            #expect(try second.envelope.get().payload == envelope.payload)
            #expect(second.attempt == 2)
            try await provider.release([second])

            let third = try #require(try await provider.receive(from: queue, count: 1).first)
            #expect(try third.envelope.get().id == envelope.id)
            #expect(third.attempt == (type == "classic" ? 2 : 3))
            // A receipt already settled is ignored.
            try await provider.release([second])
            try await provider.acknowledge([third])
            try await provider.release([third])
            #expect(try await provider.receive(from: queue, max: 10, wait: .milliseconds(500)).isEmpty)
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready == 0)
            #expect(stats.inFlight == 0)
        }
    }

    /// A worker shutting down while one job runs gives back the messages it received but never started; a new
    /// worker on the same provider runs them. Without the release they would stay unacknowledged on the
    /// provider's connection and no other worker could receive them while it is open.
    @Test func release_workerShutdownGivesBackMessagesItNeverStarted() async throws {
        try await withQueue("release-worker") { provider, queue in
            let ids = try await provider.enqueue((0..<5).map { OutgoingMessage(envelope: testEnvelope($0, task: ReleaseProbeTask.name)) }, to: queue).map(\.jobID)
            let runs = ReleaseProbeRuns()
            let configuration = Worker.Configuration(queues: [queue], concurrency: 1, batchSize: 5, receiveWait: .seconds(1), shutdownGracePeriod: .seconds(60))

            // The first worker starts one job, which waits until the worker is asked to shut down.
            var registry = TaskRegistry()
            try registry.register(ReleaseProbeTask(worker: 1, runs: runs))
            let first = Worker(provider: provider, registry: registry, configuration: configuration)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await first.run() }
                let deadline = ContinuousClock.now + .seconds(30)
                while runs.started.withLock({ $0.isEmpty }), ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                }
                first.triggerGracefulShutdown()
                runs.shuttingDown.store(true, ordering: .releasing)
                try await group.waitForAll()
            }
            let firstRuns = runs.started.withLock { $0 }
            #expect(firstRuns.count == 1, "the first worker started \(firstRuns.count) jobs with concurrency 1")

            // A second worker on the same provider (same connection) receives the other four.
            var registry2 = TaskRegistry()
            try registry2.register(ReleaseProbeTask(worker: 2, runs: runs))
            let second = Worker(provider: provider, registry: registry2, configuration: configuration)
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await second.run() }
                let deadline = ContinuousClock.now + .seconds(30)
                while runs.started.withLock({ Set($0.map(\.id)).count < 5 }), ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(50))
                }
                second.triggerGracefulShutdown()
                try await group.waitForAll()
            }
            let all = runs.started.withLock { $0 }
            #expect(Set(all.map(\.id)) == Set(ids))
            #expect(all.count == 5, "jobs ran more than once: \(all)")
            let secondRuns = all.filter { $0.worker == 2 }
            #expect(secondRuns.count == 4)
            for run in secondRuns {
                // Attempt 1 if it was still in the prefetch buffer, 2 if the first worker released it.
                #expect(run.attempt <= 2)
            }
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready == 0)
            #expect(stats.inFlight == 0)
        }
    }
}

/// What ``ReleaseProbeTask`` saw.
final class ReleaseProbeRuns: Sendable {
    struct Run: Sendable, CustomStringConvertible {
        var id: JobID
        var worker: Int
        var attempt: Int
        var description: String { "\(id) worker \(worker) attempt \(attempt)" }
    }

    let started = Mutex<[Run]>([])
    /// Set once the first worker was asked to shut down: its running job may finish.
    let shuttingDown = Atomic<Bool>(false)
}

/// Records its runs; worker 1's job waits until that worker shuts down.
struct ReleaseProbeTask: ConveyorTask {
    typealias Input = [String: Int]
    static let name = "test.release-probe"
    static var options: TaskOptions { TaskOptions(maxAttempts: 5, timeout: nil) }
    let worker: Int
    let runs: ReleaseProbeRuns

    func run(_ input: [String: Int], context: JobContext) async throws -> NoOutput {
        runs.started.withLock { $0.append(.init(id: context.envelope.id, worker: worker, attempt: context.attempt)) }
        if worker == 1 {
            while !runs.shuttingDown.load(ordering: .acquiring) {
                try await Task.sleep(for: .milliseconds(20))
            }
        }
        return NoOutput()
    }
}
