import Conveyor
import Foundation
import Testing

/// Messages from foreign or hostile producers go through the whole worker path (decode, hop decision, metrics,
/// handler, settle) without trapping: each runs with the absurd field ignored or is dead-lettered naming the
/// field, and the worker goes on to run the next job. Before the hardening, each case below trapped the process.
@Suite("Hostile messages through the worker", .timeLimit(.minutes(1)))
struct HostileMessageTests {
    /// A body that follows docs/wire-format.md, with `fields` spliced in.
    static func body(_ fields: String, task: String = "basic", payload: String = #"{"value":1,"note":""}"#) -> [UInt8] {
        Array(#"{"v":1,"id":"\#(UUID().uuidString)","task":"\#(task)","payload":\#(payload)\#(fields.isEmpty ? "" : ",")\#(fields)}"#.utf8)
    }

    struct Case: Sendable, CustomTestStringConvertible {
        var name: String
        var fields: String
        /// `true`: the job runs; `false`: it is dead-lettered with this code.
        var runs: Bool
        var deadLetterCode: String? = nil
        var testDescription: String { name }
    }

    static let cases: [Case] = [
        Case(name: "created_at is Go's zero time", fields: #""created_at":"0001-01-01T00:00:00Z""#, runs: true),
        Case(name: "created_at at the end of the range", fields: #""created_at":"9999-12-31T23:59:59.999Z""#, runs: true),
        Case(name: "x-conveyor-hops is Int64.max", fields: #""not_before":"\#(RFC3339.format(Date().addingTimeInterval(1)))","headers":{"x-conveyor-hops":"9223372036854775807"}"#, runs: true),
        Case(name: "x-conveyor-hop-ms is -inf", fields: #""headers":{"x-conveyor-hop-ms":"-inf","x-conveyor-due-ms":"nan"}"#, runs: true),
        Case(name: "x-conveyor-due-ms is 1e300 on a due job", fields: #""not_before":"2000-01-01T00:00:00Z","headers":{"x-conveyor-due-ms":"1e300"}"#, runs: true),
        Case(name: "attempt_offset is Int64.max", fields: #""attempt_offset":9223372036854775807"#, runs: false, deadLetterCode: "malformed_envelope"),
        Case(name: "attempt_offset is 1e300", fields: #""attempt_offset":1e300"#, runs: false, deadLetterCode: "malformed_envelope"),
        // JSON numbers are doubles: 2^63 - 1 reads as 2^63, which is no Int.
        Case(name: "max_attempts is Int64.max", fields: #""max_attempts":9223372036854775807"#, runs: false, deadLetterCode: "malformed_envelope"),
        Case(name: "max_attempts is 2^53 - 1", fields: #""max_attempts":9007199254740991"#, runs: true),
        Case(name: "priority is Int64.max", fields: #""priority":9223372036854775807"#, runs: false, deadLetterCode: "malformed_envelope"),
    ]

    @Test(arguments: cases)
    func hostileFieldsNeitherTrapNorStopTheWorker(_ hostile: Case) async throws {
        // The memory provider stamps its own enqueue time; a broker without one (RabbitMQ without a `timestamp`
        // property) leaves the worker with the envelope's `created_at` only.
        let provider = TransformingProvider(base: MemoryQueueProvider()) { $0.enqueuedAt = nil }
        let ran = Shared<[Int]>([])
        var registry = TaskRegistry()
        try registry.register(Probe<Basic> { input, _ in
            ran.withLock { $0.append(input.value) }
            return ProbeOutput(doubled: 0)
        })
        let worker = Worker(provider: provider, registry: registry, configuration: .test(), logger: testLogger)
        let stream = worker.events()
        try await withRunningWorker(worker) {
            try await provider.base.enqueueRaw(Self.body(hostile.fields), to: "default")
            try await provider.base.enqueueRaw(Self.body("", payload: #"{"value":2,"note":""}"#), to: "default")
            await EventLog(stream).wait(until: { all in
                all.filter { $0.kind == .succeeded || $0.kind == .deadLettered }.count >= 2
            })
        }
        #expect(ran.value.contains(2), "the worker must go on to run the next job")
        if hostile.runs {
            #expect(ran.value.contains(1), "the job must run with the absurd field ignored")
        } else {
            #expect(!ran.value.contains(1))
            let dead = try await provider.base.deadLetters(of: "default", limit: 10)
            #expect(dead.count == 1)
            #expect(dead.first?.reason.code == hostile.deadLetterCode)
        }
    }
}

/// A provider that changes every received message before the worker sees it (e.g. drops the broker's enqueue time).
struct TransformingProvider: QueueProvider {
    let base: MemoryQueueProvider
    let transform: @Sendable (inout ReceivedMessage) -> Void

    var name: String { "transforming-memory" }
    var capabilities: ProviderCapabilities { base.capabilities }
    func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
        try await base.enqueue(messages, to: queue)
    }
    func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        try await base.receive(from: queue, max: max, wait: wait).map { message in
            var message = message
            transform(&message)
            return message
        }
    }
    func acknowledge(_ messages: [ReceivedMessage]) async throws { try await base.acknowledge(messages) }
    func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
        try await base.fail(message, reason: reason, retryAfter: retryAfter)
    }
    func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {
        try await base.extendVisibility(message, by: duration)
    }
    func stats(of queue: String) async throws -> QueueStats { try await base.stats(of: queue) }
    func close() async throws { try await base.close() }
}
