import ArgumentParser
import Conveyor
import Foundation
import Logging
import ServiceLifecycle

/// `conveyor events`: follows a queue's live job events.
struct EventsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "events",
        abstract: "Follow a queue's live job events until interrupted (SIGINT/SIGTERM).",
        discussion: """
            Prints the events of every job of the queue as workers and producers report them: enqueued, started, \\
            progress, retrying, succeeded, dead_lettered, failed, interrupted. No job is taken from the queue. With \\
            --json each event is one JSON object per line: {"kind","id","task","queue","attempt","progress",\\
            "note","at"} (plus "reason_code" and "reason" for failures). Events are best effort and not replayed; \\
            workers of other processes start sending within seconds (RabbitMQ 5 s, SQS 10 s).

            Examples:
              conveyor events --provider rabbitmq --queue emails
              conveyor events --provider sqs --queue jobs --task resize --json | jq .
            """
    )

    @OptionGroup var providerOptions: ProviderOptions
    @OptionGroup var logging: LoggingOptions

    @Option(help: "Queue name (or SQS queue URL).") var queue: String = "default"
    @Option(help: "Only the events of this task.") var task: String?
    @Flag(help: "Print one JSON object per event.") var json = false

    func run() async throws {
        Logger.bootstrapOnce()
        let logger = logging.makeLogger()
        try await reportingErrors {
            try await providerOptions.withProvider(logger: logger, allowMemory: false) { provider in
                let subscription = try await QueueObserver(provider: provider, queue: queue, logger: logger).subscribe()
                Terminal.error("following the events of \(queue); interrupt to stop")
                let follower = EventFollower(subscription: subscription, task: task, json: json)
                let group = ServiceGroup(
                    configuration: ServiceGroupConfiguration(
                        services: [.init(service: follower, successTerminationBehavior: .gracefullyShutdownGroup)],
                        gracefulShutdownSignals: [.sigterm, .sigint],
                        logger: logger
                    )
                )
                do {
                    try await group.run()
                } catch {
                    await subscription.close()
                    throw error
                }
                await subscription.close()
            }
        }
    }

    /// One event as printed.
    static func line(_ event: JobEvent, json: Bool) -> String {
        guard json else { return "\(RFC3339.format(event.at)) \(event)" }
        var fields = [
            #""kind":\#(JSONText.quoted(event.kind.rawValue))"#, #""id":\#(JSONText.quoted(event.jobID.rawValue))"#,
            #""task":\#(JSONText.quoted(event.task))"#, #""queue":\#(JSONText.quoted(event.queue))"#, #""attempt":\#(event.attempt)"#,
            #""progress":\#(event.progress.map { String($0) } ?? "null")"#, #""note":\#(event.note.map(JSONText.quoted) ?? "null")"#,
            #""at":\#(JSONText.quoted(RFC3339.format(event.at)))"#,
        ]
        if let reason = event.reason {
            fields.append(#""reason_code":\#(JSONText.quoted(reason.code))"#)
            fields.append(#""reason":\#(JSONText.quoted(reason.message))"#)
        }
        return "{" + fields.joined(separator: ",") + "}"
    }
}

/// Prints a subscription's events until graceful shutdown.
struct EventFollower: Service {
    let subscription: JobEventSubscription
    let task: String?
    let json: Bool

    func run() async throws {
        try await cancelWhenGracefulShutdown {
            for try await event in subscription.events where task == nil || event.task == task {
                Terminal.writeOut(EventsCommand.line(event, json: json) + "\n")
            }
        }
    }
}
