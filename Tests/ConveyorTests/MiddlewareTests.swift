import Conveyor
import Foundation
import Logging
import Synchronization
import Testing

/// Records what a middleware saw, in order.
private final class Trail: Sendable {
    private let entries = Mutex<[String]>([])
    private let ends = Mutex<[WorkerEvent]>([])
    func add(_ entry: String) { entries.withLock { $0.append(entry) } }
    func ended(_ event: WorkerEvent) { ends.withLock { $0.append(event) } }
    var value: [String] { entries.withLock { $0 } }
    var events: [WorkerEvent] { ends.withLock { $0 } }
}

/// Logs its name on the way in and out, adds a logger metadata key, and reports how attempts ended.
private struct Recording: JobMiddleware {
    let name: String
    let trail: Trail

    func handle(_ job: JobContext, next: (JobContext) async throws -> Void) async throws {
        trail.add("\(name)>")
        var job = job
        job.logger[metadataKey: "seen.\(name)"] = "yes"
        do {
            try await next(job)
            trail.add("<\(name)")
        } catch {
            trail.add("<\(name) threw")
            throw error
        }
    }

    func jobEnded(_ event: WorkerEvent) { trail.ended(event) }
}

/// Throws before the handler for jobs whose input value is `refused`, and skips the handler for `skipped`.
private struct Gate: JobMiddleware {
    static let refused = 13
    static let skipped = 42

    func handle(_ job: JobContext, next: (JobContext) async throws -> Void) async throws {
        let value = (try? JSONDecoder().decode(ProbeInput.self, from: Data(job.envelope.payload)))?.value
        if value == Self.refused { throw NonRetryableError("refused by the gate") }
        if value == Self.skipped { return }
        try await next(job)
    }
}

private enum Unregistered: ProbeTag {
    static let name = "unregistered"
    static var options: TaskOptions { TaskOptions() }
}

@Suite("Job middleware", .timeLimit(.minutes(1)))
struct MiddlewareTests {
    @Test("middleware runs outermost first around the handler, and passes on the context it chooses")
    func nestingAndContext() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider, logger: testLogger)
        let trail = Trail()
        let metadata = Shared<[String]>([])
        var registry = TaskRegistry()
        try registry.register(Probe<Basic> { input, context in
            trail.add("handler")
            metadata.withLock { $0 = context.logger.handler.metadata.keys.sorted() }
            return ProbeOutput(doubled: input.value * 2)
        })
        var configuration = Worker.Configuration.test()
        configuration.middleware = [Recording(name: "a", trail: trail), Recording(name: "b", trail: trail)]
        let worker = Worker(provider: provider, registry: registry, configuration: configuration, logger: testLogger)
        let stream = worker.events()
        try await withRunningWorker(worker) {
            try await client.enqueue(Probe<Basic>.self, ProbeInput(value: 1))
            await EventLog(stream).wait(for: .succeeded)
        }
        #expect(trail.value == ["a>", "b>", "handler", "<b", "<a"])
        #expect(metadata.value.contains("seen.a"))
        #expect(metadata.value.contains("seen.b"))
        #expect(metadata.value.contains("job.id"))
    }

    @Test("jobEnded sees how each attempt ended: retried, succeeded, and dead-lettered without running for an unknown task")
    func endings() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider, logger: testLogger)
        let trail = Trail()
        let calls = Shared(0)
        var registry = TaskRegistry()
        try registry.register(Probe<Basic> { input, _ in
            let call = calls.withLock { $0 += 1; return $0 }
            if call == 1 { throw WorkerTests.Boom() }
            return ProbeOutput(doubled: input.value * 2)
        })
        var configuration = Worker.Configuration.test()
        configuration.middleware = [Recording(name: "m", trail: trail)]
        let worker = Worker(provider: provider, registry: registry, configuration: configuration, logger: testLogger)
        let stream = worker.events()
        let (good, unknown) = try await withRunningWorker(worker) {
            let good = try await client.enqueue(Probe<Basic>.self, ProbeInput(value: 1))
            let unknown = try await client.enqueue(Probe<Unregistered>.self, ProbeInput(value: 2))
            await EventLog(stream).wait(until: { events in
                events.contains { $0.kind == .succeeded } && events.contains { $0.kind == .deadLettered }
            })
            return (good.id, unknown.id)
        }
        let events = trail.events
        let goodKinds = events.filter { $0.jobID == good }.map(\.kind)
        #expect(goodKinds == [.retried, .succeeded])
        #expect(events.first { $0.kind == .retried }?.error?.contains("boom") == true)
        #expect(events.first { $0.kind == .succeeded }?.duration != nil)
        let unknownEvents = events.filter { $0.jobID == unknown }
        #expect(unknownEvents.map(\.kind) == [.deadLettered])
        #expect(unknownEvents.first?.task == "unregistered")
        // The unknown task's job never reached `handle`: two entries per attempt of the good job only.
        #expect(trail.value == ["m>", "<m threw", "m>", "<m"])
    }

    @Test("a middleware that throws fails the attempt as the handler would; one that returns early skips the handler")
    func throwingAndSkipping() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider, logger: testLogger)
        let ran = Shared<[Int]>([])
        var registry = TaskRegistry()
        try registry.register(Probe<Basic> { input, _ in
            ran.withLock { $0.append(input.value) }
            return ProbeOutput(doubled: input.value * 2)
        })
        var configuration = Worker.Configuration.test()
        configuration.middleware = [Gate()]
        let worker = Worker(provider: provider, registry: registry, configuration: configuration, logger: testLogger)
        let stream = worker.events()
        let events = try await withRunningWorker(worker) {
            try await client.enqueue(Probe<Basic>.self, ProbeInput(value: Gate.refused))
            try await client.enqueue(Probe<Basic>.self, ProbeInput(value: Gate.skipped))
            try await client.enqueue(Probe<Basic>.self, ProbeInput(value: 1))
            return await EventLog(stream).wait(until: { events in
                events.filter { $0.kind == .succeeded }.count == 2 && events.contains { $0.kind == .deadLettered }
            })
        }
        #expect(ran.value == [1])
        let deadLettered = try #require(events.first { $0.kind == .deadLettered })
        #expect(deadLettered.error?.contains("refused by the gate") == true)
        #expect(events.filter { $0.kind == .retried }.isEmpty)
        let stats = try await provider.stats(of: "default")
        #expect(stats.deadLettered == 1)
    }
}
