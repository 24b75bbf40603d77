import ArgumentParser
import Conveyor
import Logging

/// `conveyor limit set`: changes a task's global limits for every running worker.
struct LimitCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "limit",
        abstract: "Change a task's global concurrency or rate limit for every worker on the broker, without a restart.",
        discussion: """
            Workers started with --global-concurrency or --rate-limit (or TaskOptions.globalConcurrency and \
            rateLimit) seed the limit in the broker the first time; this command replaces it. Workers follow within \
            seconds while jobs flow; jobs already running finish.

            Examples:
              conveyor limit set sleep --concurrency 10 --provider rabbitmq
              conveyor limit set send-email --rate 50/s --provider sqs
              conveyor limit set send-email --key tenant-42 --concurrency 2 --provider sqs
              conveyor limit delete send-email --provider sqs
              conveyor limit show sleep --provider rabbitmq
            """,
        subcommands: [Show.self, Set.self, Delete.self]
    )

    struct Set: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Set a task's global concurrency and/or rate limit.")
        @OptionGroup var providerOptions: ProviderOptions
        @OptionGroup var logging: LoggingOptions
        @Argument(help: "Task name.") var task: String
        @Option(help: "The limit key whose limit to set (jobs enqueued with --limit-key); default: the task's own limit.") var key: String?
        @Option(help: "Most jobs of the task running at once across every worker (1 to 10000).") var concurrency: Int?
        @Option(help: ArgumentHelp("Most jobs of the task starting per interval, e.g. 50/s, 100/m,burst=10.", valueName: "n/interval"))
        var rate: String?

        func validate() throws {
            guard concurrency != nil || rate != nil else { throw ValidationError("give --concurrency, --rate or both") }
            if let concurrency, !(1...TaskOptions.maximumGlobalConcurrency).contains(concurrency) {
                throw ValidationError("--concurrency must be 1 to \(TaskOptions.maximumGlobalConcurrency)")
            }
            if let rate, RateLimitArgument(argument: "task=\(rate)") == nil {
                throw ValidationError("--rate must be N/INTERVAL[,burst=B] with N and B 1 to \(RateLimit.maximumCount) and INTERVAL s, m, h or a duration from 100ms to 1 day (e.g. 50/s)")
            }
        }

        func run() async throws {
            Logger.bootstrapOnce()
            try await reportingErrors {
                try await providerOptions.withProvider(logger: logging.makeLogger(), allowMemory: false) { provider in
                    let client = ConveyorClient(provider: provider)
                    if let concurrency {
                        try await client.setGlobalConcurrency(concurrency, for: task, key: key)
                        print("global concurrency of \(task): \(concurrency)")
                    }
                    if let rate, let parsed = RateLimitArgument(argument: "task=\(rate)") {
                        try await client.setRateLimit(parsed.rate, for: task, key: key)
                        print("global rate limit of \(task): \(rate)")
                    }
                }
            }
        }
    }

    struct Delete: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Delete the broker queues holding a task's global limits (workers that still have a limit seed it again)."
        )
        @OptionGroup var providerOptions: ProviderOptions
        @OptionGroup var logging: LoggingOptions
        @Argument(help: "Task name.") var task: String
        @Option(help: "The limit key whose limits to delete; default: the task's own.") var key: String?

        func run() async throws {
            Logger.bootstrapOnce()
            try await reportingErrors {
                try await providerOptions.withProvider(logger: logging.makeLogger(), allowMemory: false) { provider in
                    try await ConveyorClient(provider: provider).removeLimits(for: task, key: key)
                    print("deleted the limits of \(task)")
                }
            }
        }
    }

    struct Show: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Print the broker queues of a task's global limits and how many permits and tokens wait in them, as one JSON object.",
            discussion: """
                Keys: task, key (or null), permit_queue, permits_waiting (permits no worker holds; RabbitMQ counts \
                those buffered in a waiting worker as held), permits_held (SQS only: received and not handed back; \
                null elsewhere), token_queue, tokens_waiting. A queue that does not exist yet counts 0.
                """
        )
        @OptionGroup var providerOptions: ProviderOptions
        @OptionGroup var logging: LoggingOptions
        @Argument(help: "Task name.") var task: String
        @Option(help: "The limit key; default: the task's own limits.") var key: String?

        func run() async throws {
            Logger.bootstrapOnce()
            try await reportingErrors {
                try await providerOptions.withProvider(logger: logging.makeLogger(), allowMemory: false) { provider in
                    let show = try await ConveyorClient(provider: provider).limitQueues(for: task, key: key)
                    func json(_ text: String?) -> String {
                        guard let text else { return "null" }
                        return "\"" + text.replacingOccurrences(of: "\\", with: "\\\\").replacingOccurrences(of: "\"", with: "\\\"") + "\""
                    }
                    print(
                        "{\"task\":\(json(task)),\"key\":\(json(key)),\"permit_queue\":\(json(show.permitQueue)),\"permits_waiting\":\(show.permitsWaiting),"
                            + "\"permits_held\":\(show.permitsHeld.map(String.init) ?? "null"),\"token_queue\":\(json(show.tokenQueue)),\"tokens_waiting\":\(show.tokensWaiting)}"
                    )
                }
            }
        }
    }
}
