import ArgumentParser
import Foundation

/// The `conveyor` command-line tool.
@main
struct ConveyorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conveyor",
        abstract: "Background jobs on real message brokers: SQS, RabbitMQ, or in memory.",
        discussion: """
            Choose the broker with --provider (or CONVEYOR_PROVIDER): memory (in-process, the default), sqs \
            (AWS_REGION, AWS_ENDPOINT_URL_SQS, the AWS credential chain; or --region/--endpoint) or rabbitmq \
            (AMQP_URL or --url amqp://user:password@host:5672/vhost).

            Exit codes: 0 success, 1 failure, 2 bad usage, 3 broker unreachable or misconfigured.
            Commands that print data have --json (one JSON object per line); progress goes to standard error on \
            a terminal only.

            Examples:
              conveyor demo
              conveyor queue create emails --provider rabbitmq
              conveyor enqueue --provider rabbitmq --queue emails --task echo --payload '{"to":"a@example.com"}'
              conveyor worker --provider rabbitmq --queue emails --metrics-port 9464
              conveyor stats --provider sqs --queue emails --watch
              conveyor dlq list --provider sqs --queue emails --json
            """,
        subcommands: [
            DemoCommand.self, WorkerCommand.self, EnqueueCommand.self, StatsCommand.self, DeadLetterCommand.self,
            QueueCommand.self, JobCommand.self, LimitCommand.self, BenchCommand.self, ScheduleCommand.self, EventsCommand.self,
            DashboardCommand.self,
        ]
    )

    /// Parses and runs the command; usage errors exit with 2 (not ArgumentParser's 64) as documented.
    static func main() async {
        do {
            var command = try parseAsRoot()
            if var asyncCommand = command as? any AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            if exitCode(for: error) == .validationFailure {
                let message = fullMessage(for: error)
                if !message.isEmpty { FileHandle.standardError.write(Data((message + "\n").utf8)) }
                Foundation.exit(ExitCodes.usage.rawValue)
            }
            exit(withError: error)
        }
    }
}
