import Conveyor
import ConveyorSQS
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Faults {
    /// A fault-injecting proxy (Resources/sqs_fault_proxy.py) between Conveyor and LocalStack answers a share of
    /// the requests with 500, 503 or ThrottlingException, drops connections before or after forwarding, or answers
    /// slowly. The producer (in process) and a `conveyor worker` both go through it: retries succeed, every job
    /// runs, and the duplicates that dropped-after-forwarding sends cause are counted and printed.
    @Suite("SQS endpoint faults", .timeLimit(.minutes(5)))
    struct SQSEndpointFaultTests {
        @Test("5xx, throttling, dropped connections and slow answers: retries succeed, nothing lost", .enabled(if: ReliabilityEnvironment.sqsEnabled, ReliabilityEnvironment.sqsMissing))
        func faultyEndpoint() async throws {
            let endpoint = try ReliabilityEnvironment.requireSQSEndpoint()
            let direct = try ReliabilityEnvironment.sqsProvider(endpoint: endpoint)
            let stats = temporaryFile("proxy-stats")
            defer { try? FileManager.default.removeItem(atPath: stats) }
            let seed = UInt64.random(in: 1...1_000_000)
            let proxy = try ChildProcess(
                "/usr/bin/env",
                ["python3", try ReliabilityEnvironment.resource("sqs_fault_proxy.py"), "--upstream", endpoint, "--stats", stats, "--rate", "0.2", "--seed", "\(seed)"])
            defer { proxy.cleanUp() }
            var port = 0
            _ = try await eventually(timeout: .seconds(20)) {
                port = Int(proxy.stdout.split(separator: "\n").first.map(String.init) ?? "") ?? 0
                return port > 0
            }
            try #require(port > 0, "the fault proxy did not start: \(proxy.stderr.suffix(800))")
            let proxied = "http://127.0.0.1:\(port)"
            print("SQS fault proxy on \(proxied), seed \(seed)")

            try await withTestQueue("proxy", provider: direct, options: QueueOptions(maxReceiveCount: 100, visibilityTimeout: .seconds(5))) { queue in
                let producer = try ReliabilityEnvironment.sqsProvider(endpoint: proxied) { $0.retryPolicy = SQSRetryPolicy(maxAttempts: 10) }
                let record = temporaryFile("proxy")
                defer { try? FileManager.default.removeItem(atPath: record) }
                let worker = try startRecordingWorker(.sqs(endpoint: proxied, visibility: 5), queue: queue, record: record)
                defer { worker.cleanUp() }
                var ids: [String] = []
                var failedBatches = 0
                var n = 0
                while n < 1000 {
                    do {
                        ids += try await producer.enqueue(RecordJobs.envelopes(n..<(n + 10)), to: queue).map(\.jobID.rawValue)
                    } catch {
                        failedBatches += 1
                        print("enqueue failed despite retries: \(error)")
                    }
                    n += 10
                }
                #expect(failedBatches == 0, "\(failedBatches) enqueue batches failed despite 10 attempts each")
                let all = Set(ids)
                let done = try await eventually(timeout: .seconds(150)) {
                    Set(RecordLog(path: record).counts.keys).isSuperset(of: all)
                }
                #expect(worker.isRunning, "the worker died: \(worker.stderr.suffix(2000))")
                worker.signal(SIGTERM)
                try await worker.waitForExit(timeout: .seconds(30))
                try await producer.close()
                #expect(done, "not every job ran within 150 s")
                // The proxy's statistics are the evidence that faults were injected at all: a missing or unreadable
                // file fails the test rather than skipping the check.
                let injected = try #require(
                    try? String(contentsOfFile: stats, encoding: .utf8),
                    "the fault proxy wrote no statistics to \(stats); its stderr: \(proxy.stderr.suffix(800))")
                print("SQS fault proxy: requests per action and fault: \(injected)")
                let object = try #require(
                    try? JSONSerialization.jsonObject(with: Data(injected.utf8)) as? [String: [String: Int]],
                    "the fault proxy's statistics are not {action: {fault: count}}: \(injected)")
                let faults = object.values.reduce(0) { $0 + $1.filter { $0.key != "pass" }.values.reduce(0, +) }
                let passed = object.values.reduce(0) { $0 + ($1["pass"] ?? 0) }
                let duplicatedSends = object["SendMessageBatch"]?["drop_after"] ?? 0
                print("SQS fault proxy: \(faults) faults injected, \(passed) requests passed; \(duplicatedSends) SendMessageBatch calls were forwarded then dropped (each may duplicate up to 10 jobs)")
                #expect(faults > 0, "no fault was injected")
                #expect(passed > 0, "no request passed the fault proxy")
                checkAllRecorded(ids, record: record, label: "sqs through fault proxy")
            }
            try await direct.close()
        }
    }
}
