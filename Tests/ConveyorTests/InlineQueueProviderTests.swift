@testable import Conveyor
import Testing

@Suite("InlineQueueProvider", .timeLimit(.minutes(1)))
struct InlineQueueProviderTests {
    struct Boom: Error, Equatable {}

    enum Failing: ProbeTag {
        static let name = "failing"
        static var options: TaskOptions { TaskOptions(maxAttempts: 5, backoff: quickBackoff) }
    }

    @Test("enqueue runs the handler at once and returns its output")
    func returnsOutput() async throws {
        let seen = Shared<[Int]>([])
        let registry = try TaskRegistry([Probe<Basic> { input, context in
            seen.withLock { $0.append(context.attempt) }
            return ProbeOutput(doubled: input.value * 2)
        }])
        let client = ConveyorClient(provider: InlineQueueProvider(registry: registry, logger: testLogger))
        let handle = try await client.enqueue(Probe<Basic>.self, ProbeInput(value: 21))
        #expect(handle.output == ProbeOutput(doubled: 42))
        #expect(seen.value == [1])
        let batch = try await client.enqueue(Probe<Basic>.self, [ProbeInput(value: 1), ProbeInput(value: 2)])
        #expect(batch.map(\.output) == [ProbeOutput(doubled: 2), ProbeOutput(doubled: 4)])
    }

    @Test("handler errors are rethrown to the caller, without retries")
    func rethrowsErrors() async throws {
        let calls = Shared(0)
        let registry = try TaskRegistry([Probe<Failing> { _, _ in
            calls.withLock { $0 += 1 }
            throw Boom()
        }])
        let client = ConveyorClient(provider: InlineQueueProvider(registry: registry, logger: testLogger))
        await #expect(throws: Boom.self) {
            try await client.enqueue(Probe<Failing>.self, ProbeInput(value: 1))
        }
        #expect(calls.value == 1)
        await #expect(throws: ConveyorError.self) {
            try await client.enqueueRaw(task: "nope", payload: Array("{}".utf8))
        }
    }

    @Test("close wakes a pending receive, which throws closed; later calls throw closed too")
    func closeWakesPendingReceive() async throws {
        let provider = InlineQueueProvider(registry: try TaskRegistry([Probe<Basic>()]), logger: testLogger)
        let receive = Task { try await provider.receive(from: "inline-close", max: 1, wait: .seconds(3600)) }
        while provider.pendingReceives == 0 { await Task.yield() }
        try await provider.close()
        let error = await #expect(throws: ConveyorError.self) { try await woken(receive, "close did not wake the pending receive") }
        #expect(error?.code == .closed)
        #expect(provider.pendingReceives == 0)
        let later = await #expect(throws: ConveyorError.self) {
            try await provider.receive(from: "inline-close", max: 1, wait: .seconds(3600))
        }
        #expect(later?.code == .closed)
        try await provider.close()  // closing twice is harmless
    }

    @Test("close wakes every pending receive")
    func closeWakesAllReceives() async throws {
        let provider = InlineQueueProvider(registry: try TaskRegistry([Probe<Basic>()]), logger: testLogger)
        let receives = (0..<3).map { index in
            Task { try await provider.receive(from: "inline-close-\(index)", max: 1, wait: .seconds(3600)) }
        }
        while provider.pendingReceives < receives.count { await Task.yield() }
        try await provider.close()
        for receive in receives {
            await #expect(throws: ConveyorError.self) { try await woken(receive, "close did not wake every pending receive") }
        }
    }

    @Test("cancelling a pending receive ends it with no message")
    func cancellationEndsReceive() async throws {
        let provider = InlineQueueProvider(registry: try TaskRegistry([Probe<Basic>()]), logger: testLogger)
        let receive = Task { try await provider.receive(from: "inline-cancel", max: 1, wait: .seconds(3600)) }
        while provider.pendingReceives == 0 { await Task.yield() }
        receive.cancel()
        #expect(try await woken(receive, "cancelling did not end the pending receive").isEmpty)
        #expect(provider.pendingReceives == 0)
        // Still open: a short receive returns no message once its wait has passed.
        #expect(try await provider.receive(from: "inline-cancel", max: 1, wait: .milliseconds(1)).isEmpty)
        try await provider.close()
    }
}
