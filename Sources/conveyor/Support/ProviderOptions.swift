import ArgumentParser
import Conveyor
import ConveyorRabbitMQ
import ConveyorSQS
import Foundation
import Logging

/// Which broker to talk to, from flags or the usual environment variables.
struct ProviderOptions: ParsableArguments {
    @Option(name: .long, help: "Provider: memory, sqs or rabbitmq (env CONVEYOR_PROVIDER; default memory).")
    var provider: String?

    @Option(name: .long, help: "AMQP URI for rabbitmq, amqp://user:pass@host:port/vhost (env AMQP_URL).")
    var url: String?

    @Option(name: .customLong("queue-type"), help: "RabbitMQ queue type for the queues this command declares: classic or quorum (env CONVEYOR_RABBITMQ_QUEUE_TYPE; default classic).")
    var queueType: String?

    @Option(name: .long, help: "SQS endpoint URL (env AWS_ENDPOINT_URL_SQS or AWS_ENDPOINT_URL), e.g. http://127.0.0.1:4566.")
    var endpoint: String?

    @Option(name: .long, help: "AWS region for sqs (env AWS_REGION or AWS_DEFAULT_REGION).")
    var region: String?

    @Option(name: .long, help: "AWS profile for sqs: its region and credentials (static keys, an assumed role, IAM Identity Center or credential_process) (env AWS_PROFILE; default default).")
    var profile: String?

    /// The provider kind after flags and environment.
    var kind: String {
        (provider ?? ProcessInfo.processInfo.environment["CONVEYOR_PROVIDER"] ?? "memory").lowercased()
    }

    func validate() throws {
        guard ["memory", "sqs", "rabbitmq"].contains(kind) else {
            throw ValidationError("unknown provider '\(kind)': use memory, sqs or rabbitmq")
        }
        if let type = rabbitMQQueueTypeName, !["classic", "quorum"].contains(type) {
            throw ValidationError("unknown RabbitMQ queue type '\(type)': use classic or quorum")
        }
    }

    /// `--queue-type`, else `CONVEYOR_RABBITMQ_QUEUE_TYPE`, lowercased.
    private var rabbitMQQueueTypeName: String? {
        (queueType ?? ProcessInfo.processInfo.environment["CONVEYOR_RABBITMQ_QUEUE_TYPE"])?.lowercased()
    }

    /// Builds the provider. `allowMemory` is false for commands that only make sense against a shared broker.
    /// `visibilityTimeout` replaces the provider's own (memory and SQS; RabbitMQ has none).
    func makeProvider(logger: Logger, allowMemory: Bool = true, visibilityTimeout: Duration? = nil) throws -> any QueueProvider {
        var env = ProcessInfo.processInfo.environment
        switch kind {
        case "memory":
            guard allowMemory else {
                throw ValidationError(
                    "the memory provider lives inside one process, so this command cannot reach it: use --provider sqs or rabbitmq"
                )
            }
            var configuration = MemoryQueueProvider.Configuration()
            if let visibilityTimeout { configuration.visibilityTimeout = visibilityTimeout }
            return MemoryQueueProvider(configuration: configuration)
        case "sqs":
            if let endpoint { env["AWS_ENDPOINT_URL_SQS"] = endpoint }
            if let region { env["AWS_REGION"] = region }
            if let profile { env["AWS_PROFILE"] = profile }
            var configuration = try SQSQueueProvider.Configuration.fromEnvironment(env)
            if let visibilityTimeout { configuration.visibilityTimeout = visibilityTimeout }
            return try SQSQueueProvider(configuration: configuration, logger: logger)
        default:
            // --url, else AMQP_URL; with neither, fromEnvironment says to set it (there is no default broker).
            var configuration: RabbitMQQueueProvider.Configuration
            if let url {
                configuration = try RabbitMQQueueProvider.Configuration(url: url)
            } else {
                configuration = try RabbitMQQueueProvider.Configuration.fromEnvironment(env)
            }
            if rabbitMQQueueTypeName == "quorum" { configuration.queueType = .quorum }
            return try RabbitMQQueueProvider(configuration: configuration, logger: logger)
        }
    }
}

/// Logging options shared by the commands.
struct LoggingOptions: ParsableArguments {
    @Option(name: .long, help: "Log level: trace, debug, info, notice, warning, error (default warning; env LOG_LEVEL).")
    var logLevel: String?

    func makeLogger(label: String = "conveyor", default level: Logger.Level = .warning) -> Logger {
        var logger = Logger(label: label)
        let text = logLevel ?? ProcessInfo.processInfo.environment["LOG_LEVEL"]
        logger.logLevel = text.flatMap { Logger.Level(rawValue: $0.lowercased()) } ?? level
        return logger
    }
}

extension Logger {
    /// Bootstraps swift-log to standard error once per process.
    static func bootstrapOnce() {
        LoggingBootstrap.run
    }
}

private enum LoggingBootstrap {
    static let run: Void = {
        LoggingSystem.bootstrap { label in StreamLogHandler.standardError(label: label) }
    }()
}
