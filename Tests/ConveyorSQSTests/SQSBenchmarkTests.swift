import Conveyor
import ConveyorSQS
import Foundation
import Synchronization
import Testing

/// Throughput measurement, not an assertion: run with `CONVEYOR_SQS_BENCH=1` (plus the integration-test
/// environment) and compare with `Benchmarks/sqs_boto3.py` on the same machine.
@Suite("SQS benchmark", .enabled(if: ProcessInfo.processInfo.environment["CONVEYOR_SQS_BENCH"] == "1"))
struct SQSBenchmarkTests {
    static func cpuSeconds() -> Double {
        var usage = rusage()
        getrusage(RUSAGE_SELF.rawValue, &usage)
        return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
    }

    @Test func sendAndDrain() async throws {
        let env = ProcessInfo.processInfo.environment
        let total = Int(env["CONVEYOR_SQS_BENCH_MESSAGES"] ?? "") ?? 10_000
        let senders = Int(env["CONVEYOR_SQS_BENCH_SENDERS"] ?? "") ?? 4
        let pollers = Int(env["CONVEYOR_SQS_BENCH_POLLERS"] ?? "") ?? 4
        try await SQSTestEnvironment.withQueue("bench") { provider, queue in
            let perSender = total / senders
            var clock = ContinuousClock.now
            var cpu = Self.cpuSeconds()
            try await withThrowingTaskGroup(of: Void.self) { group in
                for s in 0..<senders {
                    group.addTask {
                        for start in stride(from: 0, to: perSender, by: 10) {
                            let messages = (start..<min(start + 10, perSender)).map { i in
                                OutgoingMessage(envelope: Envelope(task: "bench.noop", payload: Array(#"{"n":\#(s * perSender + i)}"#.utf8)))
                            }
                            _ = try await provider.enqueue(messages, to: queue)
                        }
                    }
                }
                try await group.waitForAll()
            }
            let sent = perSender * senders
            let sendWall = ContinuousClock.now - clock
            let sendCPU = Self.cpuSeconds() - cpu

            clock = ContinuousClock.now
            cpu = Self.cpuSeconds()
            let drained = try await withThrowingTaskGroup(of: Int.self) { group in
                let remaining = Counter(sent)
                for _ in 0..<pollers {
                    group.addTask {
                        var count = 0
                        var empty = 0
                        while remaining.value.load(ordering: .relaxed) > 0 && empty < 3 {
                            let batch = try await provider.receive(from: queue, max: 10, wait: .seconds(1))
                            if batch.isEmpty { empty += 1; continue }
                            for message in batch { _ = try message.envelope.get() }
                            try await provider.acknowledge(batch)
                            count += batch.count
                            remaining.value.subtract(batch.count, ordering: .relaxed)
                        }
                        return count
                    }
                }
                var sum = 0
                for try await n in group { sum += n }
                return sum
            }
            let drainWall = ContinuousClock.now - clock
            let drainCPU = Self.cpuSeconds() - cpu
            func seconds(_ d: Duration) -> Double { Double(d.components.seconds) + Double(d.components.attoseconds) / 1e18 }
            print(String(format: "conveyor send:  %d msgs, %d senders, %.2f s = %.0f msg/s, client CPU %.1f us/msg",
                         sent, senders, seconds(sendWall), Double(sent) / seconds(sendWall), sendCPU / Double(sent) * 1e6))
            print(String(format: "conveyor drain: %d msgs, %d pollers, %.2f s = %.0f msg/s, client CPU %.1f us/msg",
                         drained, pollers, seconds(drainWall), Double(drained) / seconds(drainWall), drainCPU / Double(max(1, drained)) * 1e6))
            #expect(drained == sent)
        }
    }
}

extension SQSBenchmarkTests {
    /// Enqueue-to-receive latency with an idle long-polling receiver (the provider part of enqueue-to-start).
    @Test func enqueueToReceiveLatency() async throws {
        try await SQSTestEnvironment.withQueue("latency") { provider, queue in
            var samples: [Duration] = []
            for _ in 0..<20 {
                let receiver = Task { try await provider.receive(from: queue, max: 1, wait: .seconds(10)) }
                try await Task.sleep(for: .milliseconds(200))  // the poll is waiting
                let start = ContinuousClock.now
                try await provider.enqueue(OutgoingMessage(envelope: Envelope(task: "bench.noop", payload: Array("{}".utf8))), to: queue)
                let received = try await receiver.value
                samples.append(ContinuousClock.now - start)
                try await provider.acknowledge(received)
            }
            samples.sort()
            print("conveyor enqueue-to-receive (idle long poll): p50 \(samples[samples.count / 2]), p90 \(samples[samples.count * 9 / 10]), max \(samples.last!)")
        }
    }
}

private final class Counter: Sendable {
    let value: Atomic<Int>
    init(_ initial: Int) { value = Atomic(initial) }
}
