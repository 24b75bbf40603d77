import Conveyor
import Foundation

/// A provider-independent scenario for ``JobScheduler``: two scheduler instances run the same cron schedule and
/// every job they produce is collected, so a test can check "exactly one job per slot, never early".
public enum ScheduleScenario {
    /// One job produced by the scheduler, as a consumer received it.
    public struct Delivery: Sendable {
        /// The slot, from the job's ``JobScheduler/slotHeader``.
        public var slot: Date
        /// When the consumer received it (local clock).
        public var receivedAt: Date
    }

    /// Runs two ``JobScheduler`` instances (on `first` and `second`, which may be the same provider) with one
    /// schedule (`*/2 * * * * *` by default) until jobs of `slots` distinct slots arrived (or `deadline` passed),
    /// then keeps receiving for `settle` to catch late duplicates, and returns every job received.
    ///
    /// Queues are named from `prefix`; on providers that can provision queues they are created first and deleted
    /// afterwards. The claim queue is the provider's deduplicating queue for `<prefix>-claims` (`<prefix>-claims.fifo` on SQS);
    /// `configure` adjusts the rest.
    public static func twoInstances(
        first: any QueueProvider,
        second: any QueueProvider,
        prefix: String,
        schedule: String = "*/2 * * * * *",
        slots: Int = 3,
        deadline: Duration = .seconds(90),
        settle: Duration = .seconds(5),
        configure: (inout JobScheduler.Configuration) -> Void = { _ in }
    ) async throws -> [Delivery] {
        let jobQueue = "\(prefix)-jobs"
        var configuration = JobScheduler.Configuration(
            timerQueue: "\(prefix)-timers",
            claimQueue: "\(prefix)-claims",
            registryQueue: "\(prefix)-registry",
            grace: .seconds(30),
            receiveWait: .seconds(1)
        )
        configure(&configuration)
        let job = try ScheduledJob(id: "\(prefix)-tick", schedule: Schedule(parsing: schedule), task: "test.tick", payload: Array(#"{"tick":true}"#.utf8), queue: jobQueue)
        if let provisioning = first.provisioning {
            try await provisioning.createQueue(jobQueue, options: QueueOptions())
        }
        let schedulers = [
            JobScheduler(provider: first, jobs: [job], configuration: configuration),
            JobScheduler(provider: second, jobs: [job], configuration: configuration),
        ]
        var deliveries: [Delivery] = []
        do {
            deliveries = try await withThrowingTaskGroup(of: [Delivery]?.self) { group in
                for scheduler in schedulers {
                    group.addTask {
                        do {
                            try await scheduler.run()
                        } catch is CancellationError {}
                        return nil
                    }
                }
                group.addTask {
                    try await collect(from: first, queue: jobQueue, slots: slots, deadline: deadline, settle: settle)
                }
                var result: [Delivery] = []
                while let next = try await group.next() {
                    if let next {
                        result = next
                        group.cancelAll()
                    }
                }
                return result
            }
        } catch {
            await cleanUp(first, [jobQueue, configuration.timerQueue, first.deduplicatingQueueName(configuration.claimQueue), configuration.registryQueue])
            throw error
        }
        await cleanUp(first, [jobQueue, configuration.timerQueue, first.deduplicatingQueueName(configuration.claimQueue), configuration.registryQueue])
        return deliveries
    }

    private static func collect(from provider: any QueueProvider, queue: String, slots: Int, deadline: Duration, settle: Duration) async throws -> [Delivery] {
        var deliveries: [Delivery] = []
        let end = ContinuousClock.now + deadline
        var settleEnd: ContinuousClock.Instant?
        while ContinuousClock.now < (settleEnd ?? end) {
            let batch = try await provider.receive(from: queue, max: 10, wait: .seconds(1))
            let now = Date()
            for message in batch {
                if let envelope = try? message.envelope.get(), let text = envelope.headers[JobScheduler.slotHeader], let slot = RFC3339.parse(text) {
                    deliveries.append(Delivery(slot: slot, receivedAt: now))
                }
            }
            if !batch.isEmpty { try await provider.acknowledge(batch) }
            if settleEnd == nil, Set(deliveries.map(\.slot)).count >= slots {
                settleEnd = ContinuousClock.now + settle
            }
        }
        return deliveries
    }

    private static func cleanUp(_ provider: any QueueProvider, _ queues: [String]) async {
        guard let provisioning = provider.provisioning else { return }
        for queue in queues {
            try? await provisioning.deleteQueue(queue)
        }
    }
}
