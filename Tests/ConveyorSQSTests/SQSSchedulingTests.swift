import Conveyor
import ConveyorSQS
import ConveyorTesting
import Foundation
import Synchronization
import Testing

/// What the hop test's handler saw.
private struct HopRun: Sendable {
    var at: Date
    var attempt: Int
    var hops: Int
}

private final class HopTaskBox: Sendable {
    let runs = Mutex<[HopRun]>([])
}

@Suite("SQS scheduling", .serialized, .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT (see scripts/sqs-test-env.sh)"))
struct SQSSchedulingTests {
    /// A "long" delay (12 s, standing in for hours) with a 3-s hop size reaches the handler once, after at least
    /// one hop (three when the broker delivers on time), never before it is due.
    @Test func longDelayHopsUntilDueAndRunsOnce() async throws {
        var configuration = try SQSTestEnvironment.configuration()
        configuration.maximumHopDelay = .seconds(3)
        let provider = try SQSQueueProvider(configuration: configuration)
        #expect(provider.capabilities.maximumNativeDelay == .seconds(3))
        let queue = SQSTestEnvironment.uniqueName("hops")
        try await provider.createQueue(queue, options: QueueOptions())
        let box = HopTaskBox()
        var registry = TaskRegistry()
        try registry.register(HopTaskRunner(box: box))
        let worker = Worker(provider: provider, registry: registry, configuration: Worker.Configuration(queues: [queue], concurrency: 2, receiveWait: .seconds(1)))
        let client = ConveyorClient(provider: provider)
        let sentAt = Date()
        let handle = try await client.enqueueRaw(task: "test.hop", payload: Array(#"{"n":1}"#.utf8), options: EnqueueOptions(delay: .seconds(12), queue: queue))
        #expect(!handle.deduplicated)
        do {
            try await withThrowingTaskGroup(of: Void.self) { group in
                group.addTask { try await worker.run() }
                let deadline = ContinuousClock.now + .seconds(60)
                while box.runs.withLock({ $0.isEmpty }), ContinuousClock.now < deadline {
                    try await Task.sleep(for: .milliseconds(200))
                }
                // Give a duplicate run the chance to show up.
                try await Task.sleep(for: .seconds(4))
                worker.triggerGracefulShutdown()
                try await group.waitForAll()
            }
        } catch {
            try? await provider.deleteQueue(queue)
            try? await provider.close()
            throw error
        }
        let runs = box.runs.withLock { $0 }
        try await provider.deleteQueue(queue)
        try await provider.close()
        #expect(runs.count == 1)
        let run = try #require(runs.first, "the delayed job never ran")
        #expect(run.at >= sentAt.addingTimeInterval(12), "ran early: \(run.at.timeIntervalSince(sentAt)) s after enqueue")
        // Three hops when every delivery is on time; each late delivery (a loaded machine) leaves less to wait, so
        // fewer hops. What holds whatever the timing: the job was sent on at least once and never ran early.
        #expect(run.hops >= 1, "expected the first send plus at least one hop, saw \(run.hops) hops")
        #expect(run.attempt == 1)
    }

    /// Two scheduler instances (separate providers, as two processes would have) fire each slot once.
    @Test func twoSchedulersFireEachSlotOnce() async throws {
        let first = try SQSTestEnvironment.makeProvider()
        let second = try SQSTestEnvironment.makeProvider()
        let deliveries = try await ScheduleScenario.twoInstances(
            first: first, second: second, prefix: SQSTestEnvironment.uniqueName("cron"), slots: 3, deadline: .seconds(90), settle: .seconds(5)
        )
        try await first.close()
        try await second.close()
        let counts = Dictionary(grouping: deliveries, by: \.slot).mapValues(\.count)
        #expect(counts.count >= 3)
        #expect(counts.values.allSatisfy { $0 == 1 }, "slots fired more than once: \(counts.filter { $0.value > 1 })")
        for delivery in deliveries {
            #expect(delivery.receivedAt >= delivery.slot, "job of \(delivery.slot) arrived early")
        }
    }

    /// The registry lists, replaces and removes schedules on SQS.
    @Test func registryListsReplacesAndRemoves() async throws {
        let provider = try SQSTestEnvironment.makeProvider()
        let base = SQSTestEnvironment.uniqueName("reg")
        let scheduler = JobScheduler(
            provider: provider,
            configuration: JobScheduler.Configuration(timerQueue: base, claimQueue: "\(base)-claims.fifo", registryQueue: "\(base)-registry")
        )
        let v1 = try ScheduledJob(id: "nightly", schedule: Schedule(parsing: "0 3 * * *", timeZone: "Europe/Berlin"), task: "t", payload: Array(#"{"v":1}"#.utf8))
        let v2 = try ScheduledJob(id: "nightly", schedule: Schedule(parsing: "0 4 * * *", timeZone: "Europe/Berlin"), task: "t", payload: Array(#"{"v":2}"#.utf8))
        do {
            try await scheduler.register(v1)
            try await scheduler.register(v1)
            #expect(try await scheduler.registeredJobs() == [v1])
            try await scheduler.register(v2)
            #expect(try await scheduler.registeredJobs() == [v2])
            #expect(try await scheduler.remove("nightly"))
            #expect(try await scheduler.registeredJobs().isEmpty)
        } catch {
            for queue in [base, "\(base)-claims.fifo", "\(base)-registry"] { try? await provider.deleteQueue(queue) }
            try? await provider.close()
            throw error
        }
        for queue in [base, "\(base)-claims.fifo", "\(base)-registry"] { try await provider.deleteQueue(queue) }
        try await provider.close()
    }
}

/// Registers ``HopTask`` with a shared box.
private struct HopTaskRunner: ConveyorTask {
    typealias Input = [String: Int]
    static let name = "test.hop"
    let box: HopTaskBox

    func run(_ input: [String: Int], context: JobContext) async throws -> NoOutput {
        let hops = context.envelope.headers[Envelope.HeaderKey.hops].flatMap(Int.init) ?? 0
        box.runs.withLock { $0.append(HopRun(at: Date(), attempt: context.attempt, hops: hops)) }
        return NoOutput()
    }
}
