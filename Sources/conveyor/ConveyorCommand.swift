import ArgumentParser

/// The `conveyor` command-line tool.
@main
struct ConveyorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "conveyor",
        abstract: "Background jobs on real message brokers: SQS, RabbitMQ, or in memory.",
        discussion: """
            Choose the broker with --provider (or CONVEYOR_PROVIDER): memory (in-process, the default), sqs \
            (AWS_REGION, AWS_ENDPOINT_URL_SQS, the AWS credential chain) or rabbitmq (--url or AMQP_URL).
            Exit codes: 0 success, 1 failure, 2 bad usage, 3 broker unreachable or misconfigured.
            """,
        subcommands: [
            DemoCommand.self, WorkerCommand.self, EnqueueCommand.self, StatsCommand.self, DeadLetterCommand.self,
            QueueCommand.self, BenchCommand.self, ScheduleCommand.self,
        ]
    )
}
