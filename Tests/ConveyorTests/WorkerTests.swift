import Conveyor
import Foundation
import ServiceLifecycle
import Synchronization
import Testing

@Suite("Worker", .timeLimit(.minutes(1)))
struct WorkerTests {
    struct Boom: Error, CustomStringConvertible {
        var description: String { "boom" }
    }

    enum Flaky: ProbeTag {
        static let name = "flaky"
        static var options: TaskOptions { TaskOptions(maxAttempts: 5, backoff: .exponential(base: .milliseconds(1), cap: .milliseconds(4))) }
    }

    enum Doomed: ProbeTag {
        static let name = "doomed"
        static var options: TaskOptions { TaskOptions(maxAttempts: 3, backoff: quickBackoff) }
    }

    enum Limited: ProbeTag {
        static let name = "limited"
        static var options: TaskOptions { TaskOptions(maxAttempts: 1, backoff: quickBackoff, concurrency: 2) }
    }

    enum Timed: ProbeTag {
        static let name = "timed"
        static var options: TaskOptions { TaskOptions(maxAttempts: 3, backoff: quickBackoff, timeout: .milliseconds(200)) }
    }

    enum OneAtATime: ProbeTag {
        static let name = "one-at-a-time"
        static var options: TaskOptions { TaskOptions(maxAttempts: 3, backoff: quickBackoff, timeout: nil, concurrency: 1) }
    }

    enum Long: ProbeTag {
        static let name = "long"
        static var options: TaskOptions { TaskOptions(maxAttempts: 1, backoff: quickBackoff, timeout: nil) }
    }

    // MARK: Running jobs

    @Test("a job enqueued by the client runs with its input and context; child jobs share the correlation id")
    func runsWithContext() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider, logger: testLogger)
        let contexts = Shared<[String: JobContext]>([:])
        let inputs = Shared<[ProbeInput]>([])
        var registry = TaskRegistry()
        try registry.register(Probe<Basic> { input, context in
            inputs.withLock { $0.append(input) }
            contexts.withLock { $0["parent"] = context }
            try await client.enqueue(Probe<Child>.self, ProbeInput(value: input.value + 1))
            return ProbeOutput(doubled: 0)
        })
        try registry.register(Probe<Child> { input, context in
            inputs.withLock { $0.append(input) }
            contexts.withLock { $0["child"] = context }
            return ProbeOutput(doubled: 0)
        })
        let worker = Worker(provider: provider, registry: registry, configuration: .test(), logger: testLogger)
        let stream = worker.events()
        let handle = try await withRunningWorker(worker) {
            let handle = try await client.enqueue(Probe<Basic>.self, ProbeInput(value: 7, note: "héllo"), options: .init(maxAttempts: 2))
            await EventLog(stream).wait(for: .succeeded, count: 2)
            return handle
        }
        #expect(inputs.value == [ProbeInput(value: 7, note: "héllo"), ProbeInput(value: 8)])
        let parent = try #require(contexts.value["parent"])
        let child = try #require(contexts.value["child"])
        #expect(parent.jobID == handle.id)
        #expect(parent.taskName == "basic")
        #expect(parent.queue == "default")
        #expect(parent.attempt == 1)
        #expect(parent.maxAttempts == 2)
        #expect(parent.correlationID == handle.id.rawValue)
        #expect(child.jobID != handle.id)
        #expect(child.correlationID == handle.id.rawValue)
        #expect(child.maxAttempts == 4)
        let stats = try await provider.stats(of: "default")
        #expect(stats == QueueStats())
    }

    @Test("a failing job is retried with its backoff until it succeeds")
    func retriesUntilSuccess() async throws {
        let provider = MemoryQueueProvider()
        let attempts = Shared<[Int]>([])
        let registry = try TaskRegistry([Probe<Flaky> { input, context in
            attempts.withLock { $0.append(context.attempt) }
            if context.attempt < 3 { throw Boom() }
            return ProbeOutput(doubled: input.value * 2)
        }])
        let worker = Worker(provider: provider, registry: registry, configuration: .test(), logger: testLogger)
        let stream = worker.events()
        let events = try await withRunningWorker(worker) {
            try await ConveyorClient(provider: provider).enqueue(Probe<Flaky>.self, ProbeInput(value: 1))
            return await EventLog(stream).wait(for: .succeeded)
        }
        #expect(attempts.value == [1, 2, 3])
        #expect(events.map(\.kind) == [.started, .retried, .started, .retried, .started, .succeeded])
        #expect(events.map(\.attempt) == [1, 1, 2, 2, 3, 3])
        let retried = events.filter { $0.kind == .retried }
        #expect(retried.allSatisfy { $0.error?.contains("boom") == true && $0.retryAfter != nil })
        #expect(try await provider.stats(of: "default") == QueueStats())
    }

    @Test("a job that keeps failing is dead-lettered after its last attempt, with the reason")
    func deadLettersAfterMaxAttempts() async throws {
        let provider = MemoryQueueProvider()
        let attempts = Shared(0)
        let registry = try TaskRegistry([Probe<Doomed> { _, _ in
            attempts.withLock { $0 += 1 }
            throw Boom()
        }])
        let worker = Worker(provider: provider, registry: registry, configuration: .test(), logger: testLogger)
        let stream = worker.events()
        let events = try await withRunningWorker(worker) {
            try await ConveyorClient(provider: provider).enqueue(Probe<Doomed>.self, ProbeInput(value: 1))
            return await EventLog(stream).wait(for: .deadLettered)
        }
        #expect(attempts.value == 3)
        #expect(events.filter { $0.kind == .retried }.count == 2)
        let dead = try await provider.deadLetters(of: "default", limit: 10)
        #expect(dead.count == 1)
        #expect(dead.first?.reason.code == "task_error")
        #expect(dead.first?.reason.message == "boom")
        #expect(dead.first?.attempts == 3)
    }

    @Test("a NonRetryableError dead-letters at once")
    func nonRetryable() async throws {
        let provider = MemoryQueueProvider()
        let attempts = Shared(0)
        let registry = try TaskRegistry([Probe<Doomed> { _, _ in
            attempts.withLock { $0 += 1 }
            throw NonRetryableError("the account was deleted")
        }])
        let worker = Worker(provider: provider, registry: registry, configuration: .test(), logger: testLogger)
        let stream = worker.events()
        try await withRunningWorker(worker) {
            try await ConveyorClient(provider: provider).enqueue(Probe<Doomed>.self, ProbeInput(value: 1))
            await EventLog(stream).wait(for: .deadLettered)
        }
        #expect(attempts.value == 1)
        let dead = try await provider.deadLetters(of: "default", limit: 10)
        #expect(dead.count == 1)
        #expect(dead.first?.reason.message == "the account was deleted")
        #expect(dead.first?.attempts == 1)
    }

    @Test("an unknown task and an undecodable payload are dead-lettered with the reason")
    func unknownTaskAndBadPayload() async throws {
        let provider = MemoryQueueProvider()
        let runs = Shared(0)
        let registry = try TaskRegistry([Probe<Basic> { _, _ in
            runs.withLock { $0 += 1 }
            return ProbeOutput(doubled: 0)
        }])
        let worker = Worker(provider: provider, registry: registry, configuration: .test(), logger: testLogger)
        let stream = worker.events()
        let client = ConveyorClient(provider: provider)
        try await withRunningWorker(worker) {
            try await client.enqueueRaw(task: "no-such-task", payload: Array(#"{"value":1}"#.utf8))
            try await client.enqueueRaw(task: "basic", payload: Array(#"{"note":"x"}"#.utf8))
            await EventLog(stream).wait(for: .deadLettered, count: 2)
        }
        #expect(runs.value == 0)
        let dead = try await provider.deadLetters(of: "default", limit: 10)
        let byCode = Dictionary(dead.map { ($0.reason.code, $0.reason.message) }, uniquingKeysWith: { a, _ in a })
        #expect(byCode.count == 2)
        #expect(byCode["unknown_task"]?.contains("no-such-task") == true)
        let decoding = try #require(byCode["payload_decoding_failed"])
        #expect(decoding.hasPrefix("basic: "))
        #expect(decoding.contains("\"value\""))
    }

    @Test("a malformed body is dead-lettered and the jobs around it still run")
    func malformedBody() async throws {
        let provider = MemoryQueueProvider()
        let values = Shared<[Int]>([])
        let registry = try TaskRegistry([Probe<Basic> { input, _ in
            values.withLock { $0.append(input.value) }
            return ProbeOutput(doubled: 0)
        }])
        let client = ConveyorClient(provider: provider)
        try await client.enqueue(Probe<Basic>.self, ProbeInput(value: 1))
        try await provider.enqueueRaw(Array("not json at all".utf8), to: "default")
        try await provider.enqueueRaw(Array(#"{"v":99,"id":"x","task":"basic","payload":{}}"#.utf8), to: "default")
        try await client.enqueue(Probe<Basic>.self, ProbeInput(value: 2))
        let worker = Worker(provider: provider, registry: registry, configuration: .test(), logger: testLogger)
        let stream = worker.events()
        try await withRunningWorker(worker) {
            await EventLog(stream).wait { events in
                events.filter { $0.kind == .succeeded }.count == 2 && events.filter { $0.kind == .deadLettered }.count == 2
            }
        }
        #expect(values.value.sorted() == [1, 2])
        let dead = try await provider.deadLetters(of: "default", limit: 10)
        #expect(Set(dead.map(\.reason.code)) == ["malformed_envelope", "unsupported_envelope_version"])
        #expect(dead.contains { $0.rawBody == Array("not json at all".utf8) })
    }

    // MARK: Concurrency

    @Test("no more jobs of a task run at once than its concurrency limit")
    func perTaskLimit() async throws {
        let provider = MemoryQueueProvider()
        let limited = ConcurrencyMeter()
        let others = Shared(0)
        var registry = TaskRegistry()
        try registry.register(Probe<Limited> { _, _ in
            limited.enter()
            defer { limited.leave() }
            try await Task.sleep(for: .milliseconds(10))
            return ProbeOutput(doubled: 0)
        })
        try registry.register(Probe<Basic> { _, _ in
            others.withLock { $0 += 1 }
            return ProbeOutput(doubled: 0)
        })
        let client = ConveyorClient(provider: provider)
        try await client.enqueue(Probe<Limited>.self, (0..<10).map { ProbeInput(value: $0) })
        try await client.enqueue(Probe<Basic>.self, (0..<5).map { ProbeInput(value: $0) })
        let worker = Worker(provider: provider, registry: registry, configuration: .test(concurrency: 8), logger: testLogger)
        let stream = worker.events()
        try await withRunningWorker(worker) {
            await EventLog(stream).wait(for: .succeeded, count: 15)
        }
        #expect(limited.total == 10)
        #expect(limited.maximum <= 2)
        #expect(others.value == 5)
    }

    @Test("no more jobs run at once than the worker's concurrency")
    func globalLimit() async throws {
        let provider = MemoryQueueProvider()
        let meter = ConcurrencyMeter()
        let registry = try TaskRegistry([Probe<Basic> { _, _ in
            meter.enter()
            defer { meter.leave() }
            try await Task.sleep(for: .milliseconds(5))
            return ProbeOutput(doubled: 0)
        }])
        try await ConveyorClient(provider: provider).enqueue(Probe<Basic>.self, (0..<30).map { ProbeInput(value: $0) })
        let worker = Worker(provider: provider, registry: registry, configuration: .test(concurrency: 3, batchSize: 4), logger: testLogger)
        let stream = worker.events()
        try await withRunningWorker(worker) {
            await EventLog(stream).wait(for: .succeeded, count: 30)
        }
        #expect(meter.total == 30)
        #expect(meter.maximum <= 3)
        #expect(meter.maximum >= 1)
    }

    // MARK: Timeouts and heartbeat

    @Test("a job past its timeout is cancelled and retried")
    func timeout() async throws {
        let provider = MemoryQueueProvider()
        let attempts = Shared<[Int]>([])
        let cancelled = Shared(false)
        let registry = try TaskRegistry([Probe<Timed> { _, context in
            attempts.withLock { $0.append(context.attempt) }
            if context.attempt == 1 {
                do {
                    try await Task.sleep(for: .seconds(30))
                } catch {
                    cancelled.withLock { $0 = true }
                    throw error
                }
            }
            return ProbeOutput(doubled: 0)
        }])
        let worker = Worker(provider: provider, registry: registry, configuration: .test(), logger: testLogger)
        let stream = worker.events()
        let events = try await withRunningWorker(worker) {
            try await ConveyorClient(provider: provider).enqueue(Probe<Timed>.self, ProbeInput(value: 1))
            return await EventLog(stream).wait(for: .succeeded)
        }
        #expect(cancelled.value)
        #expect(attempts.value == [1, 2])
        let retried = try #require(events.first { $0.kind == .retried })
        #expect(retried.error?.hasPrefix("timeout:") == true)
    }

    @Test("a job cancelled by its id while it runs stops, is not retried nor dead-lettered; one cancelled before it starts never runs")
    func cancelledByID() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider)
        let attempts = Shared<[Int]>([])
        let sawCancellation = Shared(false)
        let registry = try TaskRegistry([Probe<Doomed> { input, context in
            attempts.withLock { $0.append(input.value) }
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                sawCancellation.withLock { $0 = true }
                throw error
            }
            return ProbeOutput(doubled: 0)
        }])
        var configuration = Worker.Configuration.test()
        configuration.pauseCheckInterval = .milliseconds(50)
        let worker = Worker(provider: provider, registry: registry, configuration: configuration, logger: testLogger)
        let stream = worker.events()
        let waiting = try await client.enqueue(Probe<Doomed>.self, ProbeInput(value: 1))
        try await client.cancel(waiting.id, in: "default")
        let (running, events) = try await withRunningWorker(worker) {
            let log = EventLog(stream)
            _ = await log.wait(for: .cancelled)
            let running = try await client.enqueue(Probe<Doomed>.self, ProbeInput(value: 2))
            _ = await log.wait(for: .started)
            try await client.cancel(running.id, in: "default")
            return (running, await log.wait(for: .cancelled, count: 2))
        }
        #expect(attempts.value == [2], "the job cancelled before it started ran")
        #expect(sawCancellation.value, "the running job's task was not cancelled")
        let cancelled = events.filter { $0.kind == .cancelled }
        #expect(cancelled.map(\.jobID) == [waiting.id, running.id])
        #expect(cancelled[0].duration == nil && cancelled[1].duration != nil)
        #expect(cancelled.allSatisfy { $0.error?.hasPrefix("cancelled:") == true })
        #expect(!events.contains { $0.kind == .retried || $0.kind == .deadLettered })
        let stats = try await provider.stats(of: "default")
        #expect(stats.ready == 0 && stats.inFlight == 0 && stats.deadLettered == 0)
        // Settled: the markers are gone.
        #expect(try await provider.cancellations(in: "default").isEmpty)
    }

    @Test("cancelling needs a positive lifetime of at most 365 days and a provider that can")
    func cancelValidation() async throws {
        let client = ConveyorClient(provider: MemoryQueueProvider())
        for lifetime in [Duration.zero, .seconds(-1), .seconds(366 * 86_400)] {
            await #expect(throws: ConveyorError.self) { try await client.cancel("a", in: "q", expiresAfter: lifetime) }
        }
        await #expect(throws: ConveyorError.self) { try await client.cancel("", in: "q") }
        let inline = ConveyorClient(provider: InlineQueueProvider(registry: try TaskRegistry([])))
        do {
            try await inline.cancel("a", in: "q")
            Issue.record("the inline provider accepted a cancellation")
        } catch let error as ConveyorError {
            #expect(error.code == .unsupported)
        }
    }

    @Test("a job longer than the visibility timeout is kept invisible by the heartbeat and runs once")
    func heartbeat() async throws {
        // On a test clock: the job runs 3 s of it under a 1 s visibility timeout (deterministic, and instant).
        let provider = ClockedMemoryProvider(visibilityTimeout: .seconds(1))
        let clock = provider.clock
        let runs = Shared(0)
        let finished = Shared(0)
        let registry = try TaskRegistry([Probe<Long> { _, _ in
            runs.withLock { $0 += 1 }
            try await clock.sleep(for: .seconds(3))
            finished.withLock { $0 += 1 }
            return ProbeOutput(doubled: 0)
        }])
        let worker = Worker(
            provider: provider,
            registry: registry,
            // The worker's heartbeats follow the provider's 1 s visibility timeout: there is no second setting that
            // could disagree with it (the worker used to assume 30 s unless told otherwise, and ran this job twice).
            configuration: .test(concurrency: 2, clock: clock),
            logger: testLogger
        )
        let stream = worker.events()
        let events = try await withRunningWorker(worker) {
            try await ConveyorClient(provider: provider).enqueue(Probe<Long>.self, ProbeInput(value: 1))
            // Two more visibility timeouts after the job ends, for a copy delivered again to show.
            let ended = await provider.advance(until: { finished.value == 1 })
            #expect(ended, "the job did not end")
            _ = await provider.advance(until: { false }, limit: .seconds(2))
            return await EventLog(stream).wait(for: .succeeded)
        }
        #expect(runs.value == 1)
        #expect(events.filter { $0.kind == .started }.count == 1)
        #expect(try await provider.stats(of: "default") == QueueStats())
    }

    @Test("jobs held back by a per-task limit longer than the visibility timeout are kept invisible and run once")
    func heldJobsHeartbeat() async throws {
        let provider = ClockedMemoryProvider(visibilityTimeout: .seconds(1))
        let clock = provider.clock
        let attempts = Shared<[Int: [Int]]>([:])
        let finished = Shared(0)
        let registry = try TaskRegistry([Probe<OneAtATime> { input, context in
            attempts.withLock { $0[input.value, default: []].append(context.attempt) }
            try await clock.sleep(for: .milliseconds(1500))
            finished.withLock { $0 += 1 }
            return ProbeOutput(doubled: 0)
        }])
        let worker = Worker(
            provider: provider,
            registry: registry,
            configuration: .test(concurrency: 4, clock: clock),
            logger: testLogger
        )
        let stream = worker.events()
        let events = try await withRunningWorker(worker) {
            // The third job waits 3 s behind the other two: three visibility timeouts.
            try await ConveyorClient(provider: provider).enqueue(Probe<OneAtATime>.self, (1...3).map { ProbeInput(value: $0) })
            let ended = await provider.advance(until: { finished.value == 3 })
            #expect(ended, "the jobs did not end")
            _ = await provider.advance(until: { false }, limit: .seconds(2))
            return await EventLog(stream).wait(for: .succeeded, count: 3)
        }
        #expect(attempts.value == [1: [1], 2: [1], 3: [1]])
        #expect(events.filter { $0.kind == .started }.count == 3)
        #expect(try await provider.stats(of: "default") == QueueStats())
    }

    // MARK: Shutdown

    @Test("graceful shutdown lets in-flight jobs finish and stops receiving")
    func gracefulShutdown() async throws {
        let provider = MemoryQueueProvider()
        let finished = Shared(0)
        let registry = try TaskRegistry([Probe<Long> { _, _ in
            try await Task.sleep(for: .milliseconds(100))
            finished.withLock { $0 += 1 }
            return ProbeOutput(doubled: 0)
        }])
        let worker = Worker(provider: provider, registry: registry, configuration: .test(concurrency: 2), logger: testLogger)
        let stream = worker.events()
        let group = ServiceGroup(services: [worker], logger: testLogger)
        let client = ConveyorClient(provider: provider)
        let events = try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await client.enqueue(Probe<Long>.self, [ProbeInput(value: 1), ProbeInput(value: 2)])
            let log = EventLog(stream)
            await log.wait(for: .started, count: 2)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return await log.drain()
        }
        #expect(finished.value == 2)
        #expect(events.filter { $0.kind == .succeeded }.count == 2)
        try await client.enqueue(Probe<Long>.self, ProbeInput(value: 3))
        #expect(try await provider.stats(of: "default") == QueueStats(ready: 1))
    }

    @Test("shutdown past the grace period cancels running jobs and returns their messages")
    func shutdownPastGrace() async throws {
        let provider = MemoryQueueProvider()
        let cancelled = Shared(0)
        let registry = try TaskRegistry([Probe<Long> { _, _ in
            do {
                try await Task.sleep(for: .seconds(30))
            } catch {
                cancelled.withLock { $0 += 1 }
                throw error
            }
            return ProbeOutput(doubled: 0)
        }])
        let worker = Worker(
            provider: provider,
            registry: registry,
            configuration: .test(concurrency: 2, shutdownGracePeriod: .milliseconds(50)),
            logger: testLogger
        )
        let stream = worker.events()
        let group = ServiceGroup(services: [worker], logger: testLogger)
        let events = try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await ConveyorClient(provider: provider).enqueue(Probe<Long>.self, [ProbeInput(value: 1), ProbeInput(value: 2)])
            let log = EventLog(stream)
            await log.wait(for: .started, count: 2)
            await group.triggerGracefulShutdown()
            try await tasks.waitForAll()
            return await log.wait(for: .failed, count: 2)
        }
        #expect(cancelled.value == 2)
        #expect(events.filter { $0.kind == .succeeded || $0.kind == .deadLettered }.isEmpty)
        let stats = try await provider.stats(of: "default")
        #expect(stats.ready == 2)
        #expect(stats.inFlight == 0)
        #expect(stats.deadLettered == 0)
        // Released, not failed: the cancelled attempt does not count.
        let again = try await provider.receive(from: "default", max: 10, wait: .zero)
        #expect(again.map(\.attempt) == [1, 1])
    }

    // MARK: Events

    @Test("progress that is not a number, infinite or huge neither traps nor leaves 0...1")
    func absurdProgress() async throws {
        let provider = MemoryQueueProvider()
        let registry = try TaskRegistry([Probe<Basic> { _, context in
            for value in [Double.nan, -.infinity, .infinity, 1e300, -1e300, .greatestFiniteMagnitude] {
                context.progress(value, "\(value)")
            }
            return ProbeOutput(doubled: 0)
        }])
        let worker = Worker(provider: provider, registry: registry, configuration: .test(), logger: testLogger)
        let stream = worker.events()
        let events = try await withRunningWorker(worker) {
            try await ConveyorClient(provider: provider).enqueue(Probe<Basic>.self, ProbeInput(value: 1))
            return await EventLog(stream).wait(for: .succeeded)
        }
        let progressed = events.filter { $0.kind == .progressed }
        #expect(progressed.compactMap(\.progress) == [0, 1, 1, 0, 1], "\(progressed)")
        _ = events.map(\.description)
        // An event built by hand with such values prints too.
        for value in [Double.nan, .infinity, -.infinity, 1e300] {
            let event = WorkerEvent(kind: .progressed, jobID: nil, task: "t", queue: "q", attempt: 1, progress: value)
            #expect(!event.description.isEmpty)
        }
    }

    @Test("events arrive in order: started, progressed, succeeded")
    func eventsInOrder() async throws {
        let provider = MemoryQueueProvider()
        let registry = try TaskRegistry([Probe<Basic> { _, context in
            context.progress(0.5, "half way")
            context.progress(1)
            return ProbeOutput(doubled: 0)
        }])
        let worker = Worker(provider: provider, registry: registry, configuration: .test(), logger: testLogger)
        let first = worker.events()
        let second = worker.events()
        let (handle, events, again) = try await withRunningWorker(worker) {
            let handle = try await ConveyorClient(provider: provider).enqueue(Probe<Basic>.self, ProbeInput(value: 1))
            let events = await EventLog(first).wait(for: .succeeded)
            let again = await EventLog(second).wait(for: .succeeded)
            return (handle, events, again)
        }
        #expect(events.map(\.kind) == [.started, .progressed, .progressed, .succeeded])
        #expect(again.map(\.kind) == events.map(\.kind))
        #expect(events.allSatisfy { $0.jobID == handle.id && $0.task == "basic" && $0.queue == "default" && $0.attempt == 1 })
        #expect(events[1].progress == 0.5)
        #expect(events[1].note == "half way")
        #expect(events[3].duration != nil)
    }

    // MARK: Long delays

    @Test("a delay longer than the broker's native maximum hops until due and runs no earlier")
    func longDelay() async throws {
        let provider = RecordingMemoryProvider(maximumNativeDelay: .seconds(1))
        let ranAt = Shared<[Date]>([])
        let registry = try TaskRegistry([Probe<Basic> { _, context in
            ranAt.withLock { $0.append(Date()) }
            #expect(context.attempt == 1)
            return ProbeOutput(doubled: 0)
        }])
        let worker = Worker(provider: provider, registry: registry, configuration: .test(), logger: testLogger)
        let stream = worker.events()
        let enqueuedAt = Date()
        let handle = try await withRunningWorker(worker) {
            let handle = try await ConveyorClient(provider: provider).enqueue(
                Probe<Basic>.self,
                ProbeInput(value: 1),
                options: .init(delay: .seconds(3))
            )
            await EventLog(stream).wait(for: .succeeded)
            return handle
        }
        let ran = try #require(ranAt.value.first)
        #expect(ranAt.value.count == 1)
        #expect(ran.timeIntervalSince(enqueuedAt) >= 3)
        // The first delivery comes after the native maximum (1 s), two seconds before the job is due (3 s): the worker
        // must send it on again (a hop) rather than run it early (`ran` above shows it never ran early). Only a machine
        // so loaded that the worker looked at the message after it was due may run it without a hop: a 1.5 s delay
        // once flaked that way on CI (decided 80 ms after a delivery at 1.42 s), and with the full suite running in
        // parallel the first delivery has come as late as 2.75 s (twice in a row on CI, the job then decided after it
        // was due). The decision time cannot be observed here, so the hop is required when the delivery came within two
        // native maxima (2 s), as it does on a machine that is not starved.
        let firstDelivery = try #require(provider.deliveries.value.first)
        let deliveredLate = firstDelivery.timeIntervalSince(enqueuedAt) >= 2
        #expect(provider.sends >= 2 || deliveredLate, "delivered after \(firstDelivery.timeIntervalSince(enqueuedAt)) s, sent \(provider.sends) times")
        #expect(provider.longestDelay <= .seconds(1))
        _ = handle
        #expect(try await provider.stats(of: "default") == QueueStats())
    }
}

@Suite("Worker lifecycle", .timeLimit(.minutes(1)))
struct WorkerLifecycleTests {
    enum Slow: ProbeTag {
        static let name = "slow"
        static var options: TaskOptions { TaskOptions(maxAttempts: 5, backoff: quickBackoff, timeout: nil) }
    }

    @Test("cancelling the worker's task cancels running jobs and returns their messages")
    func hardCancel() async throws {
        let provider = MemoryQueueProvider()
        let registry = try TaskRegistry([Probe<Slow> { _, _ in
            try await Task.sleep(for: .seconds(30))
            return ProbeOutput(doubled: 0)
        }])
        let worker = Worker(provider: provider, registry: registry, configuration: .test(concurrency: 2), logger: testLogger)
        let stream = worker.events()
        try await ConveyorClient(provider: provider).enqueue(Probe<Slow>.self, [ProbeInput(value: 1), ProbeInput(value: 2), ProbeInput(value: 3)])
        let log = EventLog(stream)
        let task = Task { try await worker.run() }
        await log.wait(for: .started, count: 2)
        task.cancel()
        try await task.value
        let events = await log.drain()
        #expect(events.filter { $0.kind == .failed }.count == 2)
        let stats = try await provider.stats(of: "default")
        #expect(stats.ready == 3)
        #expect(stats.inFlight == 0)
    }

    @Test("a shutdown requested before run makes run return at once; a worker runs only once")
    func shutdownBeforeRun() async throws {
        let provider = MemoryQueueProvider()
        let worker = Worker(provider: provider, registry: TaskRegistry(), configuration: .test(), logger: testLogger)
        worker.triggerGracefulShutdown()
        try await worker.run()
        await #expect(throws: ConveyorError.self) { try await worker.run() }
        var finished = true
        for await _ in worker.events() { finished = false }
        #expect(finished)
    }

    @Test("a bad configuration is refused with invalidConfiguration")
    func badConfiguration() async throws {
        let provider = MemoryQueueProvider()
        for configuration in [
            Worker.Configuration(queues: []),
            Worker.Configuration(concurrency: 0),
            Worker.Configuration(batchSize: 0),
            Worker.Configuration(queues: ["a", "a"]),
            // Past the limits: Int.max trapped the process before (one executor per unit of concurrency, and
            // concurrency + batchSize × receivers overflowed).
            Worker.Configuration(concurrency: .max),
            Worker.Configuration(concurrency: Worker.Configuration.maximumConcurrency + 1),
            Worker.Configuration(batchSize: .max),
            Worker.Configuration(receiversPerQueue: .max),
        ] {
            let worker = Worker(provider: provider, registry: TaskRegistry(), configuration: configuration, logger: testLogger)
            do {
                try await worker.run()
                Issue.record("expected invalidConfiguration for \(configuration)")
            } catch let error as ConveyorError {
                #expect(error.code == .invalidConfiguration)
            }
        }
    }
}
