import Conveyor
import Synchronization

extension ProviderConformance {
    /// Counts the jobs that started.
    struct Counted: ConveyorTask {
        static let name = "conformance.counted"
        let started: Starts
        func run(_ input: Int, context: JobContext) async throws -> Int {
            started.add()
            return input
        }
    }

    final class Starts: Sendable {
        private let count = Mutex(0)
        func add() { count.withLock { $0 += 1 } }
        var value: Int { count.withLock { $0 } }
    }

    /// A paused queue's jobs wait, for a worker started after the pause as for one running when it came; a resume
    /// runs them. The paused state is read from the broker.
    static let pauseAndResume = ConformanceCase("pause: a paused queue's jobs wait until it is resumed", requires: [.pausing]) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "pause") { q in
            let client = ConveyorClient(provider: q.provider)
            let starts = Starts()
            try q.require(try await client.isPaused(q.queue) == false, "a new queue is paused")
            try await client.pause(q.queue)
            try await client.pause(q.queue)  // idempotent
            try q.require(try await client.isPaused(q.queue), "isPaused is false after pause")
            var configuration = Worker.Configuration(queues: [q.queue], concurrency: 4, receiveWait: .seconds(1), shutdownGracePeriod: .seconds(5))
            configuration.pauseCheckInterval = .milliseconds(200)
            let worker = Worker(provider: q.provider, registry: try TaskRegistry([Counted(started: starts)]), configuration: configuration)
            let running = Task { try await worker.run() }
            do {
                // A worker started on a paused queue takes nothing.
                try await client.enqueue(Counted.self, [1, 2, 3], options: .init(queue: q.queue))
                try await Task.sleep(for: .milliseconds(1500))
                try q.require(starts.value == 0, "\(starts.value) jobs of a paused queue started")
                try await client.resume(q.queue)
                try q.require(try await client.isPaused(q.queue) == false, "isPaused is true after resume")
                try await waitFor(q, "the 3 jobs to run after the resume") { starts.value >= 3 }
                // Paused while the worker runs: once it read the state (a few check intervals), no job starts.
                try await client.pause(q.queue)
                try await Task.sleep(for: .seconds(3))
                try await client.enqueue(Counted.self, [4, 5], options: .init(queue: q.queue))
                try await Task.sleep(for: .milliseconds(1500))
                try q.require(starts.value == 3, "\(starts.value - 3) jobs started on a queue paused while the worker ran")
                try await client.resume(q.queue)
                try await waitFor(q, "the 2 jobs to run after the second resume") { starts.value >= 5 }
            } catch {
                worker.triggerGracefulShutdown()
                _ = await running.result
                try? await client.resume(q.queue)
                throw error
            }
            worker.triggerGracefulShutdown()
            try await running.value
        }
    }

    /// Polls `condition` every 50 ms for up to 30 s.
    static func waitFor(_ q: ConformanceContext, _ what: String, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + .seconds(30)
        while !condition() {
            guard ContinuousClock.now < deadline else { throw q.failure("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
