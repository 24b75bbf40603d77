import Conveyor
import Foundation
import Testing

@testable import ConveyorRabbitMQ

/// Redrive of more dead letters than one fetch chunk, inside the serialized broker suite.
extension RabbitMQIntegrationTests {

    /// 1 201 dead letters (three fetch chunks of 500): redriving a selection by id moves exactly those, with a
    /// fresh attempt, and puts the others back (the second redrive finds them all); redriving the rest moves them all.
    @Test func redrive_movesSelectionsAcrossFetchChunks() async throws {
        // The prefetch holds every message: they are acknowledged only once all arrived.
        try await withQueue("redrive-chunks", configure: { $0.prefetch = 2000 }) { provider, queue in
            let count = 2 * RabbitMQQueueProvider.redriveChunk + 201
            let envelopes = (0..<count).map { testEnvelope($0) }
            let dlq = RabbitMQTopology.deadLetterQueue(of: queue)
            let publications = envelopes.map { envelope in
                var p = provider.publication(for: envelope, body: EnvelopeCodec.encode(envelope), queue: queue, delay: .zero, attempt: 3)
                p.routingKey = dlq
                return p
            }
            try await provider.publisher.publish(publications)
            #expect(try await provider.stats(of: queue).deadLettered == count)

            let selected = Set(envelopes.enumerated().filter { $0.offset % 3 == 0 }.map(\.element.id))
            #expect(try await provider.redrive(queue, ids: selected) == selected.count)
            let moved = try await provider.receive(from: queue, count: selected.count)
            #expect(Set(moved.compactMap { try? $0.envelope.get().id }) == selected)
            #expect(moved.allSatisfy { $0.attempt == 1 })
            try await provider.acknowledge(moved)

            #expect(try await provider.redrive(queue, ids: nil) == count - selected.count)
            let rest = try await provider.receive(from: queue, count: count - selected.count)
            #expect(Set(rest.compactMap { try? $0.envelope.get().id }) == Set(envelopes.map(\.id)).subtracting(selected))
            try await provider.acknowledge(rest)
            #expect(try await provider.redrive(queue, ids: nil) == 0)
        }
    }
}
