import Conveyor
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Faults {
    /// SIGTERM while `sleep` jobs run: running jobs finish within `--shutdown-grace` or are returned to the queue,
    /// none is lost, and the process exits within the grace period (plus a generous margin for start-up and
    /// closing the connection; no timing is asserted beyond that guard).
    @Suite("Graceful shutdown under load", .timeLimit(.minutes(4)))
    struct GracefulShutdownTests {
        @Test("RabbitMQ: SIGTERM while jobs run loses none", .enabled(if: ReliabilityEnvironment.rabbitMQEnabled, ReliabilityEnvironment.rabbitMQMissing), arguments: [800, 20_000])
        func rabbitMQ(jobMilliseconds: Int) async throws {
            try await Self.run(.rabbitMQ(url: ReliabilityEnvironment.requireAMQPURL()), jobMilliseconds: jobMilliseconds, options: QueueOptions())
        }

        @Test("SQS: SIGTERM while jobs run loses none", .enabled(if: ReliabilityEnvironment.sqsEnabled, ReliabilityEnvironment.sqsMissing), arguments: [800, 20_000])
        func sqs(jobMilliseconds: Int) async throws {
            try await Self.run(
                .sqs(endpoint: ReliabilityEnvironment.requireSQSEndpoint(), visibility: 30), jobMilliseconds: jobMilliseconds,
                options: QueueOptions(maxReceiveCount: 100, visibilityTimeout: .seconds(30)))
        }

        /// `jobMilliseconds` below the grace period: running jobs finish; above it: they are cancelled and returned.
        static func run(_ target: BrokerTarget, jobMilliseconds: Int, options: QueueOptions) async throws {
            let jobs = 40
            let grace = 3
            let provider = try target.makeProvider()
            try await withTestQueue("term", provider: provider, options: options) { queue in
                var messages: [OutgoingMessage] = []
                for _ in 0..<jobs {
                    messages.append(OutgoingMessage(envelope: Envelope(task: "sleep", payload: Array(#"{"ms":\#(jobMilliseconds)}"#.utf8))))
                }
                let ids = Set(try await provider.enqueue(messages, to: queue).map(\.jobID.rawValue))
                let worker = try ChildProcess.conveyor(
                    ["worker"] + target.cliArguments + target.workerArguments
                        + ["--queue", queue, "--concurrency", "8", "--shutdown-grace", "\(grace)s", "--log-level", "debug"])
                defer { worker.cleanUp() }
                // Wait until the worker has taken jobs (fewer ready, or some in flight), then a little more.
                let busy = try await eventually(timeout: .seconds(60), interval: .milliseconds(200)) {
                    guard let stats = try? await provider.stats(of: queue) else { return false }
                    return stats.ready + stats.delayed <= jobs - 8 || stats.inFlight >= 8
                }
                #expect(busy, "the worker never got busy: \(worker.stderr.suffix(1500))")
                try await Task.sleep(for: .milliseconds(300))
                let signalled = ContinuousClock.now
                worker.signal(SIGTERM)
                // The deadline: the grace period, then cancelling running jobs, returning their messages and
                // closing the connections, with a margin for a loaded machine.
                let deadline = Duration.seconds(grace + 10)
                let status = try await worker.waitForExit(timeout: deadline)
                let took = ContinuousClock.now - signalled
                #expect(status != nil, "the worker did not exit within \(deadline) of SIGTERM")
                print("\(target.name) SIGTERM with \(jobMilliseconds) ms jobs, grace \(grace) s: exited \(status.map(String.init) ?? "never") after \(took)")
                #expect(status == 0, "worker exit: \(worker.stderr.suffix(2000))")
                let log = worker.stderr
                let succeeded = Set(loggedJobIDs(log, message: "job succeeded"))
                let returned = Set(loggedJobIDs(log, message: "returning it"))
                // Everything not finished must still be in the queue: drain it with the provider.
                var remaining = Set<String>()
                let drained = try await eventually(timeout: .seconds(90)) {
                    for message in try await provider.receive(from: queue, max: 10, wait: .seconds(1)) {
                        if case .success(let envelope) = message.envelope { remaining.insert(envelope.id.rawValue) }
                        try await provider.acknowledge([message])
                    }
                    return remaining.union(succeeded).isSuperset(of: ids)
                }
                print("\(target.name): \(succeeded.count) finished, \(returned.count) returned by shutdown, \(remaining.count) found back in the queue, \(succeeded.intersection(remaining).count) both finished and redelivered")
                #expect(drained, "lost jobs: \(ids.subtracting(remaining).subtracting(succeeded).prefix(5))")
                if jobMilliseconds < grace * 1000 {
                    #expect(!succeeded.isEmpty, "no running job finished within the grace period")
                } else {
                    #expect(succeeded.isEmpty)
                }
            }
            try await provider.close()
        }
    }
}
