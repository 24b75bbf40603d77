import Conveyor
import ConveyorRabbitMQ
import ConveyorTesting
import Foundation
import Logging
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Faults {
    /// A three-node RabbitMQ cluster (scripts/rabbitmq-cluster.sh, ports 5681-5683 by default) and a quorum queue:
    /// a producer and a `conveyor worker` given all three nodes (`--url` with three comma-separated URLs) run 5,000
    /// jobs while the node leading the queue is stopped and started again, then killed with SIGKILL and started
    /// again. Both fail over to another node by themselves, and every job whose enqueue was confirmed runs at least
    /// once (duplicates are counted and printed).
    @Suite("RabbitMQ cluster: the leader node lost", .timeLimit(.minutes(8)))
    struct ClusterFailoverTests {
        static func cluster(_ arguments: [String], timeout: Duration = .seconds(240)) async throws -> String {
            let script = ReliabilityEnvironment.packageRoot.appendingPathComponent("scripts/rabbitmq-cluster.sh").path
            let result = try await ChildProcess.run(script, arguments, environment: ReliabilityEnvironment.childEnvironment(), timeout: timeout)
            guard result.status == 0 else {
                throw ConveyorError(.brokerError, "rabbitmq-cluster.sh \(arguments.joined(separator: " ")) failed (\(result.status)): \(result.stdout.suffix(800)) \(result.stderr.suffix(800))")
            }
            return result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        }

        @Test("5,000 jobs through a quorum queue while its leader stops, restarts, is killed: none lost",
              .enabled(if: ReliabilityEnvironment.rabbitMQEnabled, ReliabilityEnvironment.rabbitMQMissing))
        func leaderLost() async throws {
            _ = try await Self.cluster(["start"])
            let urls = try await Self.cluster(["urls"])
            var configuration = try RabbitMQQueueProvider.Configuration(url: urls, queueType: .quorum, connectionName: "conveyor-cluster-tests")
            configuration.reconnectBackoff = .init(initial: .milliseconds(100), maximum: .seconds(1))
            // Info: the failovers (connection lost, connected to another node) show in the test's output.
            var logger = Logger(label: "conveyor.cluster.tests")
            logger.logLevel = .info
            let provider = try RabbitMQQueueProvider(configuration: configuration, logger: logger)
            let target = BrokerTarget(name: "rabbitmq-cluster", cliArguments: ["--provider", "rabbitmq", "--url", urls, "--queue-type", "quorum"]) { provider }
            let jobs = 5000
            try await withTestQueue("cluster", provider: provider) { queue in
                let record = temporaryFile("cluster")
                defer { try? FileManager.default.removeItem(atPath: record) }
                let worker = try startRecordingWorker(target, queue: queue, record: record)
                defer { worker.cleanUp() }
                let producer = BrokerRestartTests.produce(jobs, to: queue, provider: provider, pause: .milliseconds(40)) { batch, failures, error in
                    if failures <= 3 || failures % 25 == 0 { print("cluster: producer batch \(batch) failed (\(failures) so far): \(error)") }
                }
                func progress(_ count: Int) async throws {
                    let ok = try await eventually(timeout: .seconds(120)) { RecordLog.lineCount(record) >= count }
                    #expect(ok, "the worker did not reach \(count) jobs: \(worker.stderr.suffix(1500))")
                }
                try await progress(800)
                let leader = try await Self.cluster(["leader", queue])
                print("cluster: stop_app of the leader, node \(leader), at \(RecordLog.lineCount(record)) jobs run")
                _ = try await Self.cluster(["stop-app", leader])
                try await progress(RecordLog.lineCount(record) + 500)
                _ = try await Self.cluster(["start-app", leader])
                try await progress(RecordLog.lineCount(record) + 300)
                let second = try await Self.cluster(["leader", queue])
                print("cluster: SIGKILL of the leader, node \(second), at \(RecordLog.lineCount(record)) jobs run")
                _ = try await Self.cluster(["kill-node", second])
                try await progress(RecordLog.lineCount(record) + 500)
                _ = try await Self.cluster(["start-node", second])

                let (confirmed, failedBatches) = try await producer.value
                print("cluster: \(confirmed.count) jobs confirmed, \(failedBatches) batches failed during the faults")
                let all = Set(confirmed)
                let done = try await eventually(timeout: .seconds(180)) { Set(RecordLog(path: record).counts.keys).isSuperset(of: all) }
                #expect(worker.isRunning, "the worker died: \(worker.stderr.suffix(2000))")
                worker.signal(SIGTERM)
                try await worker.waitForExit(timeout: .seconds(30))
                #expect(done, "not every confirmed job ran within 180 s")
                #expect(confirmed.count >= jobs * 8 / 10, "the producer did not recover: only \(confirmed.count) jobs confirmed")
                checkAllRecorded(confirmed, record: record, label: "rabbitmq cluster, leader lost twice")
            }
            try await provider.close()
        }
    }
}

extension Faults {
    /// The whole provider conformance suite on the three-node cluster with quorum queues, the provider given every
    /// node: delays and retries (classic delay-level queues), dead letters, deduplication (lock queues), results,
    /// events, pause, cancel and global limits all work on a cluster (what a node loss does to each is in the DocC
    /// article Deploying on RabbitMQ).
    @Suite("RabbitMQ cluster: provider conformance", .timeLimit(.minutes(6)))
    struct ClusterConformanceTests {
        static func provider(_ urls: String) throws -> RabbitMQQueueProvider {
            try RabbitMQQueueProvider(configuration: RabbitMQQueueProvider.Configuration(url: urls, queueType: .quorum, connectionName: "conveyor-cluster-conformance"))
        }

        @Test("every conformance case on a three-node cluster, quorum queues", .enabled(if: ReliabilityEnvironment.rabbitMQEnabled, ReliabilityEnvironment.rabbitMQMissing))
        func conformance() async throws {
            _ = try await ClusterFailoverTests.cluster(["start"])
            let urls = try await ClusterFailoverTests.cluster(["urls"])
            let provider = try Self.provider(urls)
            let harness = ConformanceHarness.provisioning(provider, makeProvider: { try Self.provider(urls) })
            // One case at a time: three nodes and the cases' workers on two cores.
            var notApplicable: Set<String> = []
            for conformanceCase in ProviderConformance.cases {
                do {
                    if case .notApplicable = try await conformanceCase.run(harness) { notApplicable.insert(conformanceCase.name) }
                } catch {
                    Issue.record("\(conformanceCase.name): \(error)")
                }
            }
            #expect(notApplicable == ["redelivery after visibility timeout", "priority order"], "\(notApplicable)")
            try await provider.close()
        }
    }
}
