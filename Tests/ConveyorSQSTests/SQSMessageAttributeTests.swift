import Conveyor
import ConveyorSQS
import Foundation
import Testing

/// The SQS message attributes the provider sends (`conveyor.task`, `conveyor.correlation_id`, `traceparent`,
/// `tracestate`) and the trace context it reads back from them.
@Suite("SQS message attributes on LocalStack", .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT: eval \"$(scripts/sqs-test-env.sh)\" starts LocalStack and prints the exports"), .serialized)
struct SQSMessageAttributeTests {
    static let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"

    @Test func sentMessagesCarryTaskCorrelationAndTraceAttributes() async throws {
        try await SQSTestEnvironment.withQueue("attributes") { provider, queue in
            let traced = SQSTestEnvironment.envelope()
            var untraced = SQSTestEnvironment.envelope("test.untraced")
            untraced.traceContext = [:]
            untraced.correlationID = nil
            _ = try await provider.enqueue([OutgoingMessage(envelope: traced), OutgoingMessage(envelope: untraced)], to: queue)

            let url = try await SQSTestEnvironment.queueURL(provider, queue)
            var raw: [String: [String: SQSAPI.MessageAttribute]] = [:]  // message attributes by task
            for _ in 0..<5 where raw.count < 2 {
                let messages = try await provider.client.call(SQSAPI.ReceiveMessage(queueURL: url, maxNumberOfMessages: 10, waitTimeSeconds: 1))
                for message in messages {
                    raw[message.stringAttribute("conveyor.task") ?? "?"] = message.messageAttributes
                    _ = try await provider.client.call(SQSAPI.DeleteMessage(queueURL: url, receiptHandle: message.receiptHandle))
                }
            }
            let tracedAttributes = try #require(raw["test.echo"])
            #expect(tracedAttributes["conveyor.task"]?.dataType == "String")
            #expect(tracedAttributes["conveyor.correlation_id"]?.stringValue == "corr-1")
            #expect(tracedAttributes["traceparent"]?.stringValue == traced.traceContext["traceparent"])
            let untracedAttributes = try #require(raw["test.untraced"])
            #expect(untracedAttributes["traceparent"] == nil)
            #expect(untracedAttributes["conveyor.correlation_id"] == nil)
        }
    }

    @Test func traceAttributesOfAForeignProducerFillBrokerTraceContext() async throws {
        try await SQSTestEnvironment.withQueue("broker-trace") { provider, queue in
            // A producer that sets only the SQS attributes: the envelope itself has no trace context.
            var envelope = SQSTestEnvironment.envelope()
            envelope.traceContext = [:]
            let url = try await SQSTestEnvironment.queueURL(provider, queue)
            _ = try await provider.client.call(SQSAPI.SendMessage(queueURL: url, message: SQSAPI.MessageFields(
                body: String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self),
                attributes: ["traceparent": .string(Self.traceparent), "tracestate": .string("vendor=value")]
            )))
            let message = try #require(try await SQSTestEnvironment.drain(provider, queue, count: 1).first)
            #expect(try message.envelope.get().id == envelope.id)
            #expect(try message.envelope.get().traceContext.isEmpty)
            #expect(message.brokerTraceContext["traceparent"] == Self.traceparent)
            #expect(message.brokerTraceContext["tracestate"] == "vendor=value")
            try await provider.acknowledge(message)
        }
    }

    /// A job holding characters SQS refuses in a message (controls, U+FFFE, U+FFFF) in its id, task, correlation id
    /// and trace context, as a producer's JSON escapes can make it: it is sent (the body escapes them, the
    /// attributes replace them), received as it was, and can be dead-lettered. Before, SQS refused the send, so such
    /// a job could not be retried, hopped or dead-lettered and came back forever. Found by WorkerFuzzTests (SQS,
    /// seed 20251125).
    @Test func jobsHoldingCharactersSQSRefusesAreSentAndDeadLettered() async throws {
        try await SQSTestEnvironment.withQueue("refused-characters") { provider, queue in
            var sent = SQSTestEnvironment.envelope("test.\u{0}task\u{FFFF}")
            sent.id = JobID("job-\u{FFFE}-\u{1}")
            sent.correlationID = "corr-\u{FFFF}\u{7}"
            sent.traceContext = ["traceparent": "00-\u{1F}", "tracestate": "k=\u{FFFE}"]
            sent.headers = ["x-note": "\u{FFFF}"]
            _ = try await provider.enqueue(OutgoingMessage(envelope: sent), to: queue)
            let message = try #require(try await SQSTestEnvironment.drain(provider, queue, count: 1).first)
            let received = try message.envelope.get()
            #expect(received.id == sent.id)
            #expect(received.task == sent.task)
            #expect(received.correlationID == sent.correlationID)
            #expect(received.traceContext == sent.traceContext)
            #expect(received.headers == sent.headers)

            try await provider.fail(message, reason: FailureReason(code: "unknown_task", message: "no task named \"\(sent.task)\""), retryAfter: nil)
            let letters = try await provider.deadLetters(of: queue, limit: 10)
            #expect(letters.count == 1)
            #expect(try letters.first?.envelope.get().id == sent.id)
            #expect(letters.first?.reason.code == "unknown_task")
        }
    }

    @Test func providerSentTraceContextRoundTripsThroughAttributes() async throws {
        try await SQSTestEnvironment.withQueue("trace-roundtrip") { provider, queue in
            let sent = SQSTestEnvironment.envelope()
            var untraced = SQSTestEnvironment.envelope()
            untraced.traceContext = [:]
            _ = try await provider.enqueue([OutgoingMessage(envelope: sent), OutgoingMessage(envelope: untraced)], to: queue)
            let received = try await SQSTestEnvironment.drain(provider, queue, count: 2)
            let byID = Dictionary(uniqueKeysWithValues: received.compactMap { m in (try? m.envelope.get().id).map { ($0, m) } })
            #expect(byID[sent.id]?.brokerTraceContext == ["traceparent": try #require(sent.traceContext["traceparent"])])
            #expect(byID[untraced.id]?.brokerTraceContext == [:])
            try await provider.acknowledge(received)
        }
    }
}
