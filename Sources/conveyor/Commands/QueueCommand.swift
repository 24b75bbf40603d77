import ArgumentParser
import Conveyor
import Logging

/// `conveyor queue create|delete`: provisioning for development and tests.
struct QueueCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "queue",
        abstract: "Create or delete queues (with their dead-letter queues).",
        discussion: """
            For development and tests; production queues are usually provisioned by infrastructure code.

            Examples:
              conveyor queue create emails --provider rabbitmq
              conveyor queue create orders.fifo --fifo --provider sqs --max-receive-count 5
              conveyor queue delete emails --provider sqs --yes
            """,
        subcommands: [Create.self, Delete.self]
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

        func run() async throws {
            try await reportingErrors {
                try await QueueCommand.withProvisioning(providerOptions, logging, to: "create") { provisioning in
                    try await provisioning.createQueue(
                        queue, options: QueueOptions(fifo: fifo, deadLetterQueue: dlq, maxReceiveCount: maxReceiveCount))
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
