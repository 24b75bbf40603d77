import Clocks
import Conveyor
import Foundation
import Testing

/// Timing of the memory provider and the worker on a test clock: deterministic, and instant in real time.
@Suite("Timing on a test clock", .timeLimit(.minutes(1)))
struct TestClockTests {
    @Test("a received message comes back when its visibility timeout passes, not before")
    func visibilityTimeout() async throws {
        let clock = TestClock<Duration>()
        let provider = MemoryQueueProvider(configuration: .init(visibilityTimeout: .seconds(30), clock: clock))
        _ = try await provider.enqueue(OutgoingMessage(envelope: Envelope(task: "t", payload: Array("{}".utf8))), to: "q")
        let first = try await provider.receive(from: "q", max: 1, wait: .zero)
        #expect(first.map(\.attempt) == [1])
        await clock.advance(by: .milliseconds(29_999))
        #expect(try await provider.receive(from: "q", max: 1, wait: .zero).isEmpty)
        await clock.advance(by: .milliseconds(1))
        #expect(try await provider.receive(from: "q", max: 1, wait: .zero).map(\.attempt) == [2])
    }

    @Test("a receive waits on the provider's clock and is woken by a delayed message coming due")
    func delayedMessageWakesAWait() async throws {
        let clock = TestClock<Duration>()
        let provider = MemoryQueueProvider(configuration: .init(clock: clock))
        _ = try await provider.enqueue(
            OutgoingMessage(envelope: Envelope(task: "t", payload: Array("{}".utf8)), delay: .seconds(3600)), to: "q"
        )
        async let received = provider.receive(from: "q", max: 1, wait: .seconds(7200))
        await clock.advance(by: .seconds(3599))
        #expect(try await provider.stats(of: "q").delayed == 1)
        await clock.advance(by: .seconds(1))
        #expect(try await received.count == 1)
    }

    enum Flaky: ProbeTag {
        static let name = "test-clock.flaky"
        static var options: TaskOptions { TaskOptions(maxAttempts: 2, backoff: .fixed(.seconds(10)), timeout: nil) }
    }

    @Test("a failed job runs again when its backoff has passed on the clock, not before")
    func backoff() async throws {
        let provider = ClockedMemoryProvider(visibilityTimeout: .seconds(30))
        let clock = provider.clock
        let attempts = Shared<[Int]>([])
        let registry = try TaskRegistry([Probe<Flaky> { _, context in
            attempts.withLock { $0.append(context.attempt) }
            if context.attempt == 1 { throw CancellationError() }
            return ProbeOutput(doubled: 0)
        }])
        let worker = Worker(provider: provider, registry: registry, configuration: .test(clock: clock), logger: testLogger)
        let stream = worker.events()
        try await withRunningWorker(worker) {
            try await ConveyorClient(provider: provider).enqueue(Probe<Flaky>.self, ProbeInput(value: 1))
            let log = EventLog(stream)
            await log.wait(for: .retried)
            // The event comes before the worker's settle task returns the message with its 10 s delay: the clock
            // must not move before the broker has it (the delay would then count from a later instant).
            while try await provider.stats(of: "default").inFlight > 0 { try await Task.sleep(for: .milliseconds(1)) }
            #expect(await provider.advance(until: { false }, step: .seconds(1), limit: .seconds(9)) == false)
            #expect(attempts.value == [1], "the retry ran before its 10 s backoff")
            #expect(await provider.advance(until: { attempts.value.count == 2 }, step: .seconds(1), limit: .seconds(2)))
            await log.wait(for: .succeeded)
        }
        #expect(attempts.value == [1, 2])
    }

    @Test("a job past its timeout is cancelled at that instant of the clock")
    func timeout() async throws {
        let provider = ClockedMemoryProvider(visibilityTimeout: .seconds(30))
        let clock = provider.clock
        let registry = try TaskRegistry([Probe<Long> { _, _ in
            try await clock.sleep(for: .seconds(3600))
            return ProbeOutput(doubled: 0)
        }])
        let worker = Worker(
            provider: provider, registry: registry,
            configuration: {
                var configuration = Worker.Configuration.test(clock: clock)
                configuration.taskOptionOverrides = [Long.name: TaskOptions(maxAttempts: 1, timeout: .seconds(60))]
                return configuration
            }(),
            logger: testLogger
        )
        let stream = worker.events()
        let ended = try await withRunningWorker(worker) {
            try await ConveyorClient(provider: provider).enqueue(Probe<Long>.self, ProbeInput(value: 1))
            let log = EventLog(stream)
            await log.wait(for: .started)
            _ = await provider.advance(until: { false }, step: .seconds(1), limit: .seconds(59))
            #expect(try await provider.stats(of: "default").inFlight == 1, "the job ended before its timeout")
            _ = await provider.advance(until: { false }, step: .seconds(1), limit: .seconds(2))
            return await log.wait(for: .deadLettered).first { $0.kind == .deadLettered }
        }
        #expect(ended?.error?.contains("timeout") == true, "\(String(describing: ended))")
    }

    enum Long: ProbeTag {
        static let name = "test-clock.long"
        static var options: TaskOptions { TaskOptions(maxAttempts: 1, timeout: nil) }
    }

    @Test("a schedule fires once per slot as its clock passes the slots, not before")
    func schedule() async throws {
        let clock = TestClock<Duration>()
        let provider = MemoryQueueProvider(configuration: .init(clock: clock))
        // The scheduler's calendar time follows the same clock, from a whole minute on.
        let start = Date(timeIntervalSince1970: 1_800_000_000)
        let now = calendar(of: clock, from: start)
        let job = try ScheduledJob(id: "every-10s", schedule: Schedule(parsing: "*/10 * * * * *"), task: "tick", queue: "ticks")
        let scheduler = JobScheduler(
            provider: provider, jobs: [job],
            configuration: JobScheduler.Configuration(timerQueue: "clock-timers", claimQueue: "clock-claims", registryQueue: "clock-registry", now: now),
            logger: testLogger
        )
        let run = Task { try await scheduler.run() }
        defer { run.cancel() }
        var slots: [String] = []
        for _ in 0..<35 {
            await clock.advance(by: .seconds(1))
            // Whatever is due at this instant: the firing, its claim, the job (each hop a message of its own).
            for _ in 0..<50 {
                let batch = try await provider.receive(from: "ticks", max: 10, wait: .zero)
                slots += batch.compactMap { try? $0.envelope.get().headers[JobScheduler.slotHeader] }
                try await provider.acknowledge(batch)
                if !batch.isEmpty { break }
                await Task.yield()
            }
        }
        #expect(slots == [10, 20, 30].map { RFC3339.format(start.addingTimeInterval($0)) })
    }
}
