@testable import Conveyor
import Foundation
import Testing

/// A task routed to a queue that no worker of the process consumes is reported when a worker starts. Each test
/// gives its workers a directory of their own: the workers and clients of other tests run in the same process.
@Suite("Unconsumed task queues", .timeLimit(.minutes(1)))
struct UnconsumedQueueTests {
    struct Input: Codable, Sendable {}

    /// A task on the queue its tag names.
    struct Routed<Tag: QueueTag>: ConveyorTask {
        static var name: String { Tag.name }
        static var options: TaskOptions { TaskOptions(queue: Tag.queue) }
        func run(_ input: Input, context: JobContext) async throws {}
    }

    enum Consumed: QueueTag {
        static let name = "consumed"
        static let queue = "unconsumed-test-a"
    }
    enum Elsewhere: QueueTag {
        static let name = "elsewhere"
        static let queue = "unconsumed-test-b"
    }
    enum OnDefault: QueueTag {
        static let name = "on-default"
        static let queue = "default"
    }

    @Test("tasks whose queue the worker does not consume are listed, with overrides applied")
    func listsUnconsumedQueues() throws {
        let registry = try TaskRegistry([Routed<Consumed>(), Routed<Elsewhere>(), Routed<OnDefault>()])
        var configuration = Worker.Configuration.test()
        configuration.queues = ["unconsumed-test-a", "unconsumed-test-c"]
        let directory = ProcessQueueDirectory()
        let worker = Worker(
            provider: MemoryQueueProvider(), registry: registry, configuration: configuration, logger: testLogger, directory: directory)
        #expect(worker.unconsumedTaskQueues() == ["elsewhere": "unconsumed-test-b", "on-default": "default"])

        configuration.taskOptionOverrides = [
            "elsewhere": TaskOptions(queue: "unconsumed-test-c"),
            "consumed": TaskOptions(queue: "unconsumed-test-d"),
        ]
        let overridden = Worker(
            provider: MemoryQueueProvider(), registry: registry, configuration: configuration, logger: testLogger, directory: directory)
        #expect(overridden.unconsumedTaskQueues() == ["consumed": "unconsumed-test-d", "on-default": "default"])
    }

    @Test("a worker logs each task on an unconsumed queue once at warning when it starts")
    func logsAtStart() async throws {
        let logs = CapturedLogs()
        let registry = try TaskRegistry([Routed<Consumed>(), Routed<Elsewhere>()])
        var configuration = Worker.Configuration.test()
        configuration.queues = ["unconsumed-test-a"]
        let worker = Worker(
            provider: MemoryQueueProvider(), registry: registry, configuration: configuration,
            logger: logs.logger(label: "conveyor.worker.test"), directory: ProcessQueueDirectory())
        let stream = worker.events()
        worker.triggerGracefulShutdown()  // run() starts, reports, and returns at once
        try await worker.run()
        for await _ in stream {}
        let warnings = logs.entries.filter { $0.level == .warning }
        #expect(warnings.map(\.message) == [
            "task elsewhere routes to queue unconsumed-test-b, which this worker does not consume (nor does another worker of this process); add the queue to Worker.Configuration.queues or route the task to a consumed queue"
        ])
        #expect(warnings.first?.metadata["job.task"] == "elsewhere")
        #expect(warnings.first?.metadata["conveyor.queue"] == "unconsumed-test-b")
    }

    @Test("a queue consumed by another running worker of the process is not reported, until that worker stops")
    func otherRunningWorkerCounts() async throws {
        enum Shared: QueueTag {
            static let name = "shared"
            static let queue = "unconsumed-test-other-b"
        }
        let directory = ProcessQueueDirectory()
        let registry = try TaskRegistry([Routed<Shared>()])
        var mine = Worker.Configuration.test()
        mine.queues = ["unconsumed-test-other-a"]
        let worker = Worker(
            provider: MemoryQueueProvider(), registry: registry, configuration: mine, logger: testLogger, directory: directory)
        #expect(worker.unconsumedTaskQueues() == ["shared": "unconsumed-test-other-b"])

        var theirs = Worker.Configuration.test()
        theirs.queues = ["unconsumed-test-other-b"]
        let other = Worker(
            provider: MemoryQueueProvider(), registry: TaskRegistry(), configuration: theirs, logger: testLogger, directory: directory)
        let events = other.events()
        let running = Task { try await other.run() }
        defer { other.triggerGracefulShutdown() }
        // The other worker counts from the moment its run starts; it emits no event until a job, so poll (the
        // sleep ends the loop when the time limit cancels the test).
        while !worker.unconsumedTaskQueues().isEmpty { try await Task.sleep(for: .milliseconds(1)) }
        other.triggerGracefulShutdown()
        try await running.value
        for await _ in events {}
        #expect(worker.unconsumedTaskQueues() == ["shared": "unconsumed-test-other-b"])
    }

    @Test("a task on \"default\" is not reported when a client sends default jobs to a consumed queue")
    func defaultQueueAliasCounts() throws {
        let directory = ProcessQueueDirectory()
        let registry = try TaskRegistry([Routed<OnDefault>()])
        var configuration = Worker.Configuration.test()
        configuration.queues = ["unconsumed-test-alias"]
        let worker = Worker(
            provider: MemoryQueueProvider(), registry: registry, configuration: configuration, logger: testLogger, directory: directory)
        #expect(worker.unconsumedTaskQueues() == ["on-default": "default"])
        directory.noteDefaultQueue("unconsumed-test-elsewhere")
        #expect(worker.unconsumedTaskQueues() == ["on-default": "default"])
        directory.noteDefaultQueue("unconsumed-test-alias")
        #expect(worker.unconsumedTaskQueues().isEmpty)
    }

    @Test("a client tells the process's directory where it sends default jobs, when created and when changed")
    func clientNotesItsDefaultQueue() {
        let first = "unconsumed-test-client-\(UUID().uuidString)"
        let second = "unconsumed-test-client-\(UUID().uuidString)"
        var client = ConveyorClient(provider: MemoryQueueProvider(), logger: testLogger, defaultQueue: first)
        #expect(ProcessQueueDirectory.shared.isDefaultQueueAlias(first))
        #expect(!ProcessQueueDirectory.shared.isDefaultQueueAlias(second))
        client.defaultQueue = second
        #expect(ProcessQueueDirectory.shared.isDefaultQueueAlias(second))
    }
}

protocol QueueTag: Sendable {
    static var name: String { get }
    static var queue: String { get }
}
