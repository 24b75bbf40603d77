import ArgumentParser
import Conveyor
import Foundation

/// `conveyor enqueue`: sends jobs and prints their ids.
struct EnqueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "enqueue",
        abstract: "Enqueue jobs and print their ids, one per line.",
        discussion: """
            With --count N the jobs go to the broker in batches (SQS SendMessageBatch of 10, RabbitMQ publishes \
            confirmed together), 500 jobs per provider call; progress shows on a terminal only. With --json each \
            job is one JSON line: {"id":…,"queue":…,"deduplicated":false}.
            --dedup-key names one job, so it cannot be combined with --count above 1.

            Examples:
              conveyor enqueue --provider rabbitmq --queue emails --task echo --payload '{"hi":1}'
              conveyor enqueue --provider sqs --queue jobs --task sleep --payload '{"ms":200}' --count 1000 --json
              conveyor enqueue --queue jobs --task noop --delay 5m --priority 9 --dedup-key nightly-2026-11-25
            """
    )

    @OptionGroup var providerOptions: ProviderOptions
    @OptionGroup var logging: LoggingOptions

    @Option(help: "Queue name (or SQS queue URL).") var queue: String = "default"
    @Option(help: "Task name, as registered by the worker.") var task: String
    @Option(help: "JSON payload (the task's input).") var payload: String = "{}"
    @Option(help: "Delay before the job may run: 500ms, 30s, 5m, 2h.") var delay: DurationArgument?
    @Option(help: "Priority 0 (lowest) to 9 (highest).") var priority: Int?
    @Option(name: .customLong("dedup-key"), help: "Deduplication key.") var dedupKey: String?
    @Option(name: .customLong("correlation-id"), help: "Correlation id.") var correlationID: String?
    @Option(name: .customLong("max-attempts"), help: "Attempts before dead-lettering (default: the task's).") var maxAttempts: Int?
    @Option(help: "How many copies to enqueue.") var count: Int = 1
    @Flag(help: "Print one JSON object per job instead of bare ids.") var json = false

    func validate() throws {
        guard count >= 1 else { throw ValidationError("--count must be at least 1") }
        if count > 1, dedupKey != nil { throw ValidationError("--dedup-key names one job; it cannot be used with --count above 1") }
        if let priority, !(0...9).contains(priority) { throw ValidationError("--priority must be between 0 and 9") }
        guard (try? JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed])) != nil else {
            throw ValidationError("--payload is not valid JSON: \(payload.prefix(80))")
        }
    }

    func run() async throws {
        Logger.bootstrapOnce()
        let logger = logging.makeLogger()
        try await reportingErrors {
            try await providerOptions.withProvider(logger: logger, allowMemory: false) { provider in
                let client = ConveyorClient(provider: provider, logger: logger)
                let options = EnqueueOptions(
                    delay: delay?.duration,
                    priority: priority,
                    deduplicationKey: dedupKey,
                    correlationID: correlationID,
                    queue: queue,
                    maxAttempts: maxAttempts
                )
                let body = Array(payload.utf8)
                let chunkSize = 500
                var sent = 0
                while sent < count {
                    let n = min(chunkSize, count - sent)
                    let results = try await client.enqueueRaw(
                        task: task, payloads: Array(repeating: body, count: n), options: options)
                    var out = ""
                    for result in results {
                        if json {
                            out += #"{"id":\#(JSONText.quoted(result.jobID.rawValue)),"queue":\#(JSONText.quoted(queue)),"deduplicated":\#(result.deduplicated)}"#
                        } else {
                            out += result.jobID.rawValue
                        }
                        out += "\n"
                    }
                    Terminal.writeOut(out)
                    sent += n
                    if count > chunkSize { Terminal.progress("enqueued \(sent)/\(count)") }
                }
                Terminal.endProgress()
            }
        }
    }
}

import Logging
