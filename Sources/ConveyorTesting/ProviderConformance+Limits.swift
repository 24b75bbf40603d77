import Conveyor
import Foundation
import Synchronization

extension ProviderConformance {
    /// Input of the limited tasks: which job, how long it sleeps, and its limit key.
    struct LimitedInput: Codable, Sendable {
        var index: Int
        var milliseconds: Int
        var key: String
    }

    /// Sleeps, recording how many jobs of its key run at once; global concurrency 2 per key, one attempt (so a
    /// wait for a permit that counted as an attempt would dead-letter the job).
    struct ConcurrencyLimited: ConveyorTask {
        static let name = "conformance.concurrency-limited"
        static var options: TaskOptions { TaskOptions(maxAttempts: 1, globalConcurrency: 2) }
        static func limitKey(for input: LimitedInput) -> String? { input.key }
        let meter: RunMeter

        func run(_ input: LimitedInput, context: JobContext) async throws {
            meter.start(input.index, key: input.key, attempt: context.attempt)
            defer { meter.end(key: input.key) }
            try await Task.sleep(for: .milliseconds(input.milliseconds))
        }
    }

    /// Records when it started; a global rate of 4 per second per key, one attempt.
    struct RateLimited: ConveyorTask {
        static let name = "conformance.rate-limited"
        static var options: TaskOptions { TaskOptions(maxAttempts: 1, rateLimit: RateLimit(4, per: .seconds(1), scope: .global)) }
        static func limitKey(for input: LimitedInput) -> String? { input.key }
        let meter: RunMeter

        func run(_ input: LimitedInput, context: JobContext) async throws {
            meter.start(input.index, key: input.key, attempt: context.attempt)
            meter.end(key: input.key)
        }
    }

    /// What ran: each start (index, attempt, instant), and per key the jobs running now and the most at once.
    final class RunMeter: Sendable {
        private struct State {
            var starts: [(index: Int, attempt: Int, at: ContinuousClock.Instant)] = []
            var finished = 0
            var running: [String: Int] = [:]
            var peak: [String: Int] = [:]
        }
        private let state = Mutex(State())

        func start(_ index: Int, key: String, attempt: Int) {
            state.withLock { state in
                state.starts.append((index, attempt, .now))
                state.running[key, default: 0] += 1
                state.peak[key] = max(state.peak[key, default: 0], state.running[key, default: 0])
            }
        }

        func end(key: String) {
            state.withLock { state in
                state.running[key, default: 1] -= 1
                state.finished += 1
            }
        }
        var finished: Int { state.withLock { $0.finished } }
        var indices: [Int] { state.withLock { $0.starts.map(\.index) } }
        var attempts: Set<Int> { state.withLock { Set($0.starts.map(\.attempt)) } }
        var instants: [ContinuousClock.Instant] { state.withLock { $0.starts.map(\.at) } }
        func peak(_ key: String) -> Int { state.withLock { $0.peak[key, default: 0] } }
        func resetPeaks() { state.withLock { $0.peak = [:] } }
    }

    /// Two workers (on two providers when the harness can make a second one) share a global concurrency limit of 2
    /// per key: over 2 keys × 8 jobs, at most 2 of a key run at once, every job runs once at attempt 1 and none is
    /// dead-lettered (waiting for a permit is no attempt); raised to 4 for one key with
    /// ``ConveyorClient/setGlobalConcurrency(_:for:key:)`` while no job runs, more than 2 of it run at once, and never
    /// more than 4.
    static let globalConcurrency = ConformanceCase("limits: workers share a global concurrency limit per key, changeable at run time") { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "limit-concurrency") { q in
            let keys = [q.queue + "-a", q.queue + "-b"]
            let meter = RunMeter()
            let client = ConveyorClient(provider: q.provider)
            try await removingLimits(client, ConcurrencyLimited.name, keys) { try await withWorkers(q, [ConcurrencyLimited(meter: meter)]) {
                var inputs: [LimitedInput] = []
                for index in 0..<16 { inputs.append(LimitedInput(index: index, milliseconds: 300, key: keys[index % 2])) }
                try await client.enqueue(ConcurrencyLimited.self, inputs, options: .init(queue: q.queue))
                try await waitFor(q, "16 limited jobs to run", within: .seconds(120)) { meter.indices.count >= 16 }
                for key in keys {
                    try q.require(meter.peak(key) <= 2, "\(meter.peak(key)) jobs of one key ran at once; the global limit is 2")
                }
                try q.require(meter.indices.sorted() == Array(0..<16), "ran \(meter.indices.sorted()), expected each of 0..<16 once")
                try q.require(meter.attempts == [1], "attempts \(meter.attempts.sorted()): waiting for a permit counted as an attempt")

                // Set while no job runs (every permit handed back, the workers' permit consumers stopped): the waiting
                // permits of the old generation are then all deleted, and the new limit holds at once. (Set while jobs
                // run, the permits they hold come back to workers that have not seen the new generation yet, and the
                // old and new limits add up for a moment: see the Flow control article.)
                try await waitFor(q, "the 16 limited jobs to end", within: .seconds(60)) { meter.finished >= 16 }
                try await Task.sleep(for: .seconds(1))
                try await client.setGlobalConcurrency(4, for: ConcurrencyLimited.name, key: keys[0])
                meter.resetPeaks()
                let more = (16..<40).map { LimitedInput(index: $0, milliseconds: 1500, key: keys[0]) }
                try await client.enqueue(ConcurrencyLimited.self, more, options: .init(queue: q.queue))
                try await waitFor(q, "24 more jobs to run", within: .seconds(120)) { meter.indices.count >= 40 }
                try q.require(meter.peak(keys[0]) <= 4, "\(meter.peak(keys[0])) jobs ran at once after the limit was set to 4")
                try q.require(meter.peak(keys[0]) > 2, "at most \(meter.peak(keys[0])) jobs ran at once after the limit was raised from 2 to 4")
            } }
            try await q.eventuallyStats("nothing left ready, in flight or dead-lettered") {
                $0.ready == 0 && $0.inFlight == 0 && $0.delayed == 0 && $0.deadLettered == 0
            }
        }
    }

    /// Two workers share a global rate of 4 per second (burst 4): 16 jobs all run once at attempt 1, none
    /// dead-lettered, and no window of 0.8 s holds more than 8 starts (count + burst; the window is shorter than the
    /// interval by the time between taking a token and the handler's start, which this case cannot see).
    static let globalRate = ConformanceCase("limits: workers share a global rate limit") { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "limit-rate") { q in
            let key = q.queue
            let meter = RunMeter()
            let client = ConveyorClient(provider: q.provider)
            try await removingLimits(client, RateLimited.name, [key]) { try await withWorkers(q, [RateLimited(meter: meter)]) {
                let inputs = (0..<16).map { LimitedInput(index: $0, milliseconds: 0, key: key) }
                try await client.enqueue(RateLimited.self, inputs, options: .init(queue: q.queue))
                try await waitFor(q, "16 rate-limited jobs to run", within: .seconds(120)) { meter.indices.count >= 16 }
            } }
            try q.require(meter.indices.sorted() == Array(0..<16), "ran \(meter.indices.sorted()), expected each of 0..<16 once")
            try q.require(meter.attempts == [1], "attempts \(meter.attempts.sorted()): waiting for a token counted as an attempt")
            let instants = meter.instants.sorted()
            var most = 0
            var first = 0
            for (last, instant) in instants.enumerated() {
                while instants[first] < instant - .milliseconds(800) { first += 1 }
                most = max(most, last - first + 1)
            }
            try q.require(most <= 8, "\(most) jobs started within 0.8 s; a rate of 4 per second with a burst of 4 allows 8")
            try await q.eventuallyStats("nothing left ready, in flight or dead-lettered") {
                $0.ready == 0 && $0.inFlight == 0 && $0.delayed == 0 && $0.deadLettered == 0
            }
        }
    }

    /// Runs `body` with two workers of concurrency 4 on `q`'s queue: one on the harness's provider, the other on a
    /// second provider of the same broker when the harness can make one (else on the same provider).
    static func withWorkers(_ q: ConformanceContext, _ tasks: [any ConveyorTask], _ body: () async throws -> Void) async throws {
        let second = try await q.harness.makeProvider?()
        let providers: [any QueueProvider] = [q.provider, second ?? q.provider]
        let workers = try providers.map { provider in
            Worker(
                provider: provider, registry: try TaskRegistry(tasks),
                configuration: Worker.Configuration(queues: [q.queue], concurrency: 4, receiveWait: .seconds(1), shutdownGracePeriod: .seconds(5))
            )
        }
        let running = workers.map { worker in Task { try await worker.run() } }
        var failure: (any Error)?
        do { try await body() } catch { failure = error }
        for worker in workers { worker.triggerGracefulShutdown() }
        for task in running { _ = await task.result }
        try? await second?.close()
        if let failure { throw failure }
    }

    /// Runs `body`, then deletes the limit queues of `task`'s `keys`, whether `body` threw or not.
    static func removingLimits(_ client: ConveyorClient, _ task: String, _ keys: [String], _ body: () async throws -> Void) async throws {
        var failure: (any Error)?
        do { try await body() } catch { failure = error }
        for key in keys { try? await client.removeLimits(for: task, key: key) }
        if let failure { throw failure }
    }

    static func waitFor(_ q: ConformanceContext, _ what: String, within limit: Duration, _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + limit
        while !condition() {
            guard ContinuousClock.now < deadline else { throw q.failure("timed out waiting for \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}
