import Conveyor
import Foundation
import Testing

/// Out-of-range numbers in ``TaskOptions`` and ``EnqueueOptions`` are thrown as typed errors that say what to fix,
/// where the options are used; nothing traps.
@Suite("Option validation", .timeLimit(.minutes(1)))
struct OptionValidationTests {
    struct Input: Codable, Sendable { var value: Int }

    /// A task whose options come from a tag, so one test can try several bad values.
    struct Configured<Tag: OptionsTag>: ConveyorTask {
        static var name: String { Tag.name }
        static var options: TaskOptions { Tag.options }
        func run(_ input: Input, context: JobContext) async throws {}
    }

    enum BadPriority: OptionsTag {
        static let name = "bad-priority"
        static var options: TaskOptions { TaskOptions(priority: 12) }
    }
    enum NoAttempts: OptionsTag {
        static let name = "no-attempts"
        static var options: TaskOptions { TaskOptions(maxAttempts: 0) }
    }
    enum NoConcurrency: OptionsTag {
        static let name = "no-concurrency"
        static var options: TaskOptions { TaskOptions(concurrency: 0) }
    }
    enum ZeroTimeout: OptionsTag {
        static let name = "zero-timeout"
        static var options: TaskOptions { TaskOptions(timeout: .zero) }
    }
    enum Fine: OptionsTag {
        static let name = "fine"
        static var options: TaskOptions { TaskOptions(timeout: nil, concurrency: 1, priority: 9, queue: "validation-fine") }
    }

    @Test("building options or a run time out of range does not trap")
    func nothingTraps() async {
        // Before: TaskOptions.init trapped on a priority outside 0...9 or maxAttempts below 1, and an enqueue with a
        // runAt centuries ahead trapped converting it to milliseconds.
        await #expect(processExitsWith: .success) {
            _ = TaskOptions(priority: 10)
            _ = TaskOptions(maxAttempts: 0, priority: -1)
            let client = ConveyorClient(provider: MemoryQueueProvider())
            _ = try? await client.enqueueRaw(
                task: "t", payload: Array("{}".utf8), options: EnqueueOptions(runAt: Date(timeIntervalSince1970: 1e300)))
        }
    }

    @Test("registering a task with invalid options throws invalidConfiguration naming the task and the fix")
    func registrationRejectsInvalidOptions() throws {
        func registrationError<T: ConveyorTask>(_ task: T) -> ConveyorError? {
            var registry = TaskRegistry()
            return #expect(throws: ConveyorError.self) { try registry.register(task) }
        }
        let priority = registrationError(Configured<BadPriority>())
        #expect(priority?.code == .invalidConfiguration)
        #expect(priority?.message == #"task "bad-priority": TaskOptions.priority is 12; use 0 (lowest) to 9 (highest)"#)
        let attempts = registrationError(Configured<NoAttempts>())
        #expect(attempts?.code == .invalidConfiguration)
        #expect(attempts?.message.contains("TaskOptions.maxAttempts is 0; it must be at least 1") == true)
        #expect(registrationError(Configured<NoConcurrency>())?.message.contains("TaskOptions.concurrency is 0") == true)
        #expect(registrationError(Configured<ZeroTimeout>())?.message.contains("TaskOptions.timeout is 0") == true)
        #expect(throws: ConveyorError.self) { try TaskRegistry([Configured<Fine>(), Configured<BadPriority>()]) }

        var registry = TaskRegistry()
        try registry.register(Configured<Fine>())
        #expect(registry.taskNames == ["fine"])
    }

    @Test("enqueueing a task with invalid options throws invalidConfiguration and sends nothing")
    func enqueueRejectsInvalidTaskOptions() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider, logger: testLogger)
        let error = await #expect(throws: ConveyorError.self) {
            try await client.enqueue(Configured<BadPriority>.self, Input(value: 1))
        }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains(#"task "bad-priority""#) == true)
        #expect(try await provider.stats(of: "default") == QueueStats())
    }

    @Test("invalid enqueue options throw invalidParameter naming the option and send nothing")
    func enqueueRejectsInvalidEnqueueOptions() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider, logger: testLogger)
        let cases: [(EnqueueOptions, String)] = [
            (EnqueueOptions(priority: 10), "EnqueueOptions.priority is 10; use 0 (lowest) to 9 (highest)"),
            (EnqueueOptions(priority: -1), "EnqueueOptions.priority is -1"),
            (EnqueueOptions(maxAttempts: 0), "EnqueueOptions.maxAttempts is 0; it must be at least 1"),
            (EnqueueOptions(runAt: Date(timeIntervalSince1970: 1e300)), "is after the year 9999"),
            (EnqueueOptions(runAt: Date(timeIntervalSince1970: .infinity)), "is after the year 9999"),
            (EnqueueOptions(delay: .seconds(Int64.max)), "ends after the year 9999"),
        ]
        for (options, expected) in cases {
            let typed = await #expect(throws: ConveyorError.self) {
                try await client.enqueue(Configured<Fine>.self, Input(value: 1), options: options)
            }
            #expect(typed?.code == .invalidParameter)
            #expect(typed?.message.contains(expected) == true, "\(typed?.message ?? "no error")")
            let raw = await #expect(throws: ConveyorError.self) {
                try await client.enqueueRaw(task: "fine", payload: Array("{}".utf8), options: options)
            }
            #expect(raw?.code == .invalidParameter)
        }
        #expect(try await provider.stats(of: "validation-fine") == QueueStats())
        #expect(try await provider.stats(of: "default") == QueueStats())

        // The bounds themselves are accepted.
        try await client.enqueue(Configured<Fine>.self, Input(value: 1), options: EnqueueOptions(priority: 0, maxAttempts: 1))
        try await client.enqueue(Configured<Fine>.self, Input(value: 2), options: EnqueueOptions(runAt: .distantFuture))
        #expect(try await provider.stats(of: "validation-fine") == QueueStats(ready: 1, delayed: 1))
    }

    @Test("a worker with invalid task option overrides refuses to run")
    func workerRejectsInvalidOverrides() async throws {
        var configuration = Worker.Configuration.test()
        configuration.taskOptionOverrides = ["fine": TaskOptions(priority: 99)]
        let worker = Worker(
            provider: MemoryQueueProvider(), registry: try TaskRegistry([Configured<Fine>()]), configuration: configuration,
            logger: testLogger)
        let error = await #expect(throws: ConveyorError.self) { try await worker.run() }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message == #"Worker.Configuration.taskOptionOverrides["fine"]: TaskOptions.priority is 99; use 0 (lowest) to 9 (highest)"#)
    }
}

protocol OptionsTag: Sendable {
    static var name: String { get }
    static var options: TaskOptions { get }
}
