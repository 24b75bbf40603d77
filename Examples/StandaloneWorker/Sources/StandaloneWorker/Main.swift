import Conveyor
import Foundation
import Logging
import ServiceLifecycle

/// Runs a worker for `resize-image` and `send-report` on the queue `CONVEYOR_QUEUE` (default `default`) until
/// SIGTERM or SIGINT, then drains gracefully.
@main
struct StandaloneWorker {
    static func main() async throws {
        LoggingSystem.bootstrap { StreamLogHandler.standardError(label: $0) }
        var logger = Logger(label: "standalone-worker")
        logger.logLevel = .info
        let environment = ProcessInfo.processInfo.environment
        let queue = environment["CONVEYOR_QUEUE"] ?? "default"
        let provider = try makeProvider(logger: logger)
        // Jobs of tasks on the "default" queue (child jobs included) go to this worker's queue.
        let client = ConveyorClient(provider: provider, logger: logger, defaultQueue: queue)

        var registry = TaskRegistry()
        try registry.register(ResizeImage())
        try registry.register(SendReport(client: client))

        let worker = Worker(
            provider: provider,
            registry: registry,
            configuration: .init(
                queues: [queue],
                concurrency: Int(environment["CONVEYOR_CONCURRENCY"] ?? "") ?? 8
            ),
            logger: logger
        )
        let group = ServiceGroup(
            // The provider is a service too: listed first, it closes after the worker has drained.
            configuration: .init(
                services: [.init(service: provider), .init(service: worker)], gracefulShutdownSignals: [.sigterm, .sigint], logger: logger)
        )
        try await group.run()
    }
}
