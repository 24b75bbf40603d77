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
}
