import Conveyor
import ConveyorRabbitMQ
import ConveyorTesting
import Foundation
import Testing

/// Delays, deduplication locks and the scheduler on a real broker, inside the serialized broker suite: the delay
/// levels are shared by the vhost and other tests count them.
extension RabbitMQIntegrationTests {

    /// Jobs delayed 5 s, 3 s and 1 s through the client, enqueued in that order, arrive in due order and none early.
    @Test func scheduling_clientDelaysArriveInDueOrderAndNeverEarly() async throws {
        try await withQueue("sched-delay") { provider, queue in
            let client = ConveyorClient(provider: provider)
            var sentAt: [Int: Date] = [:]
            for seconds in [5, 3, 1] {
                sentAt[seconds] = Date()
                try await client.enqueueRaw(task: "test.delay", payload: Array(#"{"n":\#(seconds)}"#.utf8), options: EnqueueOptions(delay: .seconds(seconds), queue: queue))
            }
            var order: [Int] = []
            let deadline = ContinuousClock.now + .seconds(30)
            while order.count < 3, ContinuousClock.now < deadline {
                for message in try await provider.receive(from: queue, max: 10, wait: .seconds(1)) {
                    let now = Date()
                    let n = Int(String(decoding: try message.envelope.get().payload, as: UTF8.self).filter(\.isNumber))!
                    order.append(n)
                    #expect(now >= sentAt[n]!.addingTimeInterval(Double(n)), "the \(n)-s job arrived early")
                    try await provider.acknowledge(message)
                }
            }
            #expect(order == [1, 3, 5])
        }
    }

    /// A deduplication key is claimed across connections: the second publish of the same key is dropped.
    @Test func scheduling_deduplicationKeysHoldAcrossConnections() async throws {
        let first = try Env.provider()
        let second = try Env.provider()
        let queue = Env.queueName("sched-dedup")
        let key = "slot-\(UUID().uuidString)"
        do {
            let a = try await first.enqueue(OutgoingMessage(envelope: Envelope(task: "t", payload: Array("{}".utf8), deduplicationKey: key)), to: queue)
            let b = try await second.enqueue(OutgoingMessage(envelope: Envelope(task: "t", payload: Array("{}".utf8), deduplicationKey: key)), to: queue)
            let c = try await second.enqueue(OutgoingMessage(envelope: Envelope(task: "t", payload: Array("{}".utf8), deduplicationKey: key + "-other")), to: queue)
            #expect(!a.deduplicated)
            #expect(b.deduplicated)
            #expect(!c.deduplicated)
            let received = try await first.receive(from: queue, count: 2, timeout: .seconds(10))
            #expect(received.count == 2)
            try await first.acknowledge(received)
            #expect(try await first.receive(from: queue, max: 10, wait: .seconds(1)).isEmpty)
        } catch {
            try? await first.deleteQueue(queue)
            try? await first.close()
            try? await second.close()
            throw error
        }
        try await first.deleteQueue(queue)
        try await first.close()
        try await second.close()
    }

    /// Two scheduler instances on separate connections fire each slot of a 2-s cron schedule once.
    @Test func scheduling_twoSchedulersFireEachSlotOnce() async throws {
        let first = try Env.provider()
        let second = try Env.provider()
        let deliveries = try await ScheduleScenario.twoInstances(
            first: first, second: second, prefix: Env.queueName("sched-cron"), slots: 3, deadline: .seconds(60), settle: .seconds(5)
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

    /// The registry lists, replaces and removes schedules, read through short-lived connections while a scheduler's
    /// own connection stays open.
    @Test func scheduling_registryListsReplacesAndRemoves() async throws {
        let provider = try Env.provider()
        let base = Env.queueName("sched-reg")
        let queues = [base, "\(base)-claims.fifo", "\(base)-registry"]
        let configuration = JobScheduler.Configuration(
            timerQueue: base, claimQueue: "\(base)-claims.fifo", registryQueue: "\(base)-registry"
        )
        let scheduler = JobScheduler(provider: provider, configuration: configuration)
        let other = JobScheduler(provider: provider, configuration: configuration)
        // Short schedules: firings wait in the vhost-wide delay levels, which must be empty again soon (other
        // tests count them).
        let v1 = try ScheduledJob(id: "nightly", schedule: Schedule(parsing: "*/2 * * * * *", timeZone: "Europe/Berlin"), task: "t", payload: Array(#"{"v":1}"#.utf8))
        let v2 = try ScheduledJob(id: "nightly", schedule: Schedule(parsing: "*/3 * * * * *", timeZone: "Europe/Berlin"), task: "t", payload: Array(#"{"v":2}"#.utf8))
        do {
            try await scheduler.register(v1)
            try await scheduler.register(v1)
            #expect(try await other.registeredJobs() == [v1])
            try await scheduler.register(v2)
            #expect(try await other.registeredJobs() == [v2])
            #expect(try await other.remove("nightly"))
            #expect(try await scheduler.registeredJobs().isEmpty)
        } catch {
            for queue in queues { try? await provider.deleteQueue(queue) }
            try? await provider.close()
            throw error
        }
        for queue in queues { try await provider.deleteQueue(queue) }
        try await provider.close()
    }

    /// A scheduler that has read the registry does not keep its definitions buffered on its own connection: another
    /// process's scheduler (another provider) still lists them. The RabbitMQ provider opens a session per registry
    /// access (`SessionOpeningProvider`); reading on the scheduler's own push consumer would hide them.
    @Test func scheduling_registryReadsLeaveNothingBufferedOnTheSchedulersConnection() async throws {
        let mine = try Env.provider()
        let theirs = try Env.provider()
        let base = Env.queueName("sched-sess")
        let queues = [base, "\(base)-claims", "\(base)-registry"]
        let configuration = JobScheduler.Configuration(timerQueue: base, claimQueue: "\(base)-claims", registryQueue: "\(base)-registry")
        // A short schedule: its firing waits in the vhost-wide delay levels, which must be empty again soon.
        let job = try ScheduledJob(id: "often", schedule: Schedule(parsing: "*/2 * * * * *"), task: "t", payload: Array(#"{}"#.utf8))
        do {
            let scheduler = JobScheduler(provider: mine, configuration: configuration)
            try await scheduler.register(job)
            #expect(try await scheduler.registeredJobs() == [job])
            // Another process: its own connection.
            #expect(try await JobScheduler(provider: theirs, configuration: configuration).registeredJobs() == [job])
        } catch {
            for queue in queues { try? await mine.deleteQueue(queue) }
            try? await mine.close()
            try? await theirs.close()
            throw error
        }
        for queue in queues { try await mine.deleteQueue(queue) }
        try await mine.close()
        try await theirs.close()
    }
}
