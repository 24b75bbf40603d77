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

    /// A redrive keeps its fetched dead letters unsettled across turns of the publisher thread. Listing dead letters
    /// and reading cancellation markers in between, on the same provider, must not settle those (they once put back
    /// with one multiple `basic.nack`, which also requeued the redrive's messages: its ack then failed with
    /// "PRECONDITION_FAILED - unknown delivery tag", seen when the conformance cases ran concurrently over TLS).
    @Test func redrive_survivesConcurrentListingsAndMarkerReads() async throws {
        try await withQueue("redrive-concurrent", configure: { $0.prefetch = 2000 }) { provider, queue in
            let count = 3 * RabbitMQQueueProvider.redriveChunk + 1
            let dlq = RabbitMQTopology.deadLetterQueue(of: queue)
            let publications = (0..<count).map { index in
                let envelope = testEnvelope(index)
                var p = provider.publication(for: envelope, body: EnvelopeCodec.encode(envelope), queue: queue, delay: .zero, attempt: 3)
                p.routingKey = dlq
                return p
            }
            try await provider.publisher.publish(publications)
            try await ConveyorClient(provider: provider).cancel(["marker"], in: queue)
            let redriving = Task { try await provider.redrive(queue, ids: nil) }
            let reading = Task {
                while !Task.isCancelled {
                    _ = try await provider.deadLetters(of: queue, limit: 3)
                    provider.cancellationReadings.withLock { $0 = [:] }  // read the markers again each time
                    _ = try await provider.cancellations(in: queue)
                }
            }
            let moved = try await redriving.value
            reading.cancel()
            _ = try? await reading.value
            #expect(moved == count)
            let received = try await provider.receive(from: queue, count: count)
            #expect(received.count == count)
            try await provider.acknowledge(received)
        }
    }
}
