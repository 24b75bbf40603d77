import ArgumentParser
import Conveyor
import Foundation
import Logging

/// `conveyor demo`: a realistic tour of the job lifecycle on the memory provider.
struct DemoCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo",
        abstract: "Run a realistic scenario on the in-memory provider and narrate it (no infrastructure needed).",
        discussion: """
            Several task types run on one worker: a welcome email, an image resize that reports progress, a card \
            charge that fails twice and then succeeds, a CSV import that always fails and ends in the dead-letter \
            queue, a reminder delayed by 1.5 s, a job whose payload does not decode, a malformed message, and a \
            duplicate that deduplication drops.
            """
    )

    @OptionGroup var logging: LoggingOptions

    func run() async throws {
        Logger.bootstrapOnce()
        let logger = logging.makeLogger(default: .error)
        try await reportingErrors {
            try await DemoScenario(logger: logger).run()
        }
    }
}

// MARK: - The demo's tasks

struct SendWelcomeEmail: ConveyorTask {
    struct Input: Codable, Sendable { var userID: Int; var email: String }
    static let name = "send-welcome-email"
    func run(_ input: Input, context: JobContext) async throws -> NoOutput {
        try await Task.sleep(for: .milliseconds(30))
        return NoOutput()
    }
}

struct ResizeImage: ConveyorTask {
    struct Input: Codable, Sendable { var imageID: String; var widths: [Int] }
    struct Output: Codable, Sendable { var variants: [String] }
    static let name = "resize-image"
    static let options = TaskOptions(timeout: .seconds(10), concurrency: 2)
    func run(_ input: Input, context: JobContext) async throws -> Output {
        var variants: [String] = []
        for (i, width) in input.widths.enumerated() {
            try await Task.sleep(for: .milliseconds(60))
            variants.append("\(input.imageID)@\(width)w.jpg")
            context.progress(Double(i + 1) / Double(input.widths.count), "\(width)px done")
        }
        return Output(variants: variants)
    }
}

struct ChargeCard: ConveyorTask {
    struct Input: Codable, Sendable { var orderID: String; var cents: Int }
    struct GatewayTimeout: Error, CustomStringConvertible {
        var description: String { "payment gateway timed out" }
    }
    static let name = "charge-card"
    static let options = TaskOptions(maxAttempts: 4, backoff: .exponential(base: .milliseconds(150), cap: .seconds(1), jitter: .none))
    func run(_ input: Input, context: JobContext) async throws -> NoOutput {
        try await Task.sleep(for: .milliseconds(20))
        if context.attempt < 3 { throw GatewayTimeout() }
        return NoOutput()
    }
}

struct ImportCSV: ConveyorTask {
    struct Input: Codable, Sendable { var file: String }
    struct BadRow: Error, CustomStringConvertible {
        var description: String { "row 17: \"2026-02-30\" is not a date" }
    }
    static let name = "import-csv"
    static let options = TaskOptions(maxAttempts: 3, backoff: .fixed(.milliseconds(100)))
    func run(_ input: Input, context: JobContext) async throws -> NoOutput { throw BadRow() }
}

struct SendReminder: ConveyorTask {
    struct Input: Codable, Sendable { var userID: Int }
    static let name = "send-reminder"
    func run(_ input: Input, context: JobContext) async throws -> NoOutput { NoOutput() }
}

// MARK: - The scenario

struct DemoScenario {
    let logger: Logger

    func run() async throws {
        let provider = MemoryQueueProvider()
        var registry = TaskRegistry()
        try registry.register(SendWelcomeEmail())
        try registry.register(ResizeImage())
        try registry.register(ChargeCard())
        try registry.register(ImportCSV())
        try registry.register(SendReminder())
        let client = ConveyorClient(provider: provider, logger: logger)
        let worker = Worker(
            provider: provider, registry: registry,
            configuration: Worker.Configuration(queues: ["default"], concurrency: 4, shutdownGracePeriod: .seconds(5)),
            logger: logger
        )
        let clock = ContinuousClock()
        let start = clock.now
        func stamp() -> String { String(format: "+%6.3fs", (clock.now - start).seconds) }
        var names: [JobID: String] = [:]
        func label(_ id: JobID?) -> String { id.map { names[$0] ?? String($0.rawValue.prefix(8)) } ?? "(unreadable message)" }

        print("Conveyor demo — memory provider, one worker with concurrency 4\n")
        print("Enqueueing:")
        let events = worker.events()
        func note(_ name: String, _ handle: JobHandle<some ConveyorTask>, _ what: String) {
            names[handle.id] = name
            print("  \(name.padding(toLength: 22, withPad: " ", startingAt: 0)) \(what)\(handle.deduplicated ? "  → dropped as a duplicate" : "")")
        }
        note("welcome ada", try await client.enqueue(SendWelcomeEmail.self, .init(userID: 1, email: "ada@example.com")), "send-welcome-email")
        note("resize a1", try await client.enqueue(ResizeImage.self, .init(imageID: "a1", widths: [320, 640, 1280, 2560])), "resize-image, reports progress")
        note("charge order-1001", try await client.enqueue(
            ChargeCard.self, .init(orderID: "order-1001", cents: 4200), options: .init(deduplicationKey: "charge:order-1001")),
             "charge-card, gateway fails twice")
        note("charge order-1001 (2)", try await client.enqueue(
            ChargeCard.self, .init(orderID: "order-1001", cents: 4200), options: .init(deduplicationKey: "charge:order-1001")),
             "same dedup key")
        note("import prices.csv", try await client.enqueue(ImportCSV.self, .init(file: "prices.csv")), "import-csv, always fails")
        note("remind user 1", try await client.enqueue(SendReminder.self, .init(userID: 1), options: .init(delay: .milliseconds(1500))), "send-reminder, delayed 1.5 s")
        let bad = try await client.enqueueRaw(task: SendWelcomeEmail.name, payload: Array(#"{"userID":"seven"}"#.utf8))
        names[bad.jobID] = "welcome (bad payload)"
        print("  \("welcome (bad payload)".padding(toLength: 22, withPad: " ", startingAt: 0)) userID is a string, not an integer")
        try await provider.enqueueRaw(Array(#"{"v":1,"id":"x","task":"#.utf8), to: "default")
        print("  \("(truncated message)".padding(toLength: 22, withPad: " ", startingAt: 0)) not valid JSON at all")
        print("\nWhat the worker does:")

        // Runs the worker until every job has reached its end, then shuts it down gracefully.
        let expectedEndings = 7
        var summary = [WorkerEvent.Kind: Int]()
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await worker.run() }
            var endings = 0
            for await event in events {
                summary[event.kind, default: 0] += 1
                let who = label(event.jobID)
                switch event.kind {
                case .started:
                    print("  \(stamp())  ▶ \(who) started (attempt \(event.attempt))")
                case .progressed:
                    print("  \(stamp())  … \(who) \(Int((event.progress ?? 0) * 100))%\(event.note.map { " — \($0)" } ?? "")")
                case .succeeded:
                    print("  \(stamp())  ✓ \(who) succeeded\(event.duration.map { String(format: " in %.0f ms", $0.seconds * 1000) } ?? "")")
                    endings += 1
                case .retried:
                    print("  \(stamp())  ↻ \(who) failed: \(event.error ?? "?"); retry in \(event.retryAfter.map { String(format: "%.0f ms", $0.seconds * 1000) } ?? "?")")
                case .deadLettered:
                    print("  \(stamp())  ✗ \(who) dead-lettered: \(event.error ?? "?")")
                    endings += 1
                default:
                    print("  \(stamp())  · \(who) \(event.kind)\(event.error.map { ": \($0)" } ?? "")")
                }
                if endings == expectedEndings { worker.triggerGracefulShutdown() }
            }
            try await group.waitForAll()
        }

        let stats = try await provider.stats(of: "default")
        let letters = try await provider.deadLetters(of: "default", limit: 10)
        print("\nSummary")
        print("  succeeded      \(summary[.succeeded] ?? 0)")
        print("  retries        \(summary[.retried] ?? 0)")
        print("  dead-lettered  \(summary[.deadLettered] ?? 0)")
        print("  queue now      ready \(stats.ready), in flight \(stats.inFlight), delayed \(stats.delayed), dead-lettered \(stats.deadLettered)")
        print("\nDead-letter queue (conveyor dlq list would show the same on a broker):")
        for letter in letters {
            let id = try? letter.envelope.get().id
            print("  \(label(id).padding(toLength: 22, withPad: " ", startingAt: 0)) attempts \(letter.attempts)  \(letter.reason)")
        }
        try await provider.close()
        print("\nEvery job ended: succeeded, or dead-lettered with its reason. Nothing was lost.")
    }
}
