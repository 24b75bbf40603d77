import Conveyor
import ConveyorRabbitMQ
import Foundation
import Testing

extension RabbitMQIntegrationTests {
    /// Prints publish and consume rates (no timed assertion; `conveyor bench` is the benchmark). 20 000 jobs with
    /// 100-byte payloads, persistent, confirmed; consumed with prefetch 100 and an ack per message.
    @Test func throughputReport() async throws {
        let count = Int(RabbitMQTestEnvironment.environment["CONVEYOR_AMQP_BENCH_COUNT"] ?? "") ?? 20_000
        try await withQueue("throughput", configure: { $0.prefetch = 100 }) { provider, queue in
            try await provider.createQueue(queue, options: QueueOptions())
            let payload = Array(("\"" + String(repeating: "x", count: 98) + "\"").utf8)
            let messages = (0..<count).map { _ in OutgoingMessage(envelope: Envelope(task: "bench", payload: payload)) }
            let bodyBytes = EnvelopeCodec.encode(messages[0].envelope).count

            // One call: every message pipelined, one wait for the last confirm.
            let clock = ContinuousClock()
            let half = count / 2
            let t0 = clock.now
            _ = try await provider.enqueue(Array(messages[..<half]), to: queue)
            let single = clock.now - t0

            // Concurrent calls of 100 messages each (what producers do), pipelined together.
            let t1 = clock.now
            try await withThrowingTaskGroup(of: Void.self) { group in
                let chunks = stride(from: half, to: count, by: 100).map { Array(messages[$0..<min($0 + 100, count)]) }
                var iterator = chunks.makeIterator()
                for _ in 0..<16 {
                    guard let chunk = iterator.next() else { break }
                    group.addTask { _ = try await provider.enqueue(chunk, to: queue) }
                }
                while try await group.next() != nil {
                    guard let chunk = iterator.next() else { continue }
                    group.addTask { _ = try await provider.enqueue(chunk, to: queue) }
                }
            }
            let concurrent = clock.now - t1
            #expect(try await provider.stats(of: queue).ready == count)

            let t2 = clock.now
            var consumed = 0
            while consumed < count {
                let batch = try await provider.receive(from: queue, max: 100, wait: .seconds(5))
                if batch.isEmpty { break }
                consumed += batch.count
                try await provider.acknowledge(batch)
            }
            let consume = clock.now - t2
            #expect(consumed == count)
            func rate(_ n: Int, _ d: Duration) -> String { String(format: "%.0f msg/s", Double(n) / d.secondsValue) }
            print("""
                RabbitMQ throughput (\(count) persistent messages, \(payload.count)-byte payload, \(bodyBytes)-byte envelope):
                  publish, one call with confirms:            \(rate(half, single))
                  publish, concurrent calls of 100 (16 tasks): \(rate(count - half, concurrent))
                  consume, prefetch 100, ack per message:      \(rate(consumed, consume))
                """)
        }
    }
}

extension RabbitMQTestEnvironment {
    static var environment: [String: String] { ProcessInfo.processInfo.environment }
}

extension Duration {
    var secondsValue: Double {
        let (s, atto) = components
        return Double(s) + Double(atto) / 1e18
    }
}
