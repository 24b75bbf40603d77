import Conveyor
import Foundation
import Synchronization
import Testing
import Tracing

/// The W3C ids of a span, kept in its service context.
private struct SpanIDs: Sendable, Hashable {
    var traceID: String
    var spanID: String
}

private enum SpanIDsKey: ServiceContextKey {
    typealias Value = SpanIDs
}

/// One ended span, as the recording tracer saw it.
struct RecordedSpanData: Sendable {
    var name: String
    var kind: SpanKind
    var traceID: String
    var spanID: String
    var parentSpanID: String?
    var attributes: [String: String]
}

/// A tiny W3C Trace Context tracer that records spans whose name mentions `traced-` (this file's tasks), so other
/// tests running in the same process are not affected.
final class RecordingTracer: Tracer, Sendable {
    final class RecordingSpan: Tracing.Span, Sendable {
        let context: ServiceContext
        let kind: SpanKind
        let parentSpanID: String?
        private let tracer: RecordingTracer
        private let state: Mutex<(name: String, attributes: SpanAttributes, ended: Bool)>

        init(name: String, kind: SpanKind, context: ServiceContext, parentSpanID: String?, tracer: RecordingTracer) {
            self.context = context
            self.kind = kind
            self.parentSpanID = parentSpanID
            self.tracer = tracer
            self.state = Mutex((name, [:], false))
        }

        var operationName: String {
            get { state.withLock { $0.name } }
            set { state.withLock { $0.name = newValue } }
        }

        var attributes: SpanAttributes {
            get { state.withLock { $0.attributes } }
            set { state.withLock { $0.attributes = newValue } }
        }

        var isRecording: Bool { state.withLock { !$0.ended } }
        func setStatus(_ status: SpanStatus) {}
        func addEvent(_ event: SpanEvent) {}
        func recordError<Instant: TracerInstant>(_ error: any Error, attributes: SpanAttributes, at instant: @autoclosure () -> Instant) {}
        func addLink(_ link: SpanLink) {}

        func end<Instant: TracerInstant>(at instant: @autoclosure () -> Instant) {
            let snapshot = state.withLock { state -> (String, SpanAttributes)? in
                guard !state.ended else { return nil }
                state.ended = true
                return (state.name, state.attributes)
            }
            guard let (name, attributes) = snapshot, let ids = context[SpanIDsKey.self] else { return }
            var flat: [String: String] = [:]
            attributes.forEach { key, value in
                if case .string(let text) = value { flat[key] = text } else { flat[key] = "\(value)" }
            }
            tracer.record(
                RecordedSpanData(name: name, kind: kind, traceID: ids.traceID, spanID: ids.spanID, parentSpanID: parentSpanID, attributes: flat)
            )
        }
    }

    private let spans = Mutex<[RecordedSpanData]>([])

    var recorded: [RecordedSpanData] { spans.withLock { $0 } }

    fileprivate func record(_ span: RecordedSpanData) {
        guard span.name.contains("traced-") else { return }
        spans.withLock { $0.append(span) }
    }

    func startSpan<Instant: TracerInstant>(
        _ operationName: String,
        context: @autoclosure () -> ServiceContext,
        ofKind kind: SpanKind,
        at instant: @autoclosure () -> Instant,
        function: String,
        file fileID: String,
        line: UInt
    ) -> RecordingSpan {
        var context = context()
        // Spans of other tests in this process stay cheap: no ids, nothing recorded.
        guard operationName.contains("traced-") else {
            return RecordingSpan(name: operationName, kind: kind, context: context, parentSpanID: nil, tracer: self)
        }
        let parent = context[SpanIDsKey.self]
        context[SpanIDsKey.self] = SpanIDs(traceID: parent?.traceID ?? Self.randomHex(16), spanID: Self.randomHex(8))
        return RecordingSpan(name: operationName, kind: kind, context: context, parentSpanID: parent?.spanID, tracer: self)
    }

    func forceFlush() {}

    func inject<Carrier, Inject: Injector>(_ context: ServiceContext, into carrier: inout Carrier, using injector: Inject)
    where Inject.Carrier == Carrier {
        guard let ids = context[SpanIDsKey.self] else { return }
        injector.inject("00-\(ids.traceID)-\(ids.spanID)-01", forKey: "traceparent", into: &carrier)
    }

    func extract<Carrier, Extract: Extractor>(_ carrier: Carrier, into context: inout ServiceContext, using extractor: Extract)
    where Extract.Carrier == Carrier {
        guard let header = extractor.extract(key: "traceparent", from: carrier) else { return }
        let parts = header.split(separator: "-")
        guard parts.count == 4, parts[1].count == 32, parts[2].count == 16 else { return }
        context[SpanIDsKey.self] = SpanIDs(traceID: String(parts[1]), spanID: String(parts[2]))
    }

    static func randomHex(_ bytes: Int) -> String {
        var text = ""
        for _ in 0..<(bytes / 8) {
            let word = String(UInt64.random(in: 1...UInt64.max), radix: 16)
            text += String(repeating: "0", count: 16 - word.count) + word
        }
        return text
    }

    /// The process-wide recording tracer (swift-distributed-tracing bootstraps once per process).
    static let shared: RecordingTracer = {
        let tracer = RecordingTracer()
        InstrumentationSystem.bootstrap(tracer)
        return tracer
    }()
}

private enum TracedParent: ProbeTag {
    static let name = "traced-parent"
    static var options: TaskOptions { TaskOptions(maxAttempts: 3, backoff: quickBackoff) }
}

private enum TracedChild: ProbeTag {
    static let name = "traced-child"
    static var options: TaskOptions { TaskOptions(maxAttempts: 3, backoff: quickBackoff) }
}

private struct TracedBoom: Error {}

@Suite("Tracing")
struct TracingTests {
    @Test("the consumer span continues the producer span (W3C traceparent in the envelope), across retries and child jobs")
    func consumerSpanIsChildOfProducerSpan() async throws {
        let tracer = RecordingTracer.shared
        let provider = MemoryQueueProvider()
        let queue = "tracing-\(UUID().uuidString.prefix(8))"
        let client = ConveyorClient(provider: provider, logger: testLogger, defaultQueue: queue)
        let seen = Shared<[(task: String, attempt: Int, correlationID: String?, traceparent: String?)]>([])
        var registry = TaskRegistry()
        try registry.register(Probe<TracedParent> { input, context in
            seen.withLock { $0.append((context.taskName, context.attempt, context.correlationID, context.envelope.traceContext["traceparent"])) }
            if context.attempt == 1 { throw TracedBoom() }
            try await client.enqueue(Probe<TracedChild>.self, ProbeInput(value: input.value + 1))
            return ProbeOutput(doubled: 0)
        })
        try registry.register(Probe<TracedChild> { _, context in
            seen.withLock { $0.append((context.taskName, context.attempt, context.correlationID, context.envelope.traceContext["traceparent"])) }
            return ProbeOutput(doubled: 0)
        })
        var configuration = Worker.Configuration.test()
        configuration.queues = [queue]
        let worker = Worker(provider: provider, registry: registry, configuration: configuration, logger: testLogger)
        let stream = worker.events()

        let handle = try await withRunningWorker(worker) {
            let handle = try await tracer.withSpan("traced-request", ofKind: .server) { _ in
                try await client.enqueue(Probe<TracedParent>.self, ProbeInput(value: 1))
            }
            await EventLog(stream).wait(for: .succeeded, count: 2)
            return handle
        }

        let spans = tracer.recorded
        let request = try #require(spans.first { $0.name == "traced-request" })
        let producers = spans.filter { $0.name == "conveyor.enqueue traced-parent" }
        let consumers = spans.filter { $0.name == "conveyor.process traced-parent" }
        let childProducer = try #require(spans.first { $0.name == "conveyor.enqueue traced-child" })
        let childConsumer = try #require(spans.first { $0.name == "conveyor.process traced-child" })

        // Producer span under the request span, with the destination.
        let producer = try #require(producers.first)
        #expect(producers.count == 1)
        #expect(producer.kind == .producer)
        #expect(producer.parentSpanID == request.spanID)
        #expect(producer.traceID == request.traceID)
        #expect(producer.attributes["messaging.destination.name"] == queue)

        // One consumer span per attempt, each a child of the producer span.
        #expect(consumers.count == 2)
        for consumer in consumers {
            #expect(consumer.kind == .consumer)
            #expect(consumer.traceID == producer.traceID)
            #expect(consumer.parentSpanID == producer.spanID)
        }

        // The child job's producer span is under the parent's (second) consumer span, and its consumer under it.
        #expect(consumers.contains { $0.spanID == childProducer.parentSpanID })
        #expect(childConsumer.parentSpanID == childProducer.spanID)
        #expect(childConsumer.traceID == request.traceID)

        // The traceparent travelled in the envelope; the correlation id survived the retry and reached the child.
        let records = seen.value
        #expect(records.map { $0.attempt } == [1, 2, 1])
        #expect(records[0].traceparent == "00-\(producer.traceID)-\(producer.spanID)-01")
        #expect(Set(records.map { $0.correlationID }) == [handle.id.rawValue])
    }
}
