import Conveyor
import Testing

@Suite("InlineQueueProvider")
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
}
