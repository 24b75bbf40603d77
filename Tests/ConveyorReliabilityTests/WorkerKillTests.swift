import Conveyor
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Faults {
    /// `conveyor worker` SIGKILLed several times while jobs flow: after a final clean run every enqueued job has run
    /// at least once. Duplicates (jobs that ran but were not acknowledged before the kill) are counted and printed.
    @Suite("Worker killed with SIGKILL", .timeLimit(.minutes(5)))
    struct WorkerKillTests {
        static let jobs = 2000
        static let kills = 3

        @Test("RabbitMQ: every job runs at least once across 3 SIGKILLs", .enabled(if: ReliabilityEnvironment.rabbitMQEnabled, ReliabilityEnvironment.rabbitMQMissing))
        func rabbitMQ() async throws {
            try await Self.run(.rabbitMQ(url: ReliabilityEnvironment.requireAMQPURL()), options: QueueOptions())
        }

        @Test("SQS: every job runs at least once across 3 SIGKILLs", .enabled(if: ReliabilityEnvironment.sqsEnabled, ReliabilityEnvironment.sqsMissing))
        func sqs() async throws {
            try await Self.run(
                .sqs(endpoint: ReliabilityEnvironment.requireSQSEndpoint(), visibility: 5),
                options: QueueOptions(maxReceiveCount: 100, visibilityTimeout: .seconds(5)))
        }

        static func run(_ target: BrokerTarget, options: QueueOptions) async throws {
            let provider = try target.makeProvider()
            try await withTestQueue("kill", provider: provider, options: options) { queue in
                let record = temporaryFile("kill-\(target.name)")
                defer { try? FileManager.default.removeItem(atPath: record) }
                // Producer: half up front, the rest while the workers are being killed.
                var ids = try await RecordJobs.enqueue(jobs / 2, to: queue, with: provider)
                let producer = Task {
                    try await RecordJobs.enqueue(jobs - jobs / 2, start: jobs / 2, batch: 20, to: queue, with: provider, pause: .milliseconds(20))
                }
                var killed = 0
                for round in 0..<kills {
                    let worker = try startRecordingWorker(target, queue: queue, record: record)
                    defer { worker.cleanUp() }
                    let before = RecordLog.lineCount(record)
                    // Let it get going (some jobs recorded), then kill it mid-run.
                    let progressed = try await eventually(timeout: .seconds(60)) {
                        RecordLog.lineCount(record) >= before + 150 || !worker.isRunning
                    }
                    #expect(worker.isRunning, "worker exited by itself in round \(round): \(worker.stderr.suffix(1500))")
                    #expect(progressed, "worker made no progress in round \(round): \(worker.stderr.suffix(1500))")
                    worker.signal(SIGKILL)
                    try await worker.waitForExit(timeout: .seconds(10))
                    killed += worker.exitedBySignal ? 1 : 0
                }
                ids += try await producer.value
                // A last worker drains the rest, then stops cleanly.
                let worker = try startRecordingWorker(target, queue: queue, record: record)
                defer { worker.cleanUp() }
                let idSet = Set(ids)
                let done = try await eventually(timeout: .seconds(120)) {
                    Set(RecordLog(path: record).counts.keys).isSuperset(of: idSet)
                }
                worker.signal(SIGTERM)
                let status = try await worker.waitForExit(timeout: .seconds(30))
                #expect(status == 0, "worker did not stop cleanly: \(worker.stderr.suffix(1500))")
                #expect(done, "not every job ran within 120 s")
                #expect(killed == kills)
                checkAllRecorded(ids, record: record, label: "\(target.name) SIGKILL x\(killed)")
            }
            try await provider.close()
        }
    }
}
