import Conveyor
import Foundation
import Synchronization

extension ProviderConformance {
    /// Fails the first `failures` attempts, reporting progress `attempt / 10` on each, then returns the attempt and
    /// the input's value.
    struct Flaky: ConveyorTask {
        struct Input: Codable, Sendable {
            var value: Int
            var failures: Int
        }
        struct Output: Codable, Sendable, Equatable {
            var value: Int
            var attempt: Int
        }

        static let name = "conformance.flaky"
        static var options: TaskOptions { TaskOptions(maxAttempts: 3, backoff: .immediate, timeout: .seconds(60)) }

        func run(_ input: Input, context: JobContext) async throws -> Output {
            context.progress(Double(context.attempt) / 10, "attempt \(context.attempt)")
            if context.attempt <= input.failures {
                throw ConveyorError(.brokerError, "failing attempt \(context.attempt) on purpose")
            }
            return Output(value: input.value, attempt: context.attempt)
        }
    }

    /// Runs a real worker of `tasks` on the context's queue around `body`.
    static func withWorker(
        _ q: ConformanceContext, _ tasks: [any ConveyorTask], concurrency: Int = 4,
        controlCheckInterval: Duration = .seconds(1), _ body: () async throws -> Void
    ) async throws {
        var configuration = Worker.Configuration(
            queues: [q.queue], concurrency: concurrency, receiveWait: .seconds(1), shutdownGracePeriod: .seconds(5)
        )
        configuration.pauseCheckInterval = controlCheckInterval
        let worker = Worker(provider: q.provider, registry: try TaskRegistry(tasks), configuration: configuration)
        let running = Task { try await worker.run() }
        do {
            try await body()
        } catch {
            worker.triggerGracefulShutdown()
            _ = await running.result
            throw error
        }
        worker.triggerGracefulShutdown()
        try await running.value
    }

    /// Closes the clients' result trackers (deleting their reply queues) without holding up the case.
    static func closeLater(_ clients: ConveyorClient...) {
        let trackers = clients.map(\.results)
        Task { for tracker in trackers { await tracker.close() } }
    }

    /// The final event of `job`, or a failure after `limit`.
    static func outcome(_ job: TrackedRawJob, _ q: ConformanceContext, within limit: Duration = .seconds(30)) async throws -> JobEvent {
        do {
            return try await job.outcome(timeout: limit)
        } catch let error as ConveyorError where error.code == .timeout {
            throw q.failure("job \(job.id) had no outcome within \(limit)")
        }
    }

    /// A job that fails twice and then succeeds gives exactly one result (the third attempt's output), after the
    /// started and progress events of every attempt and two retrying events; nothing comes after the result.
    static let resultsAfterRetries = ConformanceCase("results: one result after retries, progress from each attempt", requires: [.replying]) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "results-retries") { q in
            let client = ConveyorClient(provider: q.provider)
            defer { closeLater(client) }
            try await withWorker(q, [Flaky()]) {
                let job = try await client.enqueue(Flaky.self, .init(value: 7, failures: 2), options: .init(queue: q.queue), tracking: .events)
                let collected = Task {
                    var events: [JobEvent] = []
                    for await event in job.events { events.append(event) }
                    return events
                }
                let output = try await job.result(timeout: .seconds(30))
                try q.require(output == Flaky.Output(value: 7, attempt: 3), "result \(output), expected value 7 from attempt 3")
                let events = await collected.value
                let kinds = events.map(\.kind.rawValue)
                try q.require(events.filter(\.kind.isFinal).count == 1, "events \(kinds): expected exactly one final event")
                try q.require(events.last?.kind == .succeeded, "events \(kinds) do not end with succeeded")
                try q.require(events.filter { $0.kind == .retrying }.map(\.attempt) == [1, 2], "retrying events \(kinds), expected attempts 1 and 2")
                let progress = events.filter { $0.kind == .progress }
                try q.require(progress.map(\.attempt) == [1, 2, 3], "progress events of attempts \(progress.map(\.attempt)), expected 1, 2, 3")
                try q.require(progress.last?.progress == 0.3 && progress.last?.note == "attempt 3", "last progress \(String(describing: progress.last))")
                try q.require(events.filter { $0.kind == .started }.count == 3, "events \(kinds): expected three started events")
                // A late second copy of the outcome (none is expected here) would be dropped; the handle stays settled.
                let again = try await job.outcome(timeout: .seconds(1))
                try q.require(again.kind == .succeeded && again.attempt == 3, "asked again, the outcome is \(again)")
            }
        }
    }

    /// A job dead-lettered after its last attempt fails its handle with a ``JobFailure`` carrying the reason and the
    /// attempts.
    static let resultOfADeadLetteredJob = ConformanceCase("results: a dead-lettered job gives a typed failure", requires: [.replying]) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "results-dlq") { q in
            let client = ConveyorClient(provider: q.provider)
            defer { closeLater(client) }
            let token = UUID().uuidString.lowercased()
            try await withWorker(q, [AlwaysFailing(token: token)]) {
                let job = try await client.enqueue(AlwaysFailing.self, .init(index: 1), options: .init(queue: q.queue), tracking: .result)
                do {
                    _ = try await job.result(timeout: .seconds(30))
                    throw q.failure("an always failing job gave a result")
                } catch let failure as JobFailure {
                    try q.require(failure.kind == .deadLettered, "failure kind \(failure.kind), expected dead_lettered")
                    try q.require(failure.reason.code == "task_error", "reason code \(failure.reason.code), expected task_error")
                    try q.require(failure.reason.message.contains(token), "reason \(failure.reason) lacks the task's error")
                    try q.require(failure.attempts == 3, "attempts \(failure.attempts), expected 3")
                }
            }
        }
    }

    /// Two producers (two clients, each with its own reply queue) enqueue on one queue: each gets the results of its
    /// own jobs, and only those.
    static let resultsOfTwoProducers = ConformanceCase("results: two producers each get their own", requires: [.replying]) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "results-two") { q in
            let first = ConveyorClient(provider: q.provider)
            let second = ConveyorClient(provider: q.provider)
            defer { closeLater(first, second) }
            try await withWorker(q, [Flaky()]) {
                let options = EnqueueOptions(queue: q.queue)
                let a = try await first.enqueue(Flaky.self, (0..<5).map { .init(value: $0, failures: 0) }, options: options, tracking: .result)
                let b = try await second.enqueue(Flaky.self, (100..<105).map { .init(value: $0, failures: 0) }, options: options, tracking: .result)
                for (index, job) in a.enumerated() {
                    let value = try await job.result(timeout: .seconds(30)).value
                    try q.require(value == index, "first producer's job \(index) gave \(value)")
                }
                for (index, job) in b.enumerated() {
                    let value = try await job.result(timeout: .seconds(30)).value
                    try q.require(value == 100 + index, "second producer's job \(index) gave \(value)")
                }
                // Each tracker heard only of its own jobs: asking one for the other's job is refused.
                do {
                    _ = try await TrackedRawJob(id: b[0].id, queue: q.queue, deduplicated: false, tracker: first.results).outcome(timeout: .seconds(1))
                    throw q.failure("the first producer knows the second producer's job")
                } catch let error as ConveyorError where error.code == .invalidParameter {}
            }
        }
    }

    /// 1,000 jobs awaited at once through one reply queue all resolve, each with its own output.
    static let thousandConcurrentResults = ConformanceCase("results: 1,000 concurrent awaits resolve", requires: [.replying]) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "results-1000") { q in
            let client = ConveyorClient(provider: q.provider)
            defer { closeLater(client) }
            try await withWorker(q, [Flaky()], concurrency: 16) {
                let jobs = try await client.enqueue(
                    Flaky.self, (0..<1000).map { .init(value: $0, failures: 0) }, options: .init(queue: q.queue), tracking: .result
                )
                let wrong = try await withThrowingTaskGroup(of: Int?.self) { group in
                    for (index, job) in jobs.enumerated() {
                        group.addTask { try await job.result(timeout: .seconds(120)).value == index ? nil : index }
                    }
                    var wrong: [Int] = []
                    for try await index in group { if let index { wrong.append(index) } }
                    return wrong
                }
                try q.require(wrong.isEmpty, "\(wrong.count) of 1000 results were another job's (first: \(wrong.prefix(5)))")
                try q.require(client.results.pendingCount == 0, "\(client.results.pendingCount) jobs still pending")
            }
        }
    }

    /// A job whose reply queue no longer exists still runs and is acknowledged: it is not retried or dead-lettered
    /// for its reply, and the reply is not sent to a queue created on the way.
    static let replyToAMissingQueue = ConformanceCase("results: a reply queue that is gone does not stop the job", requires: [.replying]) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "results-gone") { q in
            guard let replying = q.provider.replying else { return }
            let address = try await replying.createReplyQueue(named: TestQueueNames.unique("gone-replies"))
            try await replying.deleteReplyQueue(address)
            let ran = Mutex(0)
            struct Counting: ConveyorTask {
                struct Input: Codable, Sendable {}
                static let name = "conformance.counting"
                let ran: @Sendable () -> Void
                func run(_ input: Input, context: JobContext) async throws -> NoOutput {
                    ran()
                    return NoOutput()
                }
            }
            try await withWorker(q, [Counting { ran.withLock { $0 += 1 } }]) {
                var envelope = q.envelope(Counting.name)
                envelope.payload = Array("{}".utf8)
                envelope.replyTo = address
                envelope.replyEvents = true
                try await q.enqueue(envelope)
                try await q.eventually(within: .seconds(30), "the job ran") { (ran.withLock { $0 } == 1, "ran \(ran.withLock { $0 }) times") }
                try await q.eventuallyStats("the job acknowledged") { $0.ready == 0 && $0.inFlight == 0 && $0.deadLettered == 0 }
            }
            try q.require(ran.withLock { $0 } == 1, "the job ran \(ran.withLock { $0 }) times, expected once")
        }
    }

    /// An observer subscribed to a queue sees the events of a job that another client enqueued without tracking and
    /// a worker ran: enqueued, both attempts started with progress, the retry and the success.
    static let observerSeesOthersJobs = ConformanceCase("events: an observer sees the events of jobs it did not enqueue", requires: [.broadcasting]) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "events") { q in
            let subscription = try await QueueObserver(provider: q.provider, queue: q.queue).subscribe()
            do {
                try await withWorker(q, [Flaky()]) {
                    let handle = try await ConveyorClient(provider: q.provider).enqueue(
                        Flaky.self, .init(value: 3, failures: 1), options: .init(queue: q.queue))
                    let wanted: Set<String> = ["enqueued", "started 1", "progress 1", "retrying 1", "started 2", "progress 2", "succeeded 2"]
                    let stream = subscription.events
                    let collecting = Task {
                        var seen: Set<String> = []
                        for try await event in stream where event.jobID == handle.id {
                            seen.insert(event.kind == .enqueued ? "enqueued" : "\(event.kind) \(event.attempt)")
                            if seen.isSuperset(of: wanted) { break }
                        }
                        return seen
                    }
                    guard let result = await ConformanceContext.result(of: collecting, within: .seconds(30)) else {
                        throw q.failure("the observer did not see every event of the job within 30 s")
                    }
                    let seen = try result.get()
                    try q.require(seen.isSuperset(of: wanted), "the observer saw \(seen.sorted()), missing \(wanted.subtracting(seen).sorted())")
                }
            } catch {
                await subscription.close()
                throw error
            }
            await subscription.close()
        }
    }
}
