import ArgumentParser
import Conveyor
import Foundation
import Logging
import ServiceLifecycle

/// `conveyor schedule list|add|remove`: recurring jobs kept in the broker (no database).
struct ScheduleCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "schedule",
        abstract: "List, add and remove recurring (cron) jobs.",
        discussion: """
            Schedules live in the broker: definitions in <base>-registry, pending firings in <base> and claims in \
            <base>-claims (<base>-claims.fifo, a FIFO queue, on SQS). They fire while at least one scheduler runs: `conveyor \
            schedule run`, or a JobScheduler in your application (any number of instances; each slot fires once). \
            With --provider memory the schedules live only inside this one process.
            """,
        subcommands: [List.self, Add.self, Remove.self, Run.self]
    )

    struct Common: ParsableArguments {
        @OptionGroup var providerOptions: ProviderOptions
        @OptionGroup var logging: LoggingOptions
        @Option(help: "Base name of the scheduler's queues.") var schedulesQueue: String = "conveyor-schedules"

        /// A scheduler on a new provider; the caller closes the provider.
        func scheduler() throws -> JobScheduler {
            let logger = startLogging()
            return scheduler(on: try providerOptions.makeProvider(logger: logger), logger: logger)
        }

        /// Runs `body` with a scheduler on a new provider, closing the provider on every path.
        func withScheduler<T>(_ body: (JobScheduler) async throws -> T) async throws -> T {
            let logger = startLogging()
            return try await providerOptions.withProvider(logger: logger) { provider in
                try await body(scheduler(on: provider, logger: logger))
            }
        }

        private func startLogging() -> Logger {
            Logger.bootstrapOnce()
            if providerOptions.kind == "memory" {
                Terminal.error("note: the memory provider lives inside this process; schedules added here are gone when it exits")
            }
            return logging.makeLogger()
        }

        private func scheduler(on provider: any QueueProvider, logger: Logger) -> JobScheduler {
            // A provider that needs short-lived connections to read the registry (RabbitMQ) opens them itself.
            let configuration = JobScheduler.Configuration(
                timerQueue: schedulesQueue,
                claimQueue: "\(schedulesQueue)-claims",
                registryQueue: "\(schedulesQueue)-registry"
            )
            return JobScheduler(provider: provider, configuration: configuration, logger: logger)
        }
    }

    struct List: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List the registered schedules and their next slot.")
        @OptionGroup var common: Common
        @Flag(help: "One JSON object per line.") var json = false

        func run() async throws {
            try await reportingErrors {
                try await common.withScheduler { scheduler in
                    let jobs = try await scheduler.registeredJobs()
                    for job in jobs { print(ScheduleCommand.line(job, json: json)) }
                    if !json { Terminal.error("\(jobs.count) schedule(s)") }
                }
            }
        }
    }

    struct Add: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Add or replace a schedule (same id: replaced; same definition: unchanged) and send its first firing."
        )
        @OptionGroup var common: Common
        @Argument(help: "Schedule id.") var id: String
        @Option(help: "Cron expression (5 or 6 fields, @daily, …) or interval (every 15m).") var schedule: String
        @Option(help: "IANA time zone of a cron schedule.") var timeZone: String = "UTC"
        @Option(help: "Task name to enqueue.") var task: String
        @Option(help: "Task input as JSON.") var payload: String = "{}"
        @Option(help: "Queue to enqueue the job to.") var queue: String = "default"
        @Option(help: "Missed-slot policy: skip or run-once.") var missed: String = "skip"

        func validate() throws {
            guard (try? JSONSerialization.jsonObject(with: Data(payload.utf8), options: [.fragmentsAllowed])) != nil else {
                throw ValidationError("--payload is not valid JSON: \(payload.prefix(80))")
            }
        }

        func run() async throws {
            try await reportingErrors {
                let policy: MissedSlotPolicy
                switch missed.lowercased() {
                case "skip": policy = .skip
                case "run-once", "runonce", "run_once": policy = .runOnce
                default: throw ConveyorError(.invalidParameter, "--missed \(missed): use skip or run-once")
                }
                let job = try ScheduledJob(
                    id: id, schedule: Schedule(parsing: schedule, timeZone: timeZone), task: task, payload: Array(payload.utf8),
                    queue: queue, missedSlotPolicy: policy
                )
                try await common.withScheduler { scheduler in
                    try await scheduler.register(job)
                    print(ScheduleCommand.line(job, json: false))
                }
            }
        }
    }

    struct Remove: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Remove a schedule; pending firings are dropped by schedulers that do not define it in code."
        )
        @OptionGroup var common: Common
        @Argument(help: "Schedule id.") var id: String

        func run() async throws {
            try await reportingErrors {
                let removed = try await common.withScheduler { scheduler in try await scheduler.remove(id) }
                guard removed else { throw ConveyorError(.invalidParameter, "no schedule \(id) is registered") }
                Terminal.error("removed \(id)")
            }
        }
    }

    struct Run: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Fire the registered schedules until interrupted (SIGINT/SIGTERM); run as many as you like."
        )
        @OptionGroup var common: Common

        func run() async throws {
            try await reportingErrors {
                let scheduler = try common.scheduler()
                var logger = common.logging.makeLogger(default: .info)
                logger[metadataKey: "conveyor.queue"] = .string(common.schedulesQueue)
                let jobs = try await scheduler.resumeRegisteredJobs()
                Terminal.error("firing \(jobs.count) registered schedule(s); Ctrl-C to stop")
                let group = ServiceGroup(
                    configuration: ServiceGroupConfiguration(
                        // The provider closes after the scheduler has stopped.
                        services: [.init(service: scheduler.provider), .init(service: scheduler)],
                        gracefulShutdownSignals: [.sigterm, .sigint], logger: logger
                    )
                )
                try await group.run()
            }
        }
    }

    static func line(_ job: ScheduledJob, json: Bool) -> String {
        let next = job.schedule.nextFireDate(after: Date()).map(RFC3339.format) ?? "-"
        if json {
            let object: [String: String] = [
                "id": job.id, "schedule": job.scheduleText, "time_zone": job.schedule.timeZone.identifier, "task": job.task,
                "queue": job.queue, "missed": job.missedSlotPolicy.description, "version": job.version, "next": next,
                "payload": String(decoding: job.payload, as: UTF8.self),
            ]
            let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data()
            return String(decoding: data, as: UTF8.self)
        }
        return "\(job.id)\t\(job.scheduleText)\t\(job.schedule.timeZone.identifier)\t\(job.task)\t\(job.queue)\t\(job.missedSlotPolicy)\tnext \(next)"
    }
}
