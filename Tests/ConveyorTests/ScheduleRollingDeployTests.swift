import Clocks
import Conveyor
import Foundation
import Synchronization
import Testing

/// A rolling deploy runs two versions of one schedule side by side: the schedule must neither stop nor fire a slot
/// twice. Before the fix, a claim carried its version in its deduplication key, so both versions claimed (and ran)
/// each slot, and an instance dropped the other version's claims without sending the next firing: the chain ended
/// as soon as an instance processed a claim of the other version.
@Suite("Schedules across a rolling deploy", .timeLimit(.minutes(1)))
struct ScheduleRollingDeployTests {
    static let claims = "rolling-claims"
    static let jobs = "rolling-jobs"

    /// One instance's view of a shared memory broker. While `claimsHeld` is set, the instance receives no claims
    /// (another instance processes them all), which makes the interleaving of a deploy deterministic. It counts
    /// the job sends per slot (whether or not the broker deduplicated them).
    final class InstanceView: QueueProvider {
        let base: MemoryQueueProvider
        let clock: TestClock<Duration>
        let claimsHeld: Atomic<Bool>
        let jobSends: Mutex<[String: Int]>

        init(_ base: MemoryQueueProvider, clock: TestClock<Duration>, claimsHeld: Bool) {
            self.base = base
            self.clock = clock
            self.claimsHeld = Atomic(claimsHeld)
            self.jobSends = Mutex([:])
        }

        var name: String { "rolling-view" }
        var capabilities: ProviderCapabilities { base.capabilities }
        func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
            if queue == ScheduleRollingDeployTests.jobs {
                jobSends.withLock { counts in
                    for message in messages {
                        counts[message.envelope.headers[JobScheduler.slotHeader] ?? "?", default: 0] += 1
                    }
                }
            }
            return try await base.enqueue(messages, to: queue)
        }
        func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
            if queue == ScheduleRollingDeployTests.claims, claimsHeld.load(ordering: .relaxed) {
                try await clock.sleep(for: wait)
                return []
            }
            return try await base.receive(from: queue, max: max, wait: wait)
        }
        func acknowledge(_ messages: [ReceivedMessage]) async throws { try await base.acknowledge(messages) }
        func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
            try await base.fail(message, reason: reason, retryAfter: retryAfter)
        }
        func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {
            try await base.extendVisibility(message, by: duration)
        }
        func stats(of queue: String) async throws -> QueueStats { try await base.stats(of: queue) }
        func close() async throws {}
    }

    static func scheduler(_ provider: InstanceView, version: Int, now: @escaping @Sendable () -> Date) throws -> JobScheduler {
        let job = try ScheduledJob(
            id: "rolling", schedule: Schedule(parsing: "* * * * * *"), task: "test.tick",
            payload: Array(#"{"v":\#(version)}"#.utf8), queue: jobs)
        return JobScheduler(
            provider: provider, jobs: [job],
            configuration: JobScheduler.Configuration(
                timerQueue: "rolling-timers", claimQueue: claims, registryQueue: "rolling-registry",
                receiveWait: .milliseconds(200), now: now
            ),
            logger: testLogger
        )
    }

    /// Advances the clock a second at a time until `count` scheduled jobs arrived (at most 30 s of it).
    static func receive(_ provider: MemoryQueueProvider, clock: TestClock<Duration>, count: Int) async throws -> [Envelope] {
        var out: [Envelope] = []
        for _ in 0..<30 where out.count < count {
            await clock.advance(by: .seconds(1))
            // What became due at this instant (the firing, its claim, then the job) takes a few hops.
            for _ in 0..<200 {
                let batch = try await provider.receive(from: jobs, max: 10, wait: .zero)
                out += try batch.map { try $0.envelope.get() }
                try await provider.acknowledge(batch)
                if !batch.isEmpty { break }
                await Task.yield()
            }
        }
        try #require(out.count >= count, "the schedule stopped firing after \(out.count) jobs")
        return out
    }

    @Test func twoVersionsKeepOneChainAndTheNewOneGoesOnAlone() async throws {
        // On a test clock: a second of the schedule passes when the test says (deterministic, and instant).
        let clock = TestClock<Duration>()
        let broker = MemoryQueueProvider(configuration: .init(clock: clock))
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let now = calendar(of: clock, from: start)
        // Both versions run; the old instance happens to process every claim, the new version's included.
        let oldView = InstanceView(broker, clock: clock, claimsHeld: false)
        let newView = InstanceView(broker, clock: clock, claimsHeld: true)
        let old = try Self.scheduler(oldView, version: 1, now: now)
        let new = try Self.scheduler(newView, version: 2, now: now)
        let newRun = Task { try await new.run() }
        let oldRun = Task { try await old.run() }
        defer {
            newRun.cancel()
            oldRun.cancel()
        }
        let both = try await Self.receive(broker, clock: clock, count: 4)
        // The old version is gone (its pods were replaced): the new one processes the claims and the schedule goes on.
        oldRun.cancel()
        _ = await oldRun.result
        newView.claimsHeld.store(false, ordering: .relaxed)
        let alone = try await Self.receive(broker, clock: clock, count: 4)

        let slots = (both + alone).compactMap { $0.headers[JobScheduler.slotHeader] }
        #expect(slots.count == both.count + alone.count)
        let repeated = Dictionary(grouping: slots, by: { $0 }).filter { $0.value.count > 1 }.keys.sorted()
        #expect(repeated.isEmpty, "slots fired more than once: \(repeated)")
        // Each slot was run once: one job send per slot, whatever the broker's deduplication would have caught.
        var sends: [String: Int] = oldView.jobSends.withLock { $0 }
        sends.merge(newView.jobSends.withLock { $0 }, uniquingKeysWith: +)
        let twice = sends.filter { $0.value > 1 }.keys.sorted()
        #expect(twice.isEmpty, "slots run by both versions: \(twice)")
        // After the old version left, the jobs carry the new definition (at most one job already claimed under the
        // old one may still arrive).
        #expect(alone.dropFirst().allSatisfy { String(decoding: $0.payload, as: UTF8.self) == #"{"v":2}"# })
    }
}
