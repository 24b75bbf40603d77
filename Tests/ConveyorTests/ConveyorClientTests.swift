import Conveyor
import Foundation
import Testing

@Suite("ConveyorClient")
struct ConveyorClientTests {
    enum Routed: ProbeTag {
        static let name = "routed"
        static var options: TaskOptions { TaskOptions(maxAttempts: 2, priority: 3, queue: "mail") }
    }

    @Test("the envelope carries the payload, options and a correlation id")
    func envelopeFields() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider, logger: testLogger)
        let handle = try await client.enqueue(
            Probe<Basic>.self,
            ProbeInput(value: 5),
            options: .init(priority: 7, deduplicationKey: "k1", maxAttempts: 9)
        )
        #expect(handle.queue == "default")
        #expect(handle.output == nil)
        let received = try await provider.receive(from: "default", max: 10, wait: .zero)
        let envelope = try #require(try received.first?.envelope.get())
        #expect(envelope.id == handle.id)
        #expect(envelope.task == "basic")
        #expect(try JSONDecoder().decode(ProbeInput.self, from: Data(envelope.payload)) == ProbeInput(value: 5))
        #expect(envelope.correlationID == handle.id.rawValue)
        #expect(envelope.deduplicationKey == "k1")
        #expect(envelope.priority == 7)
        #expect(envelope.maxAttempts == 9)
        #expect(envelope.notBefore == nil)
    }

    @Test("task options choose queue and priority; defaultQueue replaces the queue named default")
    func routing() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider, logger: testLogger, defaultQueue: "staging")
        let routed = try await client.enqueue(Probe<Routed>.self, ProbeInput(value: 1), options: .init(correlationID: "c-1"))
        let basic = try await client.enqueue(Probe<Basic>.self, ProbeInput(value: 1))
        let explicit = try await client.enqueue(Probe<Basic>.self, ProbeInput(value: 1), options: .init(queue: "other"))
        #expect(routed.queue == "mail")
        #expect(basic.queue == "staging")
        #expect(explicit.queue == "other")
        let envelope = try #require(try await provider.receive(from: "mail", max: 1, wait: .zero).first?.envelope.get())
        #expect(envelope.priority == 3)
        #expect(envelope.correlationID == "c-1")
    }

    enum Grouped: ProbeTag {
        static let name = "grouped"
        static var options: TaskOptions { TaskOptions(groupID: "tenant-7") }
    }

    @Test("the task's groupID is the message group unless the enqueue options name one")
    func groupID() async throws {
        let provider = RecordingMemoryProvider()
        let client = ConveyorClient(provider: provider, logger: testLogger)
        _ = try await client.enqueue(Probe<Grouped>.self, ProbeInput(value: 1))
        _ = try await client.enqueue(Probe<Grouped>.self, [ProbeInput(value: 2), ProbeInput(value: 3)], options: .init(groupID: "explicit"))
        _ = try await client.enqueue(Probe<Basic>.self, ProbeInput(value: 4))
        _ = try await client.enqueueRaw(task: "grouped", payload: Array(#"{"value":5}"#.utf8))
        _ = try await client.enqueueRaw(task: "grouped", payload: Array(#"{"value":6}"#.utf8), options: .init(groupID: "raw"))
        #expect(provider.groups == ["tenant-7", "explicit", "explicit", nil, nil, "raw"])
        #expect(try await provider.stats(of: "default").ready == 6)
    }

    @Test("batch enqueue returns one handle per input, in order")
    func batch() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider, logger: testLogger)
        let handles = try await client.enqueue(Probe<Basic>.self, (0..<5).map { ProbeInput(value: $0) })
        #expect(handles.count == 5)
        #expect(Set(handles.map(\.id)).count == 5)
        #expect(try await provider.stats(of: "default").ready == 5)
        await #expect(throws: ConveyorError.self) {
            try await client.enqueue(Probe<Basic>.self, [ProbeInput(value: 1), ProbeInput(value: 2)], options: .init(jobID: "same"))
        }
    }

    @Test("enqueueRaw checks the payload and uses the default queue")
    func raw() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider, logger: testLogger)
        let result = try await client.enqueueRaw(task: "basic", payload: Array(#"{"value":3}"#.utf8), options: .init(priority: 2))
        let envelope = try #require(try await provider.receive(from: "default", max: 1, wait: .zero).first?.envelope.get())
        #expect(envelope.id == result.jobID)
        #expect(envelope.priority == 2)
        await #expect(throws: ConveyorError.self) { try await client.enqueueRaw(task: "basic", payload: Array("{nope".utf8)) }
        await #expect(throws: ConveyorError.self) { try await client.enqueueRaw(task: "basic", payload: []) }
        await #expect(throws: ConveyorError.self) { try await client.enqueueRaw(task: "", payload: Array("{}".utf8)) }
    }

    @Test("a runAt beyond the provider's native delay sets notBefore and sends the capped delay")
    func runAtBeyondNativeDelay() async throws {
        let provider = RecordingMemoryProvider(maximumNativeDelay: .seconds(1))
        let client = ConveyorClient(provider: provider, logger: testLogger)
        let runAt = Date().addingTimeInterval(3600)
        try await client.enqueue(Probe<Basic>.self, ProbeInput(value: 1), options: .init(runAt: runAt))
        #expect(provider.longestDelay == .seconds(1))
        #expect(try await provider.stats(of: "default").delayed == 1)
    }
}
