import Conveyor
import ConveyorSQS
import Foundation
import Testing

/// Batched visibility changes (`ChangeMessageVisibilityBatch`): heartbeats and releases.
@Suite("SQS visibility batches on LocalStack", .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT: eval \"$(scripts/sqs-test-env.sh)\" starts LocalStack and prints the exports"), .serialized)
struct SQSVisibilityTests {
    @Test func batchExtensionKeepsMessagesInvisibleThenZeroBringsThemBack() async throws {
        // Receives ask for 3 s; the extension must outlast that.
        try await SQSTestEnvironment.withQueue("batch-extend", configure: { $0.visibilityTimeout = .seconds(3) }) { provider, queue in
            let sent = (0..<12).map { i in OutgoingMessage(envelope: SQSTestEnvironment.envelope(payload: #"{"n":\#(i)}"#)) }
            _ = try await provider.enqueue(sent, to: queue)
            let received = try await SQSTestEnvironment.drain(provider, queue, count: 12)
            #expect(received.count == 12)
            #expect(SQSTestEnvironment.ids(received) == Set(sent.map(\.envelope.id)))

            try await provider.extendVisibility(received, by: .seconds(120))
            try await Task.sleep(for: .seconds(4))  // past the receive's own 3 s
            #expect(try await provider.receive(from: queue, max: 10, wait: .seconds(1)).isEmpty)

            try await provider.extendVisibility(received, by: .zero)
            let back = try await SQSTestEnvironment.drain(provider, queue, count: 12)
            #expect(SQSTestEnvironment.ids(back) == Set(sent.map(\.envelope.id)))
            #expect(back.allSatisfy { $0.attempt == 2 })
            try await provider.acknowledge(back)
        }
    }

    @Test func batchExtensionIgnoresStaleReceipts() async throws {
        try await SQSTestEnvironment.withQueue("batch-extend-stale") { provider, queue in
            let (_, received) = try await SQSTestEnvironment.sendAndReceive(provider, queue, count: 3)
            #expect(received.count == 3)
            // Two of them are acknowledged meanwhile (their jobs finished): extending all three must not throw.
            try await provider.acknowledge(Array(received.prefix(2)))
            try await provider.extendVisibility(received, by: .seconds(60))
            // A single stale receipt goes through ChangeMessageVisibility and is ignored too.
            try await provider.extendVisibility([received[0]], by: .seconds(60))
            let bogus = SQSTestEnvironment.messageWithBogusReceipt(in: queue)
            try await provider.extendVisibility([bogus, received[2]], by: .seconds(60))
            try await provider.acknowledge([received[2]])
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready + stats.inFlight == 0)
        }
    }

    @Test func releaseMakesMessagesAvailableAtOnce() async throws {
        // The default receive visibility (30 s) would keep them hidden for the whole test without the release.
        try await SQSTestEnvironment.withQueue("release") { provider, queue in
            let (sent, received) = try await SQSTestEnvironment.sendAndReceive(provider, queue, count: 12)
            #expect(received.count == 12)
            let releasing: any ReleasingQueueProvider = provider
            try await releasing.release(received)
            let back = try await SQSTestEnvironment.drain(provider, queue, count: 12)
            #expect(SQSTestEnvironment.ids(back) == Set(sent.map(\.envelope.id)))
            // SQS counts the release's receive: the next delivery is attempt 2.
            #expect(back.allSatisfy { $0.attempt == 2 })

            // One message (ChangeMessageVisibility), then stale receipts, which are ignored.
            let one = try #require(back.first)
            try await provider.release([one])
            let again = try await SQSTestEnvironment.drain(provider, queue, count: 1)
            #expect(SQSTestEnvironment.ids(again) == [try one.envelope.get().id])
            try await provider.acknowledge(again + back.dropFirst())
            try await provider.release(received)
            try await provider.release([one])
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready + stats.inFlight == 0)
        }
    }
}
