import Conveyor
import Testing

/// Tasks that return nothing implement `run` without a result; tasks written the old way (`-> NoOutput`) and tasks
/// with a result keep working.
@Suite("Tasks without output", .timeLimit(.minutes(1)))
struct OutputlessTaskTests {
    /// The new form: no `-> NoOutput`, no `return NoOutput()`.
    struct Outputless: ConveyorTask {
        struct Input: Codable, Sendable { var value: Int }
        static let name = "outputless"
        let seen: Shared<[Int]>
        func run(_ input: Input, context: JobContext) async throws {
            seen.withLock { $0.append(input.value) }
        }
    }

    /// The old form, which must keep compiling and running.
    struct ReturnsNoOutput: ConveyorTask {
        struct Input: Codable, Sendable { var value: Int }
        static let name = "returns-no-output"
        let seen: Shared<[Int]>
        func run(_ input: Input, context: JobContext) async throws -> NoOutput {
            seen.withLock { $0.append(input.value) }
            return NoOutput()
        }
    }

    /// A task with a result: its output type is inferred from `run`.
    struct Doubles: ConveyorTask {
        struct Input: Codable, Sendable { var value: Int }
        static let name = "doubles"
        let seen: Shared<[Int]>
        func run(_ input: Input, context: JobContext) async throws -> Int {
            seen.withLock { $0.append(input.value) }
            return input.value * 2
        }
    }

    /// Implements neither `run` (the label is misspelt), so only the two defaults are left.
    struct Misspelt: ConveyorTask {
        struct Input: Codable, Sendable { var value: Int }
        static let name = "misspelt"
        func run(_ input: Input, ctx: JobContext) async throws {}
    }

    @Test("a task that returns nothing runs inline and its handle's output is NoOutput")
    func outputlessRunsInline() async throws {
        let seen = Shared<[Int]>([])
        let registry = try TaskRegistry([Outputless(seen: seen), ReturnsNoOutput(seen: seen), Doubles(seen: seen)])
        let client = ConveyorClient(provider: InlineQueueProvider(registry: registry, logger: testLogger))

        let handle = try await client.enqueue(Outputless.self, .init(value: 1))
        let output: NoOutput? = handle.output  // the output type is NoOutput, without declaring it
        #expect(output == NoOutput())
        let old = try await client.enqueue(ReturnsNoOutput.self, .init(value: 2))
        #expect(old.output == NoOutput())
        let doubled = try await client.enqueue(Doubles.self, .init(value: 3))
        #expect(doubled.output == 6)
        #expect(seen.value == [1, 2, 3])
    }

    @Test("a worker runs a task that returns nothing and acknowledges its job")
    func outputlessRunsOnWorker() async throws {
        let seen = Shared<[Int]>([])
        let provider = MemoryQueueProvider()
        let worker = Worker(
            provider: provider, registry: try TaskRegistry([Outputless(seen: seen)]), configuration: .test(), logger: testLogger)
        let stream = worker.events()
        try await withRunningWorker(worker) {
            try await ConveyorClient(provider: provider, logger: testLogger).enqueue(Outputless.self, .init(value: 7))
            await EventLog(stream).wait(for: .succeeded)
        }
        #expect(seen.value == [7])
        #expect(try await provider.stats(of: "default") == QueueStats())
    }

    @Test("both forms of run can be called directly; the one without a result discards the output")
    func directCalls() async throws {
        let seen = Shared<[Int]>([])
        let context = JobContext(envelope: Envelope(task: "t", payload: []), queue: "q", attempt: 1, maxAttempts: 1, logger: testLogger)
        try await Outputless(seen: seen).run(.init(value: 1), context: context)
        let output: NoOutput = try await Outputless(seen: seen).run(.init(value: 2), context: context)
        #expect(output == NoOutput())
        let doubled: Int = try await Doubles(seen: seen).run(.init(value: 3), context: context)
        #expect(doubled == 6)
        try await Doubles(seen: seen).run(.init(value: 4), context: context) as Void
        #expect(seen.value == [1, 2, 3, 4])
    }

    @Test("a task that implements neither run fails its job with invalidConfiguration instead of recursing")
    func neitherRunFails() async throws {
        let registry = try TaskRegistry([Misspelt()])
        let envelope = Envelope(task: Misspelt.name, payload: Array(#"{"value":1}"#.utf8))
        let context = JobContext(envelope: envelope, queue: "q", attempt: 1, maxAttempts: 1, logger: testLogger)
        let error = await #expect(throws: ConveyorError.self) { try await registry.run(context) }
        #expect(error?.code == .invalidConfiguration)
        #expect(error?.message.contains("misspelt") == true)
        #expect(error?.message.contains("implements neither") == true)
    }
}
