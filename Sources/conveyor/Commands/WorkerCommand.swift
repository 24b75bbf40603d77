import ArgumentParser
import Conveyor
import Foundation
import Logging
import Metrics
import Prometheus
import ServiceLifecycle

/// `conveyor worker`: a standalone worker with the built-in tasks.
struct WorkerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "worker",
        abstract: "Run a worker with the built-in tasks noop, echo, sleep, fail and record.",
        discussion: """
            Tasks: noop (does nothing), echo (logs and returns its payload), sleep ({"ms": N}), fail (always \
            throws, so the job is retried then dead-lettered), record (appends "<job id> <attempt> <task> \
            <payload>" to --record FILE before the job is acknowledged; with --record, sleep appends "<job id> <attempt> \
            sleep <started unix ms> <finished unix ms>" when it finishes). SIGTERM or SIGINT stops receiving, \
            lets running jobs finish within --shutdown-grace, then returns the rest to the broker, and exits 0.

            With --metrics-port P the worker serves Prometheus text metrics at http://127.0.0.1:P/metrics \
            (conveyor_jobs_total{task,outcome}, conveyor_job_duration_seconds, conveyor_queue_wait_seconds, \
            conveyor_jobs_in_flight, and the provider's broker request metrics); --metrics-bind 0.0.0.0 serves \
            them on every interface instead of loopback only.

            Examples:
              conveyor worker --provider rabbitmq --queue emails --concurrency 32
              CONVEYOR_PROVIDER=sqs AWS_REGION=eu-west-1 conveyor worker --queue jobs --metrics-port 9464
              conveyor worker --provider sqs --queue smoke --record /tmp/jobs.log
              conveyor worker --provider rabbitmq --queue jobs --global-concurrency sleep=5 --rate-limit echo=50/s
            """
    )

    @OptionGroup var providerOptions: ProviderOptions
    @OptionGroup var logging: LoggingOptions
    @Option(name: .customLong("queue"), help: "Queue to consume (repeatable).") var queues: [String] = ["default"]
    @Option(help: "Most jobs running at once.") var concurrency: Int = 16
    @Option(help: "File the record task appends to.") var record: String?
    @Option(name: .customLong("shutdown-grace"), help: "How long running jobs may finish after SIGTERM.")
    var shutdownGrace: DurationArgument = DurationArgument(.seconds(30), text: "30s")
    @Option(
        name: .customLong("visibility-timeout"),
        help: "Visibility timeout asked for on each receive; the worker heartbeats running jobs by it (memory, sqs; default 30s).")
    var visibilityTimeout: DurationArgument?
    @Option(name: .customLong("max-attempts"), help: "Attempts before a built-in task's job is dead-lettered.")
    var maxAttempts: Int = 3
    @Option(name: .customLong("retry-delay"), help: "Delay before retrying a failed built-in task.")
    var retryDelay: DurationArgument = DurationArgument(.seconds(1), text: "1s")
    @Option(name: .customLong("metrics-port"), help: "Serve Prometheus metrics on http://ADDRESS:PORT/metrics (0: any free port).")
    var metricsPort: Int?
    @Option(name: .customLong("metrics-bind"), help: ArgumentHelp("Address the metrics endpoint listens on.", valueName: "address"))
    var metricsBind: String = "127.0.0.1"
    @Option(
        name: .customLong("global-concurrency"),
        help: ArgumentHelp(
            "Most jobs of a built-in task running at once across every worker on the broker (repeatable), e.g. sleep=5. The first worker seeds the limit; change it with 'conveyor limit set'.",
            valueName: "task=n"))
    var globalConcurrency: [ConcurrencyLimitArgument] = []
    @Option(
        name: .customLong("rate-limit"),
        help: ArgumentHelp(
            "Most jobs of a built-in task starting per interval across every worker (repeatable), e.g. sleep=50/s or sleep=100/m,burst=10.",
            valueName: "task=n/interval"))
    var rateLimits: [RateLimitArgument] = []

    func validate() throws {
        guard (1...Worker.Configuration.maximumConcurrency).contains(concurrency) else {
            throw ValidationError("--concurrency must be 1 to \(Worker.Configuration.maximumConcurrency)")
        }
        guard maxAttempts >= 1 else { throw ValidationError("--max-attempts must be at least 1") }
        if visibilityTimeout != nil, providerOptions.kind == "rabbitmq" {
            throw ValidationError("--visibility-timeout applies to memory and sqs: RabbitMQ has none (it redelivers when a connection closes)")
        }
        if let metricsPort, !(0...65535).contains(metricsPort) {
            throw ValidationError("--metrics-port must be between 0 and 65535")
        }
        guard !metricsBind.isEmpty else { throw ValidationError("--metrics-bind must be an address, such as 127.0.0.1") }
        for task in globalConcurrency.map(\.task) + rateLimits.map(\.task) where !BuiltinTasks.names.contains(task) {
            throw ValidationError("--global-concurrency and --rate-limit name a built-in task (\(BuiltinTasks.names.joined(separator: ", "))); got \(task)")
        }
    }

    func run() async throws {
        Logger.bootstrapOnce()
        let logger = logging.makeLogger(default: .info)
        try await reportingErrors {
            var services: [ServiceGroupConfiguration.ServiceConfiguration] = []
            if let metricsPort {
                let registry = PrometheusCollectorRegistry()
                MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
                let endpoint = MetricsEndpoint(
                    configuration: MetricsEndpoint.Configuration(host: metricsBind, port: metricsPort),
                    registry: registry,
                    logger: logger,
                    onListening: { url in Terminal.error("metrics: \(url)") }
                )
                // First in the group, so shut down last: scrapes still work while the worker drains. If it cannot
                // listen, the worker is drained gracefully and the error reported.
                services.append(.init(service: endpoint, failureTerminationBehavior: .gracefullyShutdownGroup))
            }
            let provider = try providerOptions.makeProvider(logger: logger, visibilityTimeout: visibilityTimeout?.duration)
            // Fail fast on a broken configuration (unreachable broker, wrong credentials, missing SQS queue): one
            // round trip per queue before the worker starts, instead of a receive loop that retries forever.
            for queue in queues {
                do {
                    _ = try await provider.stats(of: queue)
                } catch let error as ConveyorError where error.code == .queueNotFound && provider.capabilities.declaresQueuesOnUse {
                    // RabbitMQ queues are declared on first use.
                }
            }
            var registry = TaskRegistry()
            try BuiltinTasks.register(in: &registry, recordFile: try record.map { try RecordFile(path: $0) })
            var overrides: [String: TaskOptions] = [:]
            for name in registry.taskNames {
                // The built-in tasks serve whatever queues this worker consumes (producers name the queue per job).
                overrides[name] = TaskOptions(
                    maxAttempts: maxAttempts, backoff: .fixed(retryDelay.duration), timeout: .seconds(300),
                    queue: queues.first ?? "default",
                    globalConcurrency: globalConcurrency.last { $0.task == name }?.limit,
                    rateLimit: rateLimits.last { $0.task == name }?.rate)
            }
            let worker = Worker(
                provider: provider,
                registry: registry,
                configuration: Worker.Configuration(
                    queues: queues,
                    concurrency: concurrency,
                    shutdownGracePeriod: shutdownGrace.duration,
                    taskOptionOverrides: overrides
                ),
                logger: logger
            )
            logger.info(
                "worker starting",
                metadata: [
                    "conveyor.provider": .string(provider.name), "conveyor.queues": .string(queues.joined(separator: ",")),
                    "worker.concurrency": .stringConvertible(concurrency),
                ])
            // The provider before the worker: it closes after the worker has drained.
            let group = ServiceGroup(
                configuration: ServiceGroupConfiguration(
                    services: services + [.init(service: provider), .init(service: worker)],
                    gracefulShutdownSignals: [.sigterm, .sigint],
                    logger: logger
                )
            )
            try await group.run()
            logger.info("worker stopped")
        }
    }
}
