import Conveyor
import Testing

@Suite("TaskRegistry")
struct TaskRegistryTests {
    @Test("registering two tasks with one name throws duplicateTask")
    func duplicateName() throws {
        var registry = TaskRegistry()
        try registry.register(Probe<Basic>())
        #expect(throws: ConveyorError.self) { try registry.register(Probe<Basic>()) }
        do {
            try registry.register(Probe<Basic>())
        } catch let error as ConveyorError {
            #expect(error.code == .duplicateTask)
            #expect(error.message.contains("basic"))
        }
        #expect(registry.taskNames == ["basic"])
        #expect(throws: ConveyorError.self) { try TaskRegistry([Probe<Basic>(), Probe<Basic>()]) }
    }

    @Test("a payload that does not decode names the task and the coding path")
    func decodeFailure() async throws {
        let registry = try TaskRegistry([Probe<Basic>()])
        let envelope = Envelope(task: "basic", payload: Array(#"{"value":"seven"}"#.utf8))
        let context = JobContext(envelope: envelope, queue: "q", attempt: 1, maxAttempts: 1, logger: testLogger)
        do {
            _ = try await registry.run(context)
            Issue.record("expected a decoding error")
        } catch let error as ConveyorError {
            #expect(error.code == .payloadDecodingFailed)
            #expect(error.message.hasPrefix("basic: "))
            #expect(error.message.contains("value"))
            #expect(!error.isRetryable)
        }
    }
}
