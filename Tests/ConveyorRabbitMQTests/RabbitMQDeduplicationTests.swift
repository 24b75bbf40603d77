import Conveyor
import ConveyorRabbitMQ
import Foundation
import Testing

/// The deduplication window on a real broker, inside the serialized broker suite.
extension RabbitMQIntegrationTests {

    /// The window runs from the first send of a key, as on SQS FIFO, however often the key is sent again within
    /// it. With a 2-s window and a send every 500 ms for three windows: the sends within 2 s of the first are
    /// deduplicated, and a send after that is accepted (and starts the next window). Before, every send declared
    /// the lock queue again, which restarted its `x-expires`, so a key sent more often than the window was
    /// dropped forever.
    @Test(.timeLimit(.minutes(1))) func deduplication_windowRunsFromTheFirstSendNotTheLast() async throws {
        let window: Duration = .seconds(2)
        // The broker's clock counts whole milliseconds.
        let tolerance: Duration = .milliseconds(50)
        try await withQueue("dedup-window", configure: { $0.deduplicationWindow = window }) { provider, queue in
            let key = "slot-\(UUID().uuidString)"
            func send(_ n: Int) async throws -> Bool {
                let envelope = Envelope(task: "t", payload: Array(#"{"n":\#(n)}"#.utf8), deduplicationKey: key)
                return !(try await provider.enqueue(OutgoingMessage(envelope: envelope), to: queue).deduplicated)
            }
            let clock = ContinuousClock()
            // Each accepted send: when it started (its window starts after that) and when it returned.
            var accepted: [(started: ContinuousClock.Instant, returned: ContinuousClock.Instant)] = []
            var deduplicated = 0
            let start = clock.now
            #expect(try await send(0), "the first send of a fresh key was deduplicated")
            accepted.append((start, clock.now))
            var n = 1
            while clock.now - start < window * 3 {
                try await Task.sleep(for: .milliseconds(500))
                let started = clock.now
                if try await send(n) {
                    accepted.append((started, clock.now))
                } else {
                    deduplicated += 1
                }
                n += 1
            }
            #expect(accepted.count >= 2, "only the first send was accepted: the window slid with every send (\(deduplicated) deduplicated)")
            #expect(deduplicated >= 4)
            // Never early: each accepted send came a whole window after the one before it started.
            for (previous, next) in zip(accepted, accepted.dropFirst()) {
                #expect(next.returned - previous.started >= window - tolerance)
            }
            // Only the accepted sends reached the queue.
            let received = try await provider.receive(from: queue, count: accepted.count + 1, timeout: .seconds(3))
            #expect(received.count == accepted.count)
            try await provider.acknowledge(received)
        }
    }
}
