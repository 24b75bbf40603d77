import Conveyor
import Foundation
import Logging
import Synchronization
import Testing

@testable import ConveyorRabbitMQ
@testable import ConveyorSQS

/// Generated hostile messages (see ``WorkerFuzzGenerator``) through the whole worker path on every provider:
/// published raw (on RabbitMQ with hostile AMQP properties and header values of every field kind, through
/// ``RawAMQPPublisher``; on SQS with hostile message attributes; on memory with absurd attempts and enqueue times
/// reported by ``HostileMemoryProvider``), received, decoded, hopped, run, retried and settled by a real ``Worker``
/// whose events are listened to.
///
/// The properties: nothing traps; sent = completed + dead-lettered (+ held); every message ends exactly once,
/// completed or dead-lettered with a reason its expectation allows (malformed ones with `malformed_envelope` naming
/// the field), except jobs due far in the future, which stay delayed (held); nothing is left ready or in flight;
/// the worker still runs a well-formed job afterwards.
///
/// The seed is printed; `CONVEYOR_WORKER_FUZZ_SEED=<n>` (or `a,b`, `a-b`) runs those seeds instead of the fixed
/// ones, and `CONVEYOR_WORKER_FUZZ_MESSAGES=<n>` changes the number of messages per run.
@Suite("Worker fuzzing: generated hostile messages through a real worker", .serialized, .timeLimit(.minutes(1)))
struct WorkerFuzzTests {
    static let defaultSeed: UInt64 = 7_131

    /// Seeds that found bugs, replayed on every run (by provider). A change to ``WorkerFuzzGenerator`` changes what
    /// a seed generates: check that these still fail with their fix reverted.
    static let regressionSeeds: [String: [UInt64]] = [
        // A provider reporting attempt Int.min: `Backoff.delay(forRetry:)` trapped (arithmetic overflow).
        "memory": [20_251_125],
        // A job id or correlation id over 255 bytes, a task name or trace value over the frame size: the publisher
        // could not encode the retry, hop or dead-letter copy and reconnected forever, wedging every publish.
        // (The default seed 7131 catches a header with an empty key, which stopped the consumer for good.)
        "rabbitmq": [20_251_125],
        // U+FFFE/U+FFFF (escaped in the body) re-encoded raw, NUL in an attribute: SQS refused the hop copies, which
        // looped forever; a created_at in 0000 or 2024 held jobs due now for decades (broker-clock hop).
        "sqs": [20_251_125],
    ]

    /// The seeds of `provider`: `CONVEYOR_WORKER_FUZZ_SEED` (one seed, `a,b,c` or a range `a-b`) when set, else
    /// ``defaultSeed`` and the provider's ``regressionSeeds``.
    static func seeds(_ provider: String) -> [UInt64] {
        if let text = ProcessInfo.processInfo.environment["CONVEYOR_WORKER_FUZZ_SEED"] {
            let seeds = text.split(separator: ",").flatMap { part -> [UInt64] in
                let bounds = part.split(separator: "-").compactMap { UInt64($0.trimmingCharacters(in: .whitespaces)) }
                if bounds.count == 2, bounds[0] <= bounds[1] { return Array(bounds[0]...bounds[1]) }
                return bounds.count == 1 ? bounds : []
            }
            if !seeds.isEmpty { return seeds }
        }
        return [defaultSeed] + (regressionSeeds[provider] ?? [])
    }

    /// Messages per run: `count`, or `CONVEYOR_WORKER_FUZZ_MESSAGES` when set (for longer explorations).
    static func messageCount(_ count: Int) -> Int {
        ProcessInfo.processInfo.environment["CONVEYOR_WORKER_FUZZ_MESSAGES"].flatMap { Int($0) }.map { max($0, 1) } ?? count
    }

    // MARK: Providers

    /// Warnings only, unless `CONVEYOR_WORKER_FUZZ_LOG` names a level (e.g. `debug`) for the worker and providers.
    static let logger: Logger = {
        var logger = Logger(label: "conveyor.worker-fuzz")
        logger.logLevel = ProcessInfo.processInfo.environment["CONVEYOR_WORKER_FUZZ_LOG"].flatMap(Logger.Level.init(rawValue:)) ?? .warning
        return logger
    }()

    static func rabbitMQProvider() throws -> RabbitMQQueueProvider {
        var configuration = try RabbitMQQueueProvider.Configuration(url: ReliabilityEnvironment.requireAMQPURL(), connectionName: "conveyor-worker-fuzz")
        configuration.reconnectBackoff = .init(initial: .milliseconds(100), maximum: .seconds(1))
        return try RabbitMQQueueProvider(configuration: configuration, logger: logger)
    }

    static func sqsProvider(visibilityTimeout: Duration? = nil) throws -> SQSQueueProvider {
        var environment = ReliabilityEnvironment.environment
        environment["AWS_ENDPOINT_URL_SQS"] = try ReliabilityEnvironment.requireSQSEndpoint()
        if environment["AWS_REGION"] == nil { environment["AWS_REGION"] = "us-east-1" }
        var configuration = try SQSQueueProvider.Configuration.fromEnvironment(environment)
        if let visibilityTimeout { configuration.visibilityTimeout = visibilityTimeout }
        return try SQSQueueProvider(configuration: configuration, logger: logger)
    }

    @Test("memory: 150 generated messages", arguments: seeds("memory"))
    func memory(seed: UInt64) async throws {
        var generator = WorkerFuzzGenerator(seed: seed, profile: .memory)
        let messages = (0..<Self.messageCount(150)).map { generator.message($0) }
        var overrides: [String: HostileMemoryProvider.Override] = [:]
        for message in messages {
            guard let id = message.jobID, message.memoryAttempt != nil || message.memoryEnqueuedAt != nil else { continue }
            overrides[id] = HostileMemoryProvider.Override(attempt: message.memoryAttempt, enqueuedAt: message.memoryEnqueuedAt)
        }
        let base = MemoryQueueProvider()
        let provider = HostileMemoryProvider(base: base, overrides: overrides)
        let queue = ReliabilityEnvironment.queueName("fuzz-memory")
        try await Self.run(
            "memory", seed: seed, messages: messages, provider: provider, queue: queue, settleTimeout: .seconds(25),
            deadLetters: { try await base.deadLetters(of: queue, limit: $0) }
        ) { messages in
            for message in messages { try await base.enqueueRaw(message.body, to: queue) }
        }
        try await provider.close()
    }

    @Test(
        "RabbitMQ: 50 generated messages with hostile AMQP properties, published raw",
        .enabled(if: ReliabilityEnvironment.rabbitMQEnabled, ReliabilityEnvironment.rabbitMQMissing), arguments: seeds("rabbitmq"))
    func rabbitMQ(seed: UInt64) async throws {
        var generator = WorkerFuzzGenerator(seed: seed, profile: .rabbitMQ)
        let messages = (0..<Self.messageCount(50)).map { generator.message($0) }
        let provider = try Self.rabbitMQProvider()
        let producer = try Self.rabbitMQProvider()
        try await Self.withQueue("fuzz-rabbitmq", provider: provider, cleanUpWith: producer) { queue in
            try await Self.run(
                "rabbitmq", seed: seed, messages: messages, provider: provider, queue: queue, settleTimeout: .seconds(25),
                deadLetters: { try await provider.deadLetters(of: queue, limit: $0) }
            ) { messages in
                // A foreign producer's publishes: the body as generated, properties Conveyor never writes itself.
                let count = try await RawAMQPPublisher.publish(messages.map { ($0.body, $0.amqp) }, to: queue, with: producer)
                if count > messages.count { Issue.record("\(count) messages in \(queue) after publishing \(messages.count)") }
            }
        }
    }

    @Test(
        "SQS: 50 generated messages with hostile message attributes, sent raw",
        .enabled(if: ReliabilityEnvironment.sqsEnabled, ReliabilityEnvironment.sqsMissing), arguments: seeds("sqs"))
    func sqs(seed: UInt64) async throws {
        var generator = WorkerFuzzGenerator(seed: seed, profile: .sqs)
        let messages = (0..<Self.messageCount(50)).map { generator.message($0) }
        let provider = try Self.sqsProvider(visibilityTimeout: .seconds(10))
        let admin = try Self.sqsProvider()
        try await Self.withQueue("fuzz-sqs", provider: provider, cleanUpWith: admin, options: QueueOptions(visibilityTimeout: .seconds(10))) { queue in
            try await Self.run(
                "sqs", seed: seed, messages: messages, provider: provider, queue: queue, settleTimeout: .seconds(25),
                deadLetters: { try await provider.deadLetters(of: queue, limit: $0) }
            ) { messages in
                // A foreign producer's sends: the body as generated, attributes Conveyor never writes itself.
                let url = try await provider.resolve(queue).url
                for message in messages {
                    let fields = SQSAPI.MessageFields(
                        body: String(decoding: message.body, as: UTF8.self),
                        attributes: message.sqsAttributes.mapValues {
                            SQSAPI.MessageAttribute(dataType: $0["DataType"] ?? "", stringValue: $0["StringValue"], binaryValue: $0["BinaryValue"])
                        },
                        delaySeconds: message.sqsDelaySeconds > 0 ? message.sqsDelaySeconds : nil
                    )
                    _ = try await provider.client.call(SQSAPI.SendMessage(queueURL: url, message: fields))
                }
            }
        }
    }

    /// Creates a queue, runs `body`, then deletes the queue with `admin` (another provider, so that a wedged
    /// `provider` cannot keep the queue) and closes both, each step bounded.
    static func withQueue(
        _ hint: String, provider: some QueueProvisioningProvider, cleanUpWith admin: some QueueProvisioningProvider,
        options: QueueOptions = QueueOptions(), _ body: (String) async throws -> Void
    ) async throws {
        let queue = ReliabilityEnvironment.queueName(hint)
        try await provider.createQueue(queue, options: options)
        var failure: (any Error)?
        do { try await body(queue) } catch { failure = error }
        if try await bounded(.seconds(5), { try await admin.deleteQueue(queue) }) == nil {
            Issue.record("deleting queue \(queue) took longer than 5 s")
        }
        _ = try? await bounded(.seconds(3)) { try await provider.close() }
        _ = try? await bounded(.seconds(3)) { try await admin.close() }
        if let failure { throw failure }
    }

    // MARK: The run

    /// Publishes `messages`, runs a worker over `queue` until every message that must end has ended (or
    /// `settleTimeout`), runs one well-formed job, stops the worker and checks every property.
    static func run(
        _ label: String, seed: UInt64, messages: [FuzzMessage], provider: any QueueProvider, queue: String, settleTimeout: Duration,
        deadLetters: @escaping @Sendable (Int) async throws -> [DeadLetter],
        publish: ([FuzzMessage]) async throws -> Void
    ) async throws {
        let replay = "seed \(seed) (replay: CONVEYOR_WORKER_FUZZ_SEED=\(seed) swift test --skip-build --filter WorkerFuzzTests)"
        print("worker fuzz \(label): \(messages.count) messages, \(replay)")
        let started = ContinuousClock.now
        func log(_ text: String) { print("worker fuzz \(label) [\(ContinuousClock.now - started)]: \(text)") }
        try await publish(messages)
        log("published")

        let recorder = FuzzRecorder()
        var registry = TaskRegistry()
        try registry.register(FuzzRecordTask(recorder: recorder))
        let worker = Worker(
            provider: provider, registry: registry,
            configuration: Worker.Configuration(
                queues: [queue], concurrency: 8, batchSize: 10, receiveWait: .milliseconds(500), shutdownGracePeriod: .seconds(5)),
            logger: Self.logger
        )
        // Events are built only while someone listens: listen, so that their path runs on every message too.
        let events = worker.events()
        let eventCount = Task {
            var count = 0
            for await event in events {
                _ = event.description
                count += 1
            }
            return count
        }
        let limit = messages.count + 20
        var letters: [DeadLetter] = []
        var stats = QueueStats()
        var finalJobRan = false
        var finalJobID = ""
        var stoppedGracefully = true
        let outcome = FuzzWorkerOutcome()

        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask {
                do { try await worker.run() } catch { outcome.error.withLock { $0 = "\(error)" } }
                outcome.stopped.store(true, ordering: .relaxed)
            }
            // Until every message that must end has ended and nothing is ready or in flight.
            let deadline = ContinuousClock.now + settleTimeout
            var lastLog = ContinuousClock.now
            while true {
                // Bounded: a broker call that hangs must not hide the report behind the time limit.
                letters = (try? await bounded(.seconds(4)) { try await deadLetters(limit) }) ?? letters
                stats = (try? await bounded(.seconds(3)) { try await provider.stats(of: queue) }) ?? stats
                let report = FuzzReport(messages: messages, runs: recorder.runs, letters: letters)
                if report.unended.isEmpty, stats.ready == 0, stats.inFlight == 0, stats.delayed == report.held.count { break }
                if ContinuousClock.now >= deadline { break }
                if ContinuousClock.now - lastLog > .seconds(5) {
                    lastLog = ContinuousClock.now
                    log("\(report.completed) completed, \(letters.count) dead-lettered, \(report.unended.count) to go; \(stats)")
                }
                try await Task.sleep(for: .milliseconds(300))
            }
            log("settled")
            // The worker still serves: a well-formed job runs.
            let final = Envelope(task: FuzzRecordTask.name, payload: Array(#"{"n":-1}"#.utf8))
            _ = try? await bounded(.seconds(3)) { try await provider.enqueue(OutgoingMessage(envelope: final), to: queue) }
            let finalDeadline = ContinuousClock.now + .seconds(6)
            while ContinuousClock.now < finalDeadline {
                if recorder.runs[final.id.rawValue] != nil { finalJobRan = true; break }
                try await Task.sleep(for: .milliseconds(100))
            }
            // Stop; a worker stuck in a settle gets cancelled rather than hang the test.
            worker.triggerGracefulShutdown()
            group.addTask {
                try? await Task.sleep(for: .seconds(6))
            }
            _ = try await group.next()
            if !outcome.stopped.load(ordering: .relaxed) { stoppedGracefully = false }
            group.cancelAll()
            try await group.waitForAll()
            finalJobID = final.id.rawValue
        }
        log("stopped")
        // The stream ends when the worker stops.
        let eventsSeen = try await bounded(.seconds(3)) { await eventCount.value }

        let report = FuzzReport(messages: messages, runs: recorder.runs, letters: letters, ignoring: [finalJobID])
        let codes = Dictionary(grouping: letters, by: \.reason.code).mapValues(\.count)
        print("worker fuzz \(label): \(messages.count) sent = \(report.completed) completed + \(report.deadLettered) dead-lettered \(codes.sorted { $0.key < $1.key }) + \(report.held.count) held; stats \(stats); \(eventsSeen.map(String.init) ?? "?") events; \(replay)")
        var problems = report.problems
        // Every message ends exactly once: completed or dead-lettered (or, due far ahead, still delayed).
        if report.completed + report.deadLettered + report.held.count != messages.count || letters.count != report.deadLettered {
            problems.append("\(messages.count) sent, but \(report.completed) completed + \(report.deadLettered) dead-lettered + \(report.held.count) held; \(letters.count) dead letters")
        }
        if eventsSeen == nil { problems.append("the worker's event stream did not end within 3 s of its stop") }
        if report.unended.count > 0 {
            problems.append("\(report.unended.count) messages neither completed nor dead-lettered within \(settleTimeout) (lost or stuck)")
        }
        if stats.ready != 0 || stats.inFlight != 0 { problems.append("left in the queue: \(stats.ready) ready, \(stats.inFlight) in flight") }
        if stats.delayed != report.held.count {
            problems.append("\(stats.delayed) delayed in the queue, but \(report.held.count) jobs due far in the future are held: \(report.held.map(\.index))")
        }
        if !finalJobRan { problems.append("the worker did not run a well-formed job after the generated ones") }
        if !stoppedGracefully { problems.append("the worker did not stop within 6 s of a graceful shutdown; it was cancelled") }
        if let error = outcome.error.withLock({ $0 }) { problems.append("the worker stopped with \(error)") }
        if !problems.isEmpty {
            Issue.record(Comment(rawValue: "worker fuzz \(label), \(replay): \(problems.count) problems:\n" + problems.prefix(40).joined(separator: "\n")))
        }
    }
}
