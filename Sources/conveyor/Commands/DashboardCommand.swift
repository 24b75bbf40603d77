import ArgumentParser
import Conveyor
import ConveyorDashboard
import Foundation
import Logging
import ServiceLifecycle

/// `conveyor dashboard`: serves the web dashboard of some queues.
struct DashboardCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "dashboard",
        abstract: "Serve a web dashboard of queues, dead letters, schedules and workers until interrupted.",
        discussion: """
            Pages: the queues with their counts, paused state and jobs per second; a queue's running jobs with \\
            their progress, live events and recent failures, with pause and resume; its dead letters (one job's \\
            envelope and raw body, redrive one, selected or all, purge); the registered schedules (add, remove); \\
            the workers heard from lately. A JSON API beside them: GET /api/queues, /api/queues/Q/dead-letters, \\
            /api/queues/Q/running, /api/schedules, /api/workers, /api/session (the CSRF token for POSTs).

            Listens on 127.0.0.1 unless --bind says otherwise; any other address needs a token (--token or \\
            CONVEYOR_DASHBOARD_TOKEN), else the command exits with 2. With a token, open the dashboard once with \\
            ?token=T (it sets a cookie) or send Authorization: Bearer T.

            Examples:
              conveyor dashboard --provider rabbitmq --queue emails --queue images
              CONVEYOR_DASHBOARD_TOKEN=s3cret conveyor dashboard --provider sqs --queue jobs --bind 0.0.0.0 --port 9000
            """
    )

    @OptionGroup var providerOptions: ProviderOptions
    @OptionGroup var logging: LoggingOptions

    @Option(name: .customLong("queue"), help: "A queue to show (repeat for several).") var queues: [String] = []
    @Option(help: "Address to listen on.") var bind: String = "127.0.0.1"
    @Option(help: "Port to listen on (0: a free one, printed).") var port: Int = 8080
    @Option(help: "Token every request must carry (default: CONVEYOR_DASHBOARD_TOKEN); required off loopback.") var token: String?
    @Option(help: "Base name of the scheduler's queues.") var schedulesQueue: String = "conveyor-schedules"
    @Option(help: "URL of your Prometheus metrics, linked from the pages.") var metricsURL: String?

    /// The token from the flag, else from the environment.
    var effectiveToken: String? {
        token ?? ProcessInfo.processInfo.environment["CONVEYOR_DASHBOARD_TOKEN"].flatMap { $0.isEmpty ? nil : $0 }
    }

    func validate() throws {
        guard !queues.isEmpty else { throw ValidationError("name at least one --queue to show") }
        guard (0...65_535).contains(port) else { throw ValidationError("--port \(port) is outside 0...65535") }
        let server = DashboardServer.Configuration(host: bind, port: port)
        if !server.isLoopback && effectiveToken == nil {
            throw ValidationError(
                "--bind \(bind) lets other machines reach the dashboard: give it a token with --token or CONVEYOR_DASHBOARD_TOKEN, or bind to 127.0.0.1")
        }
    }

    func run() async throws {
        Logger.bootstrapOnce()
        let logger = logging.makeLogger()
        if providerOptions.kind == "memory" {
            Terminal.error("note: the memory provider lives inside this process; the dashboard shows only what happens in it")
        }
        try await reportingErrors {
            try await providerOptions.withProvider(logger: logger) { provider in
                let dashboard = try Dashboard(
                    provider: provider,
                    configuration: Dashboard.Configuration(
                        queues: queues, token: effectiveToken, schedulesQueue: schedulesQueue, metricsURL: metricsURL),
                    logger: logger
                )
                let server = try DashboardServer(
                    dashboard: dashboard, configuration: .init(host: bind, port: port), logger: logger,
                    onListening: { url in Terminal.error("dashboard: \(url)") }
                )
                let group = ServiceGroup(
                    configuration: ServiceGroupConfiguration(
                        services: [.init(service: server)],
                        gracefulShutdownSignals: [.sigterm, .sigint],
                        logger: logger
                    )
                )
                try await group.run()
            }
        }
    }
}
