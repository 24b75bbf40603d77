@testable import Conveyor
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Faults {
    /// Global limits across `conveyor worker` processes: the `sleep` task's record lines
    /// (`<job id> <attempt> sleep <started ms> <finished ms>`) are checked from outside. Each test sends its jobs with
    /// a limit key of its own (`--limit-key`), so its permits and tokens are its own, and deletes them after.
    @Suite("Global flow limits across worker processes", .timeLimit(.minutes(6)))
    struct FlowLimitTests {
        static let targets: [(String, @Sendable () throws -> BrokerTarget)] = [
            ("rabbitmq", { .rabbitMQ(url: try ReliabilityEnvironment.requireAMQPURL()) }),
            ("sqs", { .sqs(endpoint: try ReliabilityEnvironment.requireSQSEndpoint(), visibility: 5) }),
        ]

        @Test("4 workers × 8 slots, global concurrency 5: never more than 5 at once, every job runs once at attempt 1",
              arguments: ["rabbitmq", "sqs"])
        func globalConcurrency(_ broker: String) async throws {
            let target = try Self.target(broker)
            let jobs = 240
            try await Self.withLimitedQueue(target, hint: "gc") { queue, key, record, provider in
                let workers = try (0..<4).map { _ in
                    try ChildProcess.conveyor(
                        ["worker"] + target.cliArguments + target.workerArguments
                            + ["--queue", queue, "--record", record, "--concurrency", "8", "--max-attempts", "1", "--global-concurrency", "sleep=5"])
                }
                defer { for worker in workers { worker.cleanUp() } }
                try await Self.enqueueSleeps(jobs, ms: 30, queue: queue, key: key, target: target)
                let done = try await eventually(timeout: .seconds(240)) { SleepRecord(path: record).runs.count >= jobs }
                for worker in workers { worker.signal(SIGTERM) }
                for worker in workers { _ = try await worker.waitForExit(timeout: .seconds(30)) }
                let runs = SleepRecord(path: record)
                print("\(broker) global concurrency 5: \(runs.runs.count) runs, most at once \(runs.mostAtOnce), \(runs.jobsPerSecond) jobs/s")
                #expect(done, "only \(runs.runs.count) of \(jobs) jobs ran: \(workers[0].stderr.suffix(1500))")
                #expect(runs.mostAtOnce <= 5, "\(runs.mostAtOnce) jobs ran at once; the global limit is 5")
                #expect(runs.mostAtOnce >= 2, "never more than one job at once: the limit was not shared but serialised")
                #expect(Set(runs.runs.map(\.id)).count == runs.runs.count, "a job ran twice")
                #expect(runs.runs.allSatisfy { $0.attempt == 1 }, "waiting for a permit counted as an attempt")
                #expect(try await provider.stats(of: queue).deadLettered == 0, "jobs were dead-lettered")
            }
        }

        @Test("A worker SIGKILLed while it holds permits: they come back, every job runs, none is dead-lettered",
              arguments: ["rabbitmq", "sqs"])
        func killedHolderReturnsItsPermits(_ broker: String) async throws {
            let target = try Self.target(broker)
            let jobs = 6
            try await Self.withLimitedQueue(target, hint: "gckill") { queue, key, record, provider in
                let arguments = ["worker"] + target.cliArguments + target.workerArguments
                    + ["--queue", queue, "--record", record, "--concurrency", "4", "--max-attempts", "5", "--global-concurrency", "sleep=2"]
                let first = try ChildProcess.conveyor(arguments)
                defer { first.cleanUp() }
                try await Self.enqueueSleeps(jobs, ms: 4000, queue: queue, key: key, target: target)
                // Both permits held by the first worker: none left waiting in the permit queue.
                let permits = FlowQueues(task: "sleep", key: key, provider: provider).permits
                let held = try await eventually(timeout: .seconds(60)) {
                    // The permit queue exists once the worker has seeded it.
                    guard let stats = try? await provider.stats(of: permits) else { return false }
                    let queued = try await provider.stats(of: queue)
                    return stats.ready == 0 && queued.ready + queued.delayed < jobs
                }
                #expect(held, "the first worker never held both permits: \(first.stderr.suffix(1500))")
                first.signal(SIGKILL)
                _ = try await first.waitForExit(timeout: .seconds(10))
                let second = try ChildProcess.conveyor(arguments)
                defer { second.cleanUp() }
                let done = try await eventually(timeout: .seconds(180)) { Set(SleepRecord(path: record).runs.map(\.id)).count >= jobs }
                second.signal(SIGTERM)
                _ = try await second.waitForExit(timeout: .seconds(30))
                let runs = SleepRecord(path: record)
                #expect(done, "only \(Set(runs.runs.map(\.id)).count) of \(jobs) jobs ran after the kill: \(second.stderr.suffix(1500))")
                #expect(runs.mostAtOnce <= 2, "\(runs.mostAtOnce) jobs ran at once; the global limit is 2")
                #expect(try await provider.stats(of: queue).deadLettered == 0, "jobs were dead-lettered")
            }
        }

        static func target(_ broker: String) throws -> BrokerTarget {
            guard let make = targets.first(where: { $0.0 == broker })?.1 else { throw CancellationError() }
            return try make()
        }

        /// Enqueues `count` sleep jobs with `key` through the CLI.
        static func enqueueSleeps(_ count: Int, ms: Int, queue: String, key: String, target: BrokerTarget) async throws {
            let result = try await ChildProcess.run(
                try ReliabilityEnvironment.conveyorBinary(),
                ["enqueue"] + target.cliArguments
                    + ["--queue", queue, "--task", "sleep", "--payload", #"{"ms":\#(ms)}"#, "--count", "\(count)", "--limit-key", key])
            #expect(result.status == 0, "enqueue failed: \(result.stderr)")
        }

        /// A fresh queue, limit key and record file; deletes the queue and the key's limit queues after.
        static func withLimitedQueue(
            _ target: BrokerTarget, hint: String, _ body: (String, String, String, any QueueProvider) async throws -> Void
        ) async throws {
            let provider = try target.makeProvider()
            try await withTestQueue(hint, provider: provider, options: QueueOptions(maxReceiveCount: nil, visibilityTimeout: .seconds(5))) { queue in
                let key = queue
                let record = temporaryFile(hint)
                defer { try? FileManager.default.removeItem(atPath: record) }
                var failure: (any Error)?
                do { try await body(queue, key, record, provider) } catch { failure = error }
                try? await ConveyorClient(provider: provider).removeLimits(for: "sleep", key: key)
                if let failure { throw failure }
            }
            try await provider.close()
        }
    }
}

/// The `sleep` task's record lines.
struct SleepRecord {
    struct Run {
        var id: String
        var attempt: Int
        var started: Int64
        var finished: Int64
    }

    let runs: [Run]

    init(path: String) {
        let text = (try? String(contentsOfFile: path, encoding: .utf8)) ?? ""
        runs = text.split(separator: "\n").compactMap { line in
            let parts = line.split(separator: " ")
            guard parts.count == 5, parts[2] == "sleep", let attempt = Int(parts[1]), let started = Int64(parts[3]), let finished = Int64(parts[4])
            else { return nil }
            return Run(id: String(parts[0]), attempt: attempt, started: started, finished: finished)
        }
    }

    /// The most runs that overlapped (a run ending at the instant another starts does not overlap it).
    var mostAtOnce: Int {
        var events: [(at: Int64, delta: Int)] = []
        for run in runs {
            events.append((run.started, 1))
            events.append((run.finished, -1))
        }
        events.sort { a, b in a.at != b.at ? a.at < b.at : a.delta < b.delta }
        var running = 0
        var most = 0
        for (_, delta) in events {
            running += delta
            most = max(most, running)
        }
        return most
    }

    var jobsPerSecond: Double {
        guard let first = runs.map(\.started).min(), let last = runs.map(\.finished).max(), last > first else { return 0 }
        return (Double(runs.count) / (Double(last - first) / 1000) * 10).rounded() / 10
    }
}
