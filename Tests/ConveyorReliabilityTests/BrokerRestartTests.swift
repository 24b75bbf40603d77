import Conveyor
import ConveyorRabbitMQ
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Faults {
    /// The RabbitMQ broker stopped and started again (`rabbitmqctl stop_app/start_app`), every connection cut
    /// (`rabbitmqctl close_all_connections`), and the whole node process restarted (a clean shutdown, then a
    /// SIGKILL of the Erlang VM) while a producer enqueues and a `conveyor worker` consumes: both recover by
    /// themselves, and every job whose enqueue was confirmed runs at least once (duplicates are counted and printed).
    ///
    /// Runs against a private node on `CONVEYOR_FAULTS_RABBITMQ_PORT` (default 5673) started by
    /// scripts/rabbitmq-faults-node.sh, never against the shared broker.
    @Suite("RabbitMQ broker restarts", .timeLimit(.minutes(6)))
    struct BrokerRestartTests {
        static let port = Int(ReliabilityEnvironment.environment["CONVEYOR_FAULTS_RABBITMQ_PORT"] ?? "") ?? 5673
        static var url: String { "amqp://guest:guest@127.0.0.1:\(port)/" }

        static func node(_ command: String, timeout: Duration = .seconds(240)) async throws {
            let script = ReliabilityEnvironment.packageRoot.appendingPathComponent("scripts/rabbitmq-faults-node.sh").path
            let result = try await ChildProcess.run(
                script, [command], environment: ReliabilityEnvironment.childEnvironment(["CONVEYOR_FAULTS_RABBITMQ_PORT": "\(port)"]),
                timeout: timeout)
            guard result.status == 0 else {
                throw ConveyorError(.brokerError, "rabbitmq-faults-node.sh \(command) failed (\(result.status)): \(result.stdout.suffix(800)) \(result.stderr.suffix(800))")
            }
        }

        /// Enqueues `count` record jobs in batches of 20, `pause` apart, through the faults; a batch that throws is
        /// not confirmed (its jobs may or may not arrive) and the producer just goes on with the next one, after
        /// passing the batch number, the failures so far and the error to `failed`.
        static func produce(
            _ count: Int, to queue: String, provider: any QueueProvider, pause: Duration = .milliseconds(50),
            failed report: @escaping @Sendable (_ batch: Int, _ failures: Int, _ error: any Error) -> Void = { _, _, _ in }
        ) -> Task<(confirmed: [String], failedBatches: Int), any Error> {
            Task {
                var confirmed: [String] = []
                var failed = 0
                var n = 0
                while n < count {
                    let batch = RecordJobs.envelopes(n..<(n + 20))
                    n += 20
                    do {
                        confirmed += try await provider.enqueue(batch, to: queue).map(\.jobID.rawValue)
                    } catch {
                        failed += 1
                        report(n / 20, failed, error)
                        try await Task.sleep(for: .milliseconds(200))
                    }
                    try await Task.sleep(for: pause)
                }
                return (confirmed, failed)
            }
        }

        /// Starts the private node, a recording `conveyor worker` and a producer of `jobs` record jobs, runs
        /// `faults` (given `progress(n)`, which waits until the worker has run `n` jobs, and `ran()`, how many it
        /// has run), then checks that every confirmed job ran at least once (duplicates are counted and printed).
        static func runThroughFaults(
            _ hint: String,
            label: String,
            jobs: Int,
            pause: Duration = .milliseconds(50),
            minimumConfirmed: Int,
            faults: (_ progress: (Int) async throws -> Void, _ ran: () -> Int) async throws -> Void
        ) async throws {
            _ = try ReliabilityEnvironment.requireAMQPURL()
            try await node("start")
            let target = BrokerTarget.rabbitMQ(url: url)
            let provider = try target.makeProvider()
            try await withTestQueue(hint, provider: provider) { queue in
                let record = temporaryFile(hint)
                defer { try? FileManager.default.removeItem(atPath: record) }
                let worker = try startRecordingWorker(target, queue: queue, record: record)
                defer { worker.cleanUp() }
                let producer = produce(jobs, to: queue, provider: provider, pause: pause)

                func progress(_ count: Int) async throws {
                    let ok = try await eventually(timeout: .seconds(120)) { RecordLog.lineCount(record) >= count }
                    #expect(ok, "the worker did not reach \(count) jobs: \(worker.stderr.suffix(1500))")
                }
                try await faults(progress, { RecordLog.lineCount(record) })

                let (confirmed, failedBatches) = try await producer.value
                print("\(label): \(confirmed.count) jobs confirmed, \(failedBatches) batches failed during the faults")
                let all = Set(confirmed)
                let done = try await eventually(timeout: .seconds(120)) {
                    Set(RecordLog(path: record).counts.keys).isSuperset(of: all)
                }
                #expect(worker.isRunning, "the worker died: \(worker.stderr.suffix(2000))")
                worker.signal(SIGTERM)
                try await worker.waitForExit(timeout: .seconds(30))
                #expect(done, "not every confirmed job ran within 120 s")
                #expect(confirmed.count >= minimumConfirmed, "the producer did not recover: only \(confirmed.count) jobs confirmed")
                checkAllRecorded(confirmed, record: record, label: "rabbitmq \(label)")
            }
            try await provider.close()
        }

        @Test("restart and cut connections mid-run: no confirmed job lost", .enabled(if: ReliabilityEnvironment.rabbitMQEnabled, ReliabilityEnvironment.rabbitMQMissing))
        func restartMidRun() async throws {
            try await Self.runThroughFaults("restart", label: "broker restart + connection cut", jobs: 2000, minimumConfirmed: 1000) { progress, ran in
                try await progress(300)
                print("broker restart: stop_app at \(ran()) jobs run")
                try await Self.node("stop-app")
                try await Task.sleep(for: .seconds(2))
                try await Self.node("start-app")
                // Progress after the restart (bounded by what the producer sends in all).
                try await progress(min(ran() + 300, 1800))
                print("broker restart: close_all_connections at \(ran()) jobs run")
                try await Self.node("close-connections")
            }
        }

        @Test("the node process restarted mid-run (shutdown, then SIGKILL): no confirmed job lost", .enabled(if: ReliabilityEnvironment.rabbitMQEnabled, ReliabilityEnvironment.rabbitMQMissing))
        func nodeProcessRestartMidRun() async throws {
            // Slower than the other case's producer, so that both restarts happen while it still enqueues.
            try await Self.runThroughFaults(
                "node-restart", label: "node process restart", jobs: 1600, pause: .milliseconds(250), minimumConfirmed: 800
            ) { progress, ran in
                try await progress(100)
                print("node restart: shutdown at \(ran()) jobs run")
                try await Self.node("stop")
                try await Task.sleep(for: .seconds(2))
                try await Self.node("start")
                try await progress(ran() + 100)
                print("node restart: SIGKILL at \(ran()) jobs run")
                try await Self.node("kill")
                try await Self.node("start")
            }
        }
    }
}
