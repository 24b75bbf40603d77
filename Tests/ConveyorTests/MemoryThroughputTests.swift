import Conveyor
import Foundation
import Testing

/// A quick throughput check of the memory provider's hot path (enqueue → receive batch → acknowledge batch).
/// It prints figures and asserts only that every job arrived; timing belongs to `conveyor bench`. Debug
/// builds are several times slower than release builds.
@Suite("Memory provider throughput")
struct MemoryThroughputTests {
    @Test func enqueueReceiveAcknowledge() async throws {
        let jobs = 20_000
        let batch = 100
        let provider = MemoryQueueProvider()
        let template = Envelope(task: "bench.noop", payload: Array("{}".utf8))
        let envelopes = (0..<jobs).map { _ in
            var envelope = template
            envelope.id = JobID.random()
            return envelope
        }

        let start = ContinuousClock.now
        let consumer = Task {
            var received = 0
            while received < jobs {
                let messages = try await provider.receive(from: "bench", max: batch, wait: .seconds(5))
                guard !messages.isEmpty else { break }
                received += messages.count
                try await provider.acknowledge(messages)
            }
            return received
        }
        var index = 0
        while index < jobs {
            let end = min(index + batch, jobs)
            _ = try await provider.enqueue(envelopes[index..<end].map { OutgoingMessage(envelope: $0) }, to: "bench")
            index = end
        }
        let enqueued = ContinuousClock.now - start
        let received = try await consumer.value
        let total = ContinuousClock.now - start
        #expect(received == jobs)
        #expect(try await provider.stats(of: "bench") == QueueStats())
        let enqueueRate = Double(jobs) / enqueued.seconds
        let endToEndRate = Double(jobs) / total.seconds
        print("memory provider: \(jobs) jobs, batches of \(batch): enqueue \(Int(enqueueRate))/s, end to end \(Int(endToEndRate))/s")
    }
}
