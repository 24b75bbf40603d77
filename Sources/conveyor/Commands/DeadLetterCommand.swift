import ArgumentParser
import Conveyor
import Foundation
import Logging

/// `conveyor dlq list|show|redrive|purge`.
struct DeadLetterCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dlq",
        abstract: "Inspect, redrive and purge dead-lettered jobs.",
        discussion: """
            Examples:
              conveyor dlq list --provider sqs --queue emails
              conveyor dlq list --provider sqs --queue emails --json | jq -r .id
              conveyor dlq show --provider rabbitmq --queue emails 01JD5Q2W8X3Y4Z5A6B7C8D9E0F
              conveyor dlq redrive --provider rabbitmq --queue emails --id 01JD5Q2W8X3Y4Z5A6B7C8D9E0F
              conveyor dlq purge --provider rabbitmq --queue emails --yes
            """,
        subcommands: [List.self, Show.self, Redrive.self, Purge.self]
    )

    struct Common: ParsableArguments {
        @OptionGroup var providerOptions: ProviderOptions
        @OptionGroup var logging: LoggingOptions
        @Option(help: "Queue whose dead letters to use.") var queue: String = "default"

        /// Runs `body` with the provider's dead-letter operations, closing the provider on every path.
        func withDeadLetters<T>(_ body: (any DeadLetterQueueProvider) async throws -> T) async throws -> T {
            Logger.bootstrapOnce()
            return try await providerOptions.withProvider(logger: logging.makeLogger(), allowMemory: false) { provider in
                guard let dlq = provider.deadLetterQueues else {
                    throw ConveyorError(.unsupported, "the \(provider.name) provider has no dead-letter operations")
                }
                return try await body(dlq)
            }
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List dead-lettered jobs with their reasons and attempts.")
        @OptionGroup var common: Common
        @Option(help: "Most jobs to list.") var limit: Int = 50
        @Flag(help: "One JSON object per line.") var json = false

        func run() async throws {
            try await reportingErrors {
                try await common.withDeadLetters { provider in
                    let letters = try await provider.deadLetters(of: common.queue, limit: limit)
                    for letter in letters { print(DeadLetterCommand.line(letter, json: json)) }
                    if !json { Terminal.error("\(letters.count) dead-lettered job(s) shown") }
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Show one dead-lettered job in full.")
        @OptionGroup var common: Common
        @Argument(help: "Job id.") var id: String

        func run() async throws {
            try await reportingErrors {
                try await common.withDeadLetters { provider in
                    let letters = try await provider.deadLetters(of: common.queue, limit: 1000)
                    let match = letters.first { letter in
                        if case .success(let envelope) = letter.envelope { return envelope.id.rawValue == id }
                        return false
                    }
                    guard let letter = match else {
                        throw ConveyorError(.invalidParameter, "no dead-lettered job \(id) in the first 1000 of \(common.queue)")
                    }
                    switch letter.envelope {
                    case .success(let envelope):
                        print(String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self))
                    case .failure(let error):
                        print("undecodable body (\(error.message)): \(letter.rawBody.map { String(decoding: $0.prefix(2000), as: UTF8.self) } ?? "")")
                    }
                    print("reason: \(letter.reason)")
                    print("attempts: \(letter.attempts)")
                }
            }
        }
    }

    struct Redrive: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Move dead-lettered jobs back to the work queue.",
            discussion: "All of them, or only those given with --id (repeatable). Redriven jobs start over with a fresh attempt count."
        )
        @OptionGroup var common: Common
        @Option(name: .customLong("id"), help: "Only these job ids (repeatable); default all.") var ids: [String] = []

        func run() async throws {
            try await reportingErrors {
                try await common.withDeadLetters { provider in
                    let queue = common.queue
                    Terminal.progress("redriving \(queue)…")
                    let selected: Set<JobID>? = ids.isEmpty ? nil : Set(ids.map { JobID($0) })
                    let moved = try await withThrowingTaskGroup(of: Int?.self) { group in
                        group.addTask { try await provider.redrive(queue, ids: selected) }
                        if Terminal.isInteractive {
                            // On a terminal only: how many are left in the dead-letter queue, twice a second.
                            group.addTask {
                                let start = (try? await provider.stats(of: queue).deadLettered) ?? 0
                                while true {
                                    try await Task.sleep(for: .milliseconds(500))
                                    guard let left = try? await provider.stats(of: queue).deadLettered else { continue }
                                    Terminal.progress("redriving \(queue): \(max(0, start - left)) of \(start) moved, \(left) left…")
                                }
                            }
                        }
                        defer { group.cancelAll() }
                        while let result = try await group.next() {
                            if let moved = result { return moved }
                        }
                        return 0
                    }
                    Terminal.endProgress()
                    print("redrove \(moved) job(s) to \(common.queue)")
                }
            }
        }
    }

    struct Purge: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete every dead-lettered job of a queue.",
            discussion: "Asks you to type the queue name on a terminal; without a terminal it refuses (exit 2) unless --yes is given."
        )
        @OptionGroup var common: Common
        @Flag(name: .customLong("yes"), help: "Don't ask for confirmation.") var confirmed = false

        func run() async throws {
            if !confirmed {
                try await Terminal.confirmByTyping(
                    common.queue, question: "Delete every dead-lettered job of \(common.queue)?",
                    refusal: "purge the dead letters of \(common.queue)")
            }
            try await reportingErrors {
                try await common.withDeadLetters { provider in
                    let count = try await provider.purgeDeadLetters(of: common.queue)
                    print("purged \(count) job(s)")
                }
            }
        }
    }

    static func line(_ letter: DeadLetter, json: Bool) -> String {
        let id = (try? letter.envelope.get().id.rawValue) ?? "-"
        let task = (try? letter.envelope.get().task) ?? "-"
        if json {
            return #"{"id":\#(JSONText.quoted(id)),"task":\#(JSONText.quoted(task)),"attempts":\#(letter.attempts),"reason_code":\#(JSONText.quoted(letter.reason.code)),"reason":\#(JSONText.quoted(letter.reason.message))}"#
        }
        return "\(id)  \(task)  attempts \(letter.attempts)  \(letter.reason)"
    }
}
