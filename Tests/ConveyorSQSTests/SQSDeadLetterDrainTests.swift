import Conveyor
import ConveyorSQS
import Foundation
import Testing

/// `deadLetters`, `redrive` and `purgeDeadLetters` drain the dead-letter queue until a long poll comes back empty,
/// against a fake SQS fleet whose short polls sometimes come back empty while messages remain.
@Suite("SQS dead-letter draining (fake SQS fleet)", .timeLimit(.minutes(1)))
struct SQSDeadLetterFleetTests {
    static let count = 35

    /// A fleet with `count` envelopes in `orders-dlq`, and a provider pointed at it.
    static func fleet() throws -> (FakeSQSFleet, SQSQueueProvider, [Envelope]) {
        let fleet = try FakeSQSFleet()
        let envelopes = (0..<count).map { i in Envelope(task: "test.dead", payload: Array(#"{"n":\#(i)}"#.utf8)) }
        fleet.store(envelopes, in: "orders-dlq")
        let provider = try SQSQueueProvider(configuration: SQSQueueProvider.Configuration(
            endpoint: "http://127.0.0.1:\(fleet.server.port)",
            credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKIDTEST", secretAccessKey: "test-secret")),
            retryPolicy: .none
        ))
        return (fleet, provider, envelopes)
    }

    @Test func listingFindsEveryDeadLetterAndLeavesThemVisible() async throws {
        let (fleet, provider, envelopes) = try Self.fleet()
        defer { fleet.stop() }
        let letters = try await provider.deadLetters(of: fleet.url("orders"), limit: 100)
        try await provider.close()
        #expect(letters.count == Self.count)
        #expect(Set(letters.compactMap { try? $0.envelope.get().id }) == Set(envelopes.map(\.id)))
        // Listing is not destructive: all are still there, visible again.
        let left = fleet.messages(in: "orders-dlq")
        #expect(left.count == Self.count)
        #expect(left.allSatisfy { $0.visible })
    }

    @Test func purgeDeletesEveryDeadLetter() async throws {
        let (fleet, provider, _) = try Self.fleet()
        defer { fleet.stop() }
        let deleted = try await provider.purgeDeadLetters(of: fleet.url("orders"))
        try await provider.close()
        #expect(deleted == Self.count)
        #expect(fleet.messages(in: "orders-dlq").isEmpty)
    }

    @Test func redriveMovesEveryDeadLetter() async throws {
        let (fleet, provider, envelopes) = try Self.fleet()
        defer { fleet.stop() }
        let moved = try await provider.redrive(fleet.url("orders"), ids: nil)
        try await provider.close()
        #expect(moved == Self.count)
        #expect(fleet.messages(in: "orders-dlq").isEmpty)
        let back = fleet.messages(in: "orders").compactMap { try? EnvelopeCodec.decode(Array($0.body.utf8)).id }
        #expect(back.count == Self.count)
        #expect(Set(back) == Set(envelopes.map(\.id)))
    }

    @Test func redriveOfSelectedIDsMovesExactlyThoseAndLeavesTheRestVisible() async throws {
        let (fleet, provider, envelopes) = try Self.fleet()
        defer { fleet.stop() }
        let selected = Set(envelopes.suffix(12).map(\.id))  // the last ones, beyond the first receives
        let moved = try await provider.redrive(fleet.url("orders"), ids: selected)
        try await provider.close()
        #expect(moved == 12)
        let back = fleet.messages(in: "orders").compactMap { try? EnvelopeCodec.decode(Array($0.body.utf8)).id }
        #expect(Set(back) == selected)
        let left = fleet.messages(in: "orders-dlq")
        #expect(left.count == Self.count - 12)
        #expect(left.allSatisfy { $0.visible })
    }
}

/// The same on LocalStack, with more dead letters than one receive returns.
@Suite("SQS dead-letter draining on LocalStack", .enabled(if: SQSTestEnvironment.enabled), .serialized, .timeLimit(.minutes(1)))
struct SQSDeadLetterDrainTests {
    static let count = 37

    /// Puts `count` fresh envelopes straight into the dead-letter queue of `queue`.
    static func fillDeadLetterQueue(_ provider: SQSQueueProvider, _ queue: String) async throws -> [Envelope] {
        let envelopes = (0..<count).map { i in SQSTestEnvironment.envelope(payload: #"{"n":\#(i)}"#) }
        _ = try await provider.enqueue(envelopes.map { OutgoingMessage(envelope: $0) }, to: queue + "-dlq")
        return envelopes
    }

    @Test func listRedriveAndPurgeHandleEveryDeadLetter() async throws {
        try await SQSTestEnvironment.withQueue("drain") { provider, queue in
            let envelopes = try await Self.fillDeadLetterQueue(provider, queue)
            let ids = Set(envelopes.map(\.id))

            let letters = try await provider.deadLetters(of: queue, limit: 100)
            #expect(letters.count == Self.count)
            #expect(Set(letters.compactMap { try? $0.envelope.get().id }) == ids)
            // Listing again finds them all again (they were made visible).
            #expect(try await provider.deadLetters(of: queue, limit: 100).count == Self.count)

            let selected = Set(envelopes.prefix(5).map(\.id))
            #expect(try await provider.redrive(queue, ids: selected) == 5)
            #expect(try await provider.redrive(queue, ids: nil) == Self.count - 5)
            let back = try await SQSTestEnvironment.drain(provider, queue, count: Self.count)
            #expect(SQSTestEnvironment.ids(back) == ids)
            #expect(back.count == Self.count)

            // Dead-letter them all again, then purge.
            _ = try await provider.enqueue(envelopes.map { OutgoingMessage(envelope: $0) }, to: queue + "-dlq")
            try await provider.acknowledge(back)
            #expect(try await provider.purgeDeadLetters(of: queue) == Self.count)
            #expect(try await provider.deadLetters(of: queue, limit: 100).isEmpty)
        }
    }
}
