import Conveyor
import ConveyorRabbitMQ
import Foundation
import Synchronization
import Testing

/// Pausing on a real broker, inside the serialized broker suite.
extension RabbitMQIntegrationTests {
    /// Sleeps 50 ms; counts its starts.
    struct Nap: ConveyorTask {
        static let name = "test.nap"
        let counter: NapCounter
        func run(_ input: Int, context: JobContext) async throws -> Int {
            counter.count.withLock { $0 += 1 }
            try await Task.sleep(for: .milliseconds(50))
            return input
        }
    }

    /// Polls `condition` every 50 ms until it holds, or fails after `timeout`.
    func eventually(_ what: String, timeout: Duration = .seconds(30), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { throw ConveyorError(.timeout, "timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }

    final class NapCounter: Sendable {
        let count = Mutex(0)
        var starts: Int { count.withLock { $0 } }
    }

    /// Once a worker saw its queue paused, it holds no delivery of it: the push consumer is cancelled and what it
    /// had buffered goes back to the broker, so every job that did not start is ready there (RabbitMQ would close a
    /// channel whose delivery stays unacknowledged past its consumer_timeout). After the resume, every job runs.
    @Test func aPausedQueueLeavesNoDeliveryUnacknowledgedInTheWorker() async throws {
        try await withQueue("pause-prefetch") { provider, queue in
            let observer = try Env.provider()
            let counter = NapCounter()
            let total = 200
            try await ConveyorClient(provider: provider).enqueue(Nap.self, Array(0..<total), options: .init(queue: queue))
            var configuration = Worker.Configuration(queues: [queue], concurrency: 2, receiveWait: .seconds(1), shutdownGracePeriod: .seconds(5))
            configuration.pauseCheckInterval = .milliseconds(100)
            let worker = Worker(provider: provider, registry: try TaskRegistry([Nap(counter: counter)]), configuration: configuration)
            let running = Task { try await worker.run() }
            var failure: (any Error)?
            do {
                try await eventually("a few jobs to start") { counter.starts >= 5 }
                try await ConveyorClient(provider: observer).pause(queue)
                // The worker reads the state every 100 ms; its running jobs take 50 ms.
                try await Task.sleep(for: .seconds(2))
                let started = counter.starts
                #expect(started < total)
                let stats = try await observer.stats(of: queue)

                #expect(stats.ready == total - started, "\(total - started) jobs did not start; RabbitMQ has \(stats.ready) ready")
                try await ConveyorClient(provider: observer).resume(queue)
                try await eventually("every job to run after the resume", timeout: .seconds(60)) { counter.starts >= total }
            } catch {
                failure = error
            }
            worker.triggerGracefulShutdown()
            _ = await running.result
            try? await observer.close()
            if let failure { throw failure }
        }
    }

    /// Without declaring queues (a user without configure permission), the check is a passive declaration: a queue
    /// never paused reads as not paused and gets no marker queue; pause and resume still work.
    @Test func withoutDeclaringQueuesThePauseCheckIsPassive() async throws {
        try await withQueue("pause-passive", configure: { $0.declaresQueuesOnFirstUse = false }) { provider, queue in
            #expect(try await provider.isPaused(queue) == false)
            #expect(try await provider.isPaused(queue) == false)  // the admin channel works after the 404
            let listed = try Env.rabbitmqctl("list_queues", "name", "--quiet")
            #expect(!listed.contains("conveyor.paused.\(queue)"), "a passive check declared the marker queue")
            try await provider.setPaused(true, queue: queue)
            #expect(try await provider.isPaused(queue))
            try await provider.setPaused(false, queue: queue)
            #expect(try await provider.isPaused(queue) == false)
        }
    }
}
