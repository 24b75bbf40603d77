import ArgumentParser
import Conveyor
import Foundation

/// `conveyor stats`: message counts of a queue.
struct StatsCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stats",
        abstract: "Show ready, in-flight, delayed and dead-lettered counts of a queue, and whether it is paused.",
        discussion: """
            --watch refreshes in place on a terminal (one line per refresh when piped) until interrupted. --json \
            prints {"queue":…,"ready":N,"in_flight":N,"delayed":N,"dead_lettered":N,"paused":true|false|null} (one \
            line per refresh; null when whether it is paused cannot be read).

            Examples:
              conveyor stats --provider rabbitmq --queue emails
              conveyor stats --provider sqs --queue emails --json
              conveyor stats --provider sqs --queue emails --watch --interval 5s
            """
    )

    @OptionGroup var providerOptions: ProviderOptions
    @OptionGroup var logging: LoggingOptions
    @Option(help: "Queue name (or SQS queue URL).") var queue: String = "default"
    @Flag(help: "Print one JSON object.") var json = false
    @Flag(help: "Refresh in place until interrupted.") var watch = false
    @Option(help: "Refresh interval with --watch.") var interval: DurationArgument = DurationArgument(.seconds(2), text: "2s")

    func run() async throws {
        Logger.bootstrapOnce()
        let logger = logging.makeLogger()
        try await reportingErrors {
            try await providerOptions.withProvider(logger: logger, allowMemory: false) { provider in
                repeat {
                    let stats = try await provider.stats(of: queue)
                    // Unknown (null) when the provider cannot pause or the check is not allowed (a read-only user).
                    let paused: Bool? = try? await provider.pausing?.isPaused(queue)
                    if json {
                        Terminal.writeOut(#"{"queue":\#(JSONText.quoted(queue)),"ready":\#(stats.ready),"in_flight":\#(stats.inFlight),"delayed":\#(stats.delayed),"dead_lettered":\#(stats.deadLettered),"paused":\#(paused.map(String.init) ?? "null")}"# + "\n")
                    } else {
                        let line = "\(queue): ready \(stats.ready)  in flight \(stats.inFlight)  delayed \(stats.delayed)  dead-lettered \(stats.deadLettered)" + (paused == true ? "  PAUSED" : "")
                        if watch && Terminal.isInteractive {
                            Terminal.writeOut("\r\u{1B}[2K\(line)")
                        } else {
                            // Unbuffered, so a pipe sees every refresh at once.
                            Terminal.writeOut(line + "\n")
                        }
                    }
                    if watch { try await Task.sleep(for: interval.duration) }
                } while watch
            }
        }
    }
}

import Logging
