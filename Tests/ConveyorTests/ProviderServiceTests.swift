import Conveyor
import ServiceLifecycle
import Testing

/// The memory provider, recording acknowledgements and the close, in order.
private struct CallRecordingProvider: QueueProvider {
    let base = MemoryQueueProvider()
    let calls = Shared<[String]>([])

    var name: String { "call-recording-memory" }
    var capabilities: ProviderCapabilities { base.capabilities }
    func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
        try await base.enqueue(messages, to: queue)
    }
    func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        try await base.receive(from: queue, max: max, wait: wait)
    }
    func acknowledge(_ messages: [ReceivedMessage]) async throws {
        calls.withLock { $0.append("acknowledge") }
        try await base.acknowledge(messages)
    }
    func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
        try await base.fail(message, reason: reason, retryAfter: retryAfter)
    }
    func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {
        try await base.extendVisibility(message, by: duration)
    }
    func stats(of queue: String) async throws -> QueueStats { try await base.stats(of: queue) }
    func close() async throws {
        calls.withLock { $0.append("close") }
        try await base.close()
    }
}

@Suite("Providers as services", .timeLimit(.minutes(1)))
struct ProviderServiceTests {
    @Test("a provider listed before the worker in a ServiceGroup closes after the worker has drained")
    func closesAfterTheWorker() async throws {
        let provider = CallRecordingProvider()
        let client = ConveyorClient(provider: provider, logger: testLogger)
        let release = Shared(false)
        var registry = TaskRegistry()
        try registry.register(Probe<Basic> { input, _ in
            // Still running when the shutdown begins: the worker must settle it before the provider closes.
            while !release.value { try await Task.sleep(for: .milliseconds(5)) }
            return ProbeOutput(doubled: input.value * 2)
        })
        let worker = Worker(provider: provider, registry: registry, configuration: .test(), logger: testLogger)
        let stream = worker.events()
        let group = ServiceGroup(services: [provider, worker], logger: testLogger)
        try await withThrowingTaskGroup(of: Void.self) { tasks in
            tasks.addTask { try await group.run() }
            try await client.enqueue(Probe<Basic>.self, ProbeInput(value: 1))
            let events = EventLog(stream)
            await events.wait(for: .started)
            await group.triggerGracefulShutdown()
            release.withLock { $0 = true }
            await events.wait(for: .succeeded)
            try await tasks.waitForAll()
        }
        // The job was acknowledged before the provider closed, and the provider is closed now.
        #expect(provider.calls.value == ["acknowledge", "close"])
        let error = await #expect(throws: ConveyorError.self) {
            try await client.enqueue(Probe<Basic>.self, ProbeInput(value: 2))
        }
        #expect(error?.code == .closed)
    }

    @Test("a provider run on its own closes when its task is cancelled")
    func closesOnCancellation() async throws {
        let provider = MemoryQueueProvider()
        let running = Task { try await provider.run() }
        running.cancel()
        try await running.value
        let error = await #expect(throws: ConveyorError.self) {
            _ = try await provider.receive(from: "default", max: 1, wait: .zero)
        }
        #expect(error?.code == .closed)
    }
}
