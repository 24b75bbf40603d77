import Conveyor
import Synchronization

extension ProviderConformance {
    /// Sleeps for its input's seconds (cancellably), recording which inputs started.
    struct Sleeper: ConveyorTask {
        struct Input: Codable, Sendable {
            var index: Int
            var seconds: Int
        }

        static let name = "conformance.sleeper"
        static var options: TaskOptions { TaskOptions(maxAttempts: 3, backoff: .immediate) }
        let started: Started

        func run(_ input: Input, context: JobContext) async throws -> Int {
            started.add(input.index)
            try await Task.sleep(for: .seconds(input.seconds))
            return input.index
        }
    }

    final class Started: Sendable {
        private let indices = Mutex<[Int]>([])
        func add(_ index: Int) { indices.withLock { $0.append(index) } }
        var value: [Int] { indices.withLock { $0 } }
    }

    /// A waiting job and a delayed job cancelled before they run never start; a running job cancelled mid-run
    /// stops and is not retried; each ends with a `cancelled` outcome, none is dead-lettered, and a later job of the
    /// queue still runs. The markers are read from the broker.
    static let cancellation = ConformanceCase(
        "cancel: waiting, delayed and running jobs end cancelled, not retried nor dead-lettered", requires: [.cancelling, .replying]
    ) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "cancel") { q in
            let client = ConveyorClient(provider: q.provider)
            defer { closeLater(client) }
            let started = Started()
            let options = EnqueueOptions(queue: q.queue)
            let waiting = try await client.enqueue(Sleeper.self, .init(index: 1, seconds: 0), options: options, tracking: .result)
            let delayed = try await client.enqueue(
                Sleeper.self, .init(index: 2, seconds: 0), options: .init(delay: .seconds(3), queue: q.queue), tracking: .result
            )
            try await client.cancel([waiting.id, delayed.id], in: q.queue)
            try await withWorker(q, [Sleeper(started: started)], controlCheckInterval: .milliseconds(200)) {
                try await requireCancelled(waiting.raw, q, "the waiting job")
                let running = try await client.enqueue(Sleeper.self, .init(index: 3, seconds: 120), options: options, tracking: .result)
                try await waitFor(q, "the long job to start") { started.value.contains(3) }
                try await client.cancel(running.id, in: q.queue)
                let event = try await requireCancelled(running.raw, q, "the running job")
                try q.require(event.attempt == 1, "the running job ended cancelled at attempt \(event.attempt), expected 1 (not retried)")
                try await requireCancelled(delayed.raw, q, "the delayed job")
                let later = try await client.enqueue(Sleeper.self, .init(index: 4, seconds: 0), options: options, tracking: .result)
                let output = try await later.result(timeout: .seconds(30))
                try q.require(output == 4, "a job after the cancellations gave \(output), expected 4")
            }
            try q.require(started.value.sorted() == [3, 4], "started \(started.value.sorted()), expected only [3, 4]: a cancelled job ran")
            try await q.eventuallyStats("nothing left ready, in flight or dead-lettered") {
                $0.ready == 0 && $0.inFlight == 0 && $0.delayed == 0 && $0.deadLettered == 0
            }
        }
    }

    @discardableResult
    static func requireCancelled(_ job: TrackedRawJob, _ q: ConformanceContext, _ what: String) async throws -> JobEvent {
        let event = try await outcome(job, q)
        try q.require(event.kind == .cancelled, "\(what) ended \(event.kind) (\(event.reason.map { "\($0)" } ?? "no reason")), expected cancelled")
        try q.require(event.reason?.code == "cancelled", "\(what): reason \(String(describing: event.reason)), expected code cancelled")
        return event
    }
}
