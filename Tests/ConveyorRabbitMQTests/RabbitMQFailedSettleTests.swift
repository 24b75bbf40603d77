import CRabbitMQ
import Conveyor
import Foundation
import Testing

@testable import ConveyorRabbitMQ

/// `fail` whose copy cannot be published, on a real broker, inside the serialized broker suite.
extension RabbitMQIntegrationTests {

    /// Deletes `queue` on the provider's admin channel without telling its topology cache, as another process
    /// or an operator would.
    static func deleteBehindTheProvidersBack(_ provider: RabbitMQQueueProvider, _ queue: String) async throws {
        try await provider.publisher.connection.perform { c, s throws(ConveyorError) in
            let arena = AMQPArena()
            amqp_queue_delete(s, 2, arena.bytes(queue), 0, 0)
            try c.check(amqp_get_rpc_reply(s), channel: 2, "deleting queue \(queue)")
        }
    }

    /// The dead-letter queue is gone, so the dead-letter copy is returned as unroutable and `fail` throws. The
    /// original must not stay unacknowledged (RabbitMQ has no visibility timeout: with prefetch 1 nothing would
    /// be delivered again until the channel closes): it is requeued and delivered again at once, ahead of the
    /// message behind it, and the next `fail` declares the dead-letter queue again and dead-letters it.
    @Test(.timeLimit(.minutes(1))) func failedSettle_deadLetterPublishFailureRequeuesTheDelivery() async throws {
        try await withQueue("settle-dlq", configure: { $0.prefetch = 1 }) { provider, queue in
            let first = testEnvelope(1)
            let second = testEnvelope(2)
            _ = try await provider.enqueue([OutgoingMessage(envelope: first), OutgoingMessage(envelope: second)], to: queue)
            let m = try #require(try await provider.receive(from: queue, count: 1).first)
            #expect(try m.envelope.get().id == first.id)
            try await Self.deleteBehindTheProvidersBack(provider, RabbitMQTopology.deadLetterQueue(of: queue))

            await #expect {
                try await provider.fail(m, reason: FailureReason(code: "task_error", message: "boom"), retryAfter: nil)
            } throws: { error in
                (error as? ConveyorError)?.code == .notConfirmed
            }
            // The prefetch slot is free again: the requeued delivery comes back.
            let again = try #require(try await provider.receive(from: queue, count: 1, timeout: .seconds(20)).first, "the delivery stayed unacknowledged")
            #expect(try again.envelope.get().id == first.id)
            #expect(again.attempt == 2)

            try await provider.fail(again, reason: FailureReason(code: "task_error", message: "boom"), retryAfter: nil)
            let letters = try await provider.deadLetters(of: queue, limit: 10)
            #expect(letters.count == 1)
            #expect(try letters.first?.envelope.get().id == first.id)
            let next = try #require(try await provider.receive(from: queue, count: 1).first)
            #expect(try next.envelope.get().id == second.id)
            try await provider.acknowledge(next)
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready == 0)
            #expect(stats.inFlight == 0)
        }
    }
}
