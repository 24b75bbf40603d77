import ArgumentParser
import Conveyor
import Logging

/// `conveyor job cancel`: operations on single jobs by id.
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Operate on jobs by id: cancel them.",
        discussion: """
            Examples:
              conveyor job cancel --provider rabbitmq --queue emails 3f2c0a9e-…
              conveyor job cancel --provider sqs --queue emails --expires-after 30d ID1 ID2
            """,
        subcommands: [Cancel.self]
    )

    struct Cancel: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Cancel jobs: a waiting or delayed job never runs, a running one is cancelled and not retried.",
            discussion: """
                Records a cancellation marker per job in the broker (RabbitMQ: a message in the queue \
                conveyor.cancelled.<queue>; SQS: a queue tag conveyor-cancel-…, at most about 48 per queue), which \
                workers read about once a second. The worker that meets a cancelled job acknowledges it without \
                running it (or cancels it where it runs), does not dead-letter it, and publishes a `cancelled` event. \
                A marker expires after --expires-after: a job delayed past that runs. A job that already ended is \
                not affected.
                """
        )
        @OptionGroup var providerOptions: ProviderOptions
        @OptionGroup var logging: LoggingOptions
        @Option(help: "The queue the jobs were sent to.") var queue: String
        @Option(name: .customLong("expires-after"), help: "How long the markers live: 30m, 12h, 7d… (at most 365d).")
        var expiresAfter = DurationArgument(ConveyorClient.defaultCancellationLifetime, text: "7d")
        @Argument(help: "Job ids.") var ids: [String]

        func validate() throws {
            guard !ids.isEmpty else { throw ValidationError("name at least one job id") }
            if ids.contains(where: \.isEmpty) { throw ValidationError("a job id is not empty") }
            guard expiresAfter.duration > .zero, expiresAfter.duration <= ConveyorClient.maximumCancellationLifetime else {
                throw ValidationError("--expires-after must be more than 0 and at most 365d, not \(expiresAfter)")
            }
        }

        func run() async throws {
            try await reportingErrors {
                Logger.bootstrapOnce()
                try await providerOptions.withProvider(logger: logging.makeLogger(), allowMemory: false) { provider in
                    try await ConveyorClient(provider: provider).cancel(ids.map { JobID($0) }, in: queue, expiresAfter: expiresAfter.duration)
                    for id in ids { print("cancelled \(id) on \(queue) (marker expires in \(expiresAfter))") }
                }
            }
        }
    }
}
