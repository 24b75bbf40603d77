import ArgumentParser
import Conveyor
import Logging

/// `conveyor queue create|delete|pause|resume`: provisioning for development and tests, and pausing queues.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Create or delete queues (with their dead-letter queues); pause or resume them.",
        discussion: """
            For development and tests; production queues are usually provisioned by infrastructure code.

            Examples:
              conveyor queue create emails --provider rabbitmq
              conveyor queue create orders.fifo --fifo --provider sqs --max-receive-count 5
              conveyor queue create orders.fifo --fifo --high-throughput --provider sqs
              conveyor queue create uploads --provider sqs --max-message-size 1048576
              conveyor queue delete emails --provider sqs --yes
              conveyor queue pause emails --provider rabbitmq
              conveyor queue resume emails --provider rabbitmq
            """,
        subcommands: [Create.self, Delete.self, Pause.self, Resume.self]
    )

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a queue; idempotent.")
        @OptionGroup var providerOptions: ProviderOptions
        @OptionGroup var logging: LoggingOptions
        @Argument(help: "Queue name.") var queue: String
        @Flag(help: "FIFO queue (SQS; the name must end in .fifo).") var fifo = false
        @Flag(inversion: .prefixedNo, help: "Also create a dead-letter queue.") var dlq = true
        @Option(name: .customLong("max-receive-count"), help: "Broker-side dead-lettering after this many receives (SQS redrive policy).")
        var maxReceiveCount: Int?
        @Option(
            name: .customLong("max-message-size"),
            help: ArgumentHelp(
                "Largest message the queue (and its dead-letter queue) accepts, 1024 to 1048576 bytes (SQS MaximumMessageSize; default 262144). Brokers without a per-queue limit ignore it.",
                valueName: "bytes"))
        var maxMessageSize: Int?
        @Flag(
            name: .customLong("high-throughput"),
            help: "FIFO high throughput (SQS DeduplicationScope=messageGroup, FifoThroughputLimit=perMessageGroupId); needs --fifo.")
        var highThroughput = false

        func validate() throws {
            if highThroughput && !fifo {
                throw ValidationError("--high-throughput applies to FIFO queues: add --fifo (and name the queue <name>.fifo)")
            }
            if let maxMessageSize, !(1_024...1_048_576).contains(maxMessageSize) {
                throw ValidationError("--max-message-size must be between 1024 and 1048576 bytes (is \(maxMessageSize))")
            }
        }

        func run() async throws {
            try await reportingErrors {
                try await QueueCommand.withProvisioning(providerOptions, logging, to: "create") { provisioning in
                    try await provisioning.createQueue(
                        queue,
                        options: QueueOptions(
                            fifo: fifo, deadLetterQueue: dlq, maxReceiveCount: maxReceiveCount, maximumMessageBytes: maxMessageSize,
                            highThroughput: highThroughput))
                    print("created \(queue)")
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete a queue and its dead-letter queue, with every job in them.",
            discussion: "Asks you to type the queue name on a terminal; without a terminal it refuses (exit 2) unless --yes is given."
        )
        @OptionGroup var providerOptions: ProviderOptions
        @OptionGroup var logging: LoggingOptions
        @Argument(help: "Queue name.") var queue: String
        @Flag(name: .customLong("yes"), help: "Don't ask for confirmation.") var confirmed = false

        func run() async throws {
            if !confirmed {
                try await Terminal.confirmByTyping(
                    queue, question: "Delete queue \(queue) and its dead-letter queue, with every job in them?",
                    refusal: "delete queue \(queue)")
            }
            try await reportingErrors {
                try await QueueCommand.withProvisioning(providerOptions, logging, to: "delete") { provisioning in
                    try await provisioning.deleteQueue(queue)
                    print("deleted \(queue)")
                }
            }
        }
    }

    struct Pause: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Pause queues: workers take no new jobs from them (within about 1 s), running jobs finish.",
            discussion: """
                The paused state lives in the broker (RabbitMQ: a message in the queue conveyor.paused.<queue>; SQS: \
                the queue tag conveyor-paused), so it outlives worker restarts until `conveyor queue resume`. Jobs can \
                still be enqueued. `conveyor stats --json` shows "paused".
                """
        )
        @OptionGroup var providerOptions: ProviderOptions
        @OptionGroup var logging: LoggingOptions
        @Argument(help: "Queue names.") var queues: [String]

        func run() async throws {
            try await reportingErrors { try await QueueCommand.setPaused(true, queues, providerOptions, logging) }
        }
    }

    struct Resume: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Resume paused queues: workers take jobs from them again within about 1 s.")
        @OptionGroup var providerOptions: ProviderOptions
        @OptionGroup var logging: LoggingOptions
        @Argument(help: "Queue names.") var queues: [String]

        func run() async throws {
            try await reportingErrors { try await QueueCommand.setPaused(false, queues, providerOptions, logging) }
        }
    }

    static func setPaused(_ paused: Bool, _ queues: [String], _ providerOptions: ProviderOptions, _ logging: LoggingOptions) async throws {
        guard !queues.isEmpty else { throw ConveyorError(.invalidParameter, "name at least one queue") }
        Logger.bootstrapOnce()
        try await providerOptions.withProvider(logger: logging.makeLogger(), allowMemory: false) { provider in
            let client = ConveyorClient(provider: provider)
            for queue in queues {
                if paused { try await client.pause(queue) } else { try await client.resume(queue) }
                print(paused ? "paused \(queue)" : "resumed \(queue)")
            }
        }
    }

    /// Runs `body` with the provider's provisioning operations, closing the provider on every path; throws
    /// ``ConveyorError/Code/unsupported`` when the provider cannot `verb` queues.
    static func withProvisioning(
        _ providerOptions: ProviderOptions, _ logging: LoggingOptions, to verb: String,
        _ body: (any QueueProvisioningProvider) async throws -> Void
    ) async throws {
        Logger.bootstrapOnce()
        try await providerOptions.withProvider(logger: logging.makeLogger(), allowMemory: false) { provider in
            guard let provisioning = provider.provisioning else {
                throw ConveyorError(.unsupported, "the \(provider.name) provider cannot \(verb) queues")
            }
            try await body(provisioning)
        }
    }
}
