import Conveyor
import ConveyorTesting
import Foundation
import Synchronization
import Testing

/// A clock the test can move forward.
private final class ShiftedClock: Sendable {
    let offset = Mutex<TimeInterval>(0)
    func now() -> Date { Date().addingTimeInterval(offset.withLock { $0 }) }
    func advance(_ seconds: TimeInterval) { offset.withLock { $0 += seconds } }
}

private func tick(_ id: String, queue: String, payload: String = "{}", policy: MissedSlotPolicy = .skip, schedule: String = "*/2 * * * * *") throws -> ScheduledJob {
    try ScheduledJob(id: id, schedule: Schedule(parsing: schedule), task: "test.tick", payload: Array(payload.utf8), queue: queue, missedSlotPolicy: policy)
}

private func configuration(_ prefix: String, clock: ShiftedClock? = nil, grace: Duration = .seconds(30)) -> JobScheduler.Configuration {
    let shifted = clock ?? ShiftedClock()
    return JobScheduler.Configuration(
        timerQueue: "\(prefix)-timers", claimQueue: "\(prefix)-claims", registryQueue: "\(prefix)-registry",
        grace: grace, receiveWait: .milliseconds(500), now: { shifted.now() }
    )
}

/// Runs `scheduler` while `body` runs, then cancels it.
private func whileRunning<T: Sendable>(_ schedulers: [JobScheduler], _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    try await withThrowingTaskGroup(of: T?.self) { group in
        for scheduler in schedulers {
            group.addTask {
                do { try await scheduler.run() } catch is CancellationError {}
                return nil
            }
        }
        group.addTask { try await body() }
        var result: T?
        while let next = try await group.next() {
            if let next {
                result = next
                group.cancelAll()
            }
        }
        return result!
    }
}

/// Receives scheduled jobs from `queue` until `count` arrived or `timeout` passed.
private func jobs(_ provider: any QueueProvider, _ queue: String, count: Int, timeout: Duration = .seconds(30)) async throws -> [Envelope] {
    var out: [Envelope] = []
    let end = ContinuousClock.now + timeout
    while out.count < count, ContinuousClock.now < end {
        let batch = try await provider.receive(from: queue, max: 10, wait: .milliseconds(500))
        out += batch.compactMap { try? $0.envelope.get() }
        if !batch.isEmpty { try await provider.acknowledge(batch) }
    }
    return out
}

private func slot(_ envelope: Envelope) -> Date? {
    envelope.headers[JobScheduler.slotHeader].flatMap(RFC3339.parse)
}

@Suite("Job scheduler on memory")
struct JobSchedulerTests {
    @Test func twoInstancesFireExactlyOncePerSlot() async throws {
        let provider = MemoryQueueProvider()
        let deliveries = try await ScheduleScenario.twoInstances(first: provider, second: provider, prefix: "two", slots: 3, settle: .seconds(3))
        let counts = Dictionary(grouping: deliveries, by: \.slot).mapValues(\.count)
        #expect(counts.count >= 3)
        #expect(counts.values.allSatisfy { $0 == 1 }, "slots fired more than once: \(counts.filter { $0.value > 1 })")
        for delivery in deliveries {
            #expect(delivery.receivedAt >= delivery.slot, "job of \(delivery.slot) arrived early at \(delivery.receivedAt)")
        }
    }

    @Test func registeringTheSameScheduleAgainIsIdempotent() async throws {
        let provider = MemoryQueueProvider()
        let job = try tick("same", queue: "same-jobs")
        let scheduler = JobScheduler(provider: provider, configuration: configuration("same"))
        try await scheduler.register(job)
        try await scheduler.register(job)
        try await scheduler.register(job)
        let registered = try await scheduler.registeredJobs()
        #expect(registered == [job])
        let received = try await whileRunning([scheduler]) { try await jobs(provider, "same-jobs", count: 3) }
        // Three jobs must arrive: three distinct slots, not one slot three times.
        #expect(received.count >= 3, "only \(received.count) scheduled jobs arrived within 30 s")
        let slots = received.compactMap(slot)
        #expect(slots.count == received.count)
        #expect(Set(slots).count == slots.count, "a slot ran twice: \(slots)")
    }

    @Test func changingAScheduleReplacesIt() async throws {
        let provider = MemoryQueueProvider()
        let old = try tick("change", queue: "change-jobs", payload: #"{"v":1}"#)
        let new = try tick("change", queue: "change-jobs", payload: #"{"v":2}"#)
        #expect(old.version != new.version)
        let first = JobScheduler(provider: provider, configuration: configuration("change"))
        try await first.register(old)
        let second = JobScheduler(provider: provider, jobs: [new], configuration: configuration("change"))
        try await first.register(new)
        let registered = try await first.registeredJobs()
        #expect(registered == [new])
        let received = try await whileRunning([first, second]) { try await jobs(provider, "change-jobs", count: 3) }
        #expect(received.count >= 3)
        #expect(received.allSatisfy { $0.payload == Array(#"{"v":2}"#.utf8) }, "an outdated definition ran")
        let slots = received.compactMap(slot)
        #expect(Set(slots).count == slots.count)
    }

    @Test func removedSchedulesStopFiringOnInstancesThatDoNotOwnThem() async throws {
        let provider = MemoryQueueProvider()
        let job = try tick("gone", queue: "gone-jobs")
        let admin = JobScheduler(provider: provider, configuration: configuration("gone"))
        try await admin.register(job)
        #expect(try await admin.remove("gone"))
        #expect(try await admin.registeredJobs().isEmpty)
        #expect(try await admin.remove("gone") == false)
        // A scheduler that does not own the schedule processes the pending firing and drops it.
        let runner = JobScheduler(provider: provider, configuration: configuration("gone"))
        let received = try await whileRunning([runner]) { try await jobs(provider, "gone-jobs", count: 1, timeout: .seconds(5)) }
        #expect(received.isEmpty)
        // The runner did process the firing (it is not waiting anywhere), rather than not running at all.
        for queue in ["gone-timers", "gone-claims"] {
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready == 0 && stats.inFlight == 0 && stats.delayed == 0, "\(queue) still holds \(stats)")
        }
    }

    @Test(arguments: [MissedSlotPolicy.skip, .runOnce])
    func missedSlotsFollowThePolicy(_ policy: MissedSlotPolicy) async throws {
        let provider = MemoryQueueProvider()
        let clock = ShiftedClock()
        let prefix = "missed-\(policy)"
        let job = try tick(prefix, queue: "\(prefix)-jobs", policy: policy)
        let scheduler = JobScheduler(provider: provider, configuration: configuration(prefix, clock: clock, grace: .seconds(5)))
        try await scheduler.register(job)
        let missed = try #require(job.schedule.nextFireDate(after: clock.now()))
        // The scheduler is "down" for two minutes: when the firing is processed, its slot is long past.
        clock.advance(120)
        let received = try await whileRunning([scheduler]) { try await jobs(provider, "\(prefix)-jobs", count: 3) }
        let slots = received.compactMap(slot)
        #expect(slots.count >= 3)
        if policy == .skip {
            #expect(!slots.contains(missed))
            #expect(slots.allSatisfy { $0 > missed.addingTimeInterval(100) })
        } else {
            #expect(slots.filter { $0 == missed }.count == 1, "the missed slot did not run once: \(slots)")
            #expect(slots.filter { $0 != missed }.allSatisfy { $0 > missed.addingTimeInterval(100) }, "missed slots in between ran: \(slots)")
        }
    }

    /// The receive waits far longer than the time limit: a late timer (a busy machine) still delivers the kept job,
    /// and a job that never comes fails the test at the limit instead of when a short wait runs out.
    @Test(.timeLimit(.minutes(1)))
    func delayedJobsCanBeCancelledOnMemory() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider)
        let cancelled = try await client.enqueueRaw(task: "t", payload: Array("{}".utf8), options: EnqueueOptions(delay: .seconds(1), queue: "cancel"))
        let kept = try await client.enqueueRaw(task: "t", payload: Array("{}".utf8), options: EnqueueOptions(delay: .seconds(1), queue: "cancel"))
        let cancelling: any DelayedJobCancellingProvider = provider
        #expect(try await cancelling.cancelDelayed(cancelled.jobID, in: "cancel"))
        #expect(try await cancelling.cancelDelayed(cancelled.jobID, in: "cancel") == false)
        let received = try await provider.receive(from: "cancel", max: 10, wait: .seconds(600))
        #expect(received.compactMap { try? $0.envelope.get().id } == [kept.jobID])
        #expect(try await cancelling.cancelDelayed(kept.jobID, in: "cancel") == false)
    }

    @Test func definitionsRoundTripThroughTheirWireForm() throws {
        let job = try ScheduledJob(
            id: "report", schedule: Schedule(parsing: "0 30 9 * * MON-FRI", timeZone: "Europe/Berlin"), task: "reports.daily",
            payload: Array(#"{"to":"ops"}"#.utf8), queue: "reports", missedSlotPolicy: .runOnce)
        #expect(job.scheduleText == "0 30 9 * * MON-FRI")
        let interval = try ScheduledJob(id: "i", schedule: Schedule(parsing: "every 1h30m"), task: "t")
        #expect(interval.scheduleText == "every 1h30m")
        #expect(try ScheduledJob(id: "i", schedule: Schedule(parsing: interval.scheduleText), task: "t") == interval)
        #expect(throws: ConveyorError.self) { try ScheduledJob(id: "", schedule: .every(.seconds(5)), task: "t") }
        #expect(throws: ConveyorError.self) { try ScheduledJob(id: "x", schedule: .every(.seconds(5)), task: "t", payload: Array("{".utf8)) }
    }
}
