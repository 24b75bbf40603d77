import CRabbitMQ
import Conveyor
import Foundation
import Testing

@testable import ConveyorRabbitMQ

/// The AMQP properties and headers of what the provider publishes, and the broker trace context it reads back,
/// inside the serialized broker suite. Uses the provider's internals (`@testable`) to publish and fetch raw
/// AMQP messages.
extension RabbitMQIntegrationTests {

    /// Fetches up to `limit` raw messages of `queue` with `basic.get` on the provider's admin channel (left
    /// unacknowledged; they go with the queue).
    private func fetchRaw(_ provider: RabbitMQQueueProvider, _ queue: String, limit: Int) async throws -> [AMQPDelivery] {
        var out: [AMQPDelivery] = []
        let deadline = ContinuousClock.now + .seconds(10)
        while out.count < limit, ContinuousClock.now < deadline {
            let remaining = limit - out.count
            out += try await provider.publisher.connection.perform { c, s throws(ConveyorError) in
                try RabbitMQQueueProvider.fetch(queue, limit: remaining, c, s)
            }
        }
        return out
    }

    /// Published messages are persistent JSON with the job id as `message_id`, the correlation id, the task name
    /// and the envelope's W3C trace context as headers.
    @Test func properties_publishedMessagesCarryTheDocumentedProperties() async throws {
        try await withQueue("properties") { provider, queue in
            let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let traced = Envelope(
                task: "test.traced", payload: Array(#"{"n":1}"#.utf8), correlationID: "corr-traced",
                traceContext: ["traceparent": traceparent, "tracestate": "vendor=abc"]
            )
            let plain = Envelope(task: "test.plain", payload: Array(#"{"n":2}"#.utf8))
            _ = try await provider.enqueue([OutgoingMessage(envelope: traced), OutgoingMessage(envelope: plain)], to: queue)
            let raw = try await fetchRaw(provider, queue, limit: 2)
            #expect(raw.count == 2)
            let byID = Dictionary(raw.map { ($0.messageID ?? "", $0) }, uniquingKeysWith: { a, _ in a })

            let t = try #require(byID[traced.id.rawValue])
            #expect(t.contentType == "application/json")
            #expect(t.deliveryMode == 2)
            #expect(t.correlationID == "corr-traced")
            #expect(t.headers[AMQPHeader.task] == .string("test.traced"))
            #expect(t.headers[AMQPHeader.traceparent] == .string(traceparent))
            #expect(t.headers[AMQPHeader.tracestate] == .string("vendor=abc"))
            #expect(t.headers[AMQPHeader.attempt] == nil)
            #expect(t.timestamp == UInt64(traced.createdAt.timeIntervalSince1970))
            #expect(try EnvelopeCodec.decode(t.body).id == traced.id)

            let p = try #require(byID[plain.id.rawValue])
            #expect(p.contentType == "application/json")
            #expect(p.deliveryMode == 2)
            #expect(p.correlationID == plain.correlationID)
            #expect(p.headers[AMQPHeader.task] == .string("test.plain"))
            #expect(p.headers[AMQPHeader.traceparent] == nil)
            #expect(p.headers[AMQPHeader.tracestate] == nil)
        }
    }

    /// `traceparent`/`tracestate` headers of a message whose envelope has no trace context (e.g. a producer in
    /// another language) become the received message's broker trace context; the envelope's stays empty.
    @Test func traceContext_headersBecomeTheBrokerTraceContext() async throws {
        try await withQueue("broker-trace") { provider, queue in
            let traceparent = "00-0af7651916cd43dd8448eb211c80319c-00f067aa0ba902b7-01"
            let foreign = Envelope(task: "test.foreign", payload: Array("{}".utf8))
            let untraced = Envelope(task: "test.untraced", payload: Array("{}".utf8))
            let withHeaders = provider.publication(
                for: foreign, body: EnvelopeCodec.encode(foreign), queue: queue, delay: .zero, attempt: nil,
                extraHeaders: [
                    AMQPValue.Entry(key: AMQPHeader.traceparent, value: .string(traceparent)),
                    AMQPValue.Entry(key: AMQPHeader.tracestate, value: .string("congo=t61rcWkgMzE")),
                ]
            )
            try await provider.publisher.publish([withHeaders])
            try await provider.enqueue(OutgoingMessage(envelope: untraced), to: queue)

            let received = try await provider.receive(from: queue, count: 2)
            #expect(received.count == 2)
            let byID = Dictionary(received.compactMap { m in (try? m.envelope.get().id).map { ($0, m) } }, uniquingKeysWith: { a, _ in a })
            let f = try #require(byID[foreign.id])
            #expect(try f.envelope.get().traceContext.isEmpty)
            #expect(f.brokerTraceContext == ["traceparent": traceparent, "tracestate": "congo=t61rcWkgMzE"])
            let u = try #require(byID[untraced.id])
            #expect(u.brokerTraceContext.isEmpty)
            try await provider.acknowledge(received)
        }
    }

    /// Values from a job that librabbitmq cannot encode as they are (an id or correlation id over 255 bytes, the
    /// AMQP short-string limit; a task name or trace value larger than a frame) are left out of the properties and
    /// headers, and the job is published: its body carries them. Before, encoding failed, the publisher reconnected
    /// and retried the same publication forever, and every later publish waited behind it. Found by
    /// WorkerFuzzTests (RabbitMQ, seed 20251125).
    @Test(.timeLimit(.minutes(1))) func properties_oversizedJobValuesAreLeftOutOfTheProperties() async throws {
        try await withQueue("oversized-properties") { provider, queue in
            let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
            let longIDs = Envelope(
                id: JobID(String(repeating: "i", count: 256)), task: "test.long-ids", payload: Array("{}".utf8),
                correlationID: String(repeating: "c", count: 300)
            )
            let hugeTask = Envelope(task: "test." + String(repeating: "t", count: 140_000), payload: Array("{}".utf8))
            let hugeTrace = Envelope(
                task: "test.huge-trace", payload: Array("{}".utf8), correlationID: "corr-kept",
                traceContext: ["traceparent": traceparent, "tracestate": String(repeating: "s", count: 140_000)]
            )
            let plain = Envelope(task: "test.plain", payload: Array("{}".utf8))
            let sent = [longIDs, hugeTask, hugeTrace, plain]
            // Bounded: before the fix the first publish never returned.
            let published = await withTaskGroup(of: Bool.self) { group in
                group.addTask { (try? await provider.enqueue(sent.map { OutgoingMessage(envelope: $0) }, to: queue)) != nil }
                group.addTask {
                    try? await Task.sleep(for: .seconds(15))
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
            #expect(published, "the publications were not confirmed within 15 s")
            guard published else { return }

            let raw = try await fetchRaw(provider, queue, limit: sent.count)
            let byID = Dictionary(raw.compactMap { d in (try? EnvelopeCodec.decode(d.body)).map { ($0.id, d) } }, uniquingKeysWith: { a, _ in a })
            #expect(byID.count == sent.count)
            for envelope in sent {
                let body = try byID[envelope.id].map { try EnvelopeCodec.decode($0.body) }
                #expect(body?.task == envelope.task)
                #expect(body?.correlationID == envelope.correlationID)
                #expect(body?.traceContext == envelope.traceContext)
            }
            let l = try #require(byID[longIDs.id])
            #expect(l.messageID == nil)
            #expect(l.correlationID == nil)
            #expect(l.headers[AMQPHeader.task] == .string("test.long-ids"))
            let t = try #require(byID[hugeTask.id])
            #expect(t.messageID == hugeTask.id.rawValue)
            #expect(t.headers[AMQPHeader.task] == nil)
            let h = try #require(byID[hugeTrace.id])
            #expect(h.correlationID == "corr-kept")
            #expect(h.headers[AMQPHeader.task] == .string("test.huge-trace"))
            #expect(h.headers[AMQPHeader.traceparent] == .string(traceparent))
            #expect(h.headers[AMQPHeader.tracestate] == nil)
            #expect(byID[plain.id]?.headers[AMQPHeader.task] == .string("test.plain"))
        }
    }

    /// A message whose headers hold an entry with an empty key, which RabbitMQ passes on as a producer published
    /// it, is received, and listed when it is a dead letter. librabbitmq's `amqp_read_message` refused to copy such
    /// properties and left the body unread: the consumer dropped its connection, the broker redelivered the message
    /// first to the next one, and no message of the queue was received again. Found by WorkerFuzzTests (RabbitMQ,
    /// raw publishes with odd header keys).
    @Test(.timeLimit(.minutes(1))) func properties_aHeaderWithAnEmptyKeyDoesNotStopTheConsumer() async throws {
        try await withQueue("empty-header-key") { provider, queue in
            let plain = Envelope(task: "test.plain", payload: Array("{}".utf8))
            let odd = Envelope(task: "test.odd", payload: Array(#"{"n":1}"#.utf8))
            let dead = Envelope(task: "test.dead", payload: Array(#"{"n":2}"#.utf8))
            // The provider declares the queue and its dead-letter queue.
            try await provider.enqueue(OutgoingMessage(envelope: plain), to: queue)
            // Published raw on the admin channel: Conveyor's publisher never writes such headers.
            let targets = [(queue, EnvelopeCodec.encode(odd)), (RabbitMQTopology.deadLetterQueue(of: queue), EnvelopeCodec.encode(dead))]
            _ = try await provider.publisher.connection.perform { c, s throws(ConveyorError) in
                let arena = AMQPArena()
                var properties = amqp_basic_properties_t()
                properties.headers = arena.table([("", .string("empty key")), ("nested", .table([("", .int(1))])), ("k", .string("v"))])
                properties._flags = amqp_flags_t(conveyor_flag_headers)
                for (target, body) in targets {
                    let rc = amqp_basic_publish(s, 2, arena.bytes(""), arena.bytes(target), 0, 0, &properties, arena.bytes(body))
                    try c.check(status: rc, "publishing to \(target)")
                }
                return try RabbitMQQueueProvider.count(queue, c, s)
            }
            let received = try await provider.receive(from: queue, count: 2, timeout: .seconds(10))
            #expect(Set(received.compactMap { try? $0.envelope.get().id }) == [plain.id, odd.id])
            let oddMessage = received.first { (try? $0.envelope.get().id) == odd.id }
            #expect(oddMessage?.attempt == 1)
            try await provider.acknowledge(received)

            let letters = try await provider.deadLetters(of: queue, limit: 10)
            #expect(letters.compactMap { try? $0.envelope.get().id } == [dead.id])
        }
    }
}
