import Conveyor
import Foundation
import Hummingbird
import Logging
import ServiceLifecycle

/// A web dashboard for Conveyor's queues, built on the broker alone: counts, live jobs with their progress, recent
/// failures, dead letters (read, redrive, purge), schedules and live workers, as server-rendered pages and a JSON
/// API beside them.
///
/// Mount it in a Hummingbird 2 application under a path of your choice and run it as a service beside the
/// application (its ``run()`` follows the queues' live events):
///
/// ```swift
/// let dashboard = try Dashboard(provider: provider, configuration: .init(queues: ["images", "emails"]))
/// let router = Router()
/// dashboard.addRoutes(to: router, atPath: "/jobs")
/// let app = Application(router: router)
/// try await ServiceGroup(services: [provider, dashboard, app], logger: logger).run()
/// ```
///
/// Or serve it on its own with ``DashboardServer`` (what `conveyor dashboard` does).
///
/// GET requests never change anything; every action is a POST that carries the dashboard's CSRF token (a form field
/// `csrf` or the header `X-CSRF-Token`, from the page or `GET api/session`), else it is refused with 403. With
/// ``Configuration/token`` set, every request needs that token too (401 without it).
public struct Dashboard: Service {
    /// The provider the queues live on.
    public let provider: any QueueProvider
    /// What the dashboard shows and who may use it.
    public let configuration: Configuration
    let logger: Logger
    let board: LiveBoard
    /// The token that POST requests must carry: random, one per dashboard.
    let csrfToken: String

    /// Creates a dashboard; nothing runs until ``run()`` and nothing is served until ``addRoutes(to:atPath:)``.
    /// Throws ``ConveyorError/Code/invalidConfiguration`` when the configuration is invalid.
    public init(provider: any QueueProvider, configuration: Configuration, logger: Logger = Logger(label: "conveyor.dashboard")) throws {
        try configuration.validate()
        self.provider = provider
        self.configuration = configuration
        self.logger = logger
        self.board = LiveBoard(queues: configuration.queues, recentFailures: configuration.recentFailures)
        var generator = SystemRandomNumberGenerator()
        self.csrfToken = (0..<4).map { _ in String(generator.next(), radix: 16) }.joined()
    }

    /// Follows the live events of every configured queue until cancelled or the service group shuts down
    /// gracefully; a subscription that fails is made again after a few seconds. Without it the pages show counts,
    /// dead letters and schedules, but no running jobs, rates or workers.
    public func run() async throws {
        await cancelWhenGracefulShutdown {
            await withTaskGroup(of: Void.self) { group in
                for queue in configuration.queues {
                    group.addTask { await follow(queue) }
                }
            }
        }
        board.finishAll()
    }

    /// Subscribes to one queue's events and records them, subscribing again after an error.
    private func follow(_ queue: String) async {
        var delay: Duration = .seconds(1)
        while !Task.isCancelled {
            do {
                let subscription = try await QueueObserver(provider: provider, queue: queue, includesWorkerHeartbeats: true, logger: logger).subscribe()
                board.setFollowing(queue, true)
                delay = .seconds(1)
                do {
                    for try await event in subscription.events { board.record(event, of: queue) }
                } catch {
                    board.setFollowing(queue, false, problem: "\(error)")
                }
                await subscription.close()
            } catch {
                board.setFollowing(queue, false, problem: "\(error)")
                logger.debug("dashboard could not follow a queue's events", metadata: ["conveyor.queue": "\(queue)", "error.message": "\(error)"])
            }
            board.setFollowing(queue, false, problem: board.snapshot(queue)?.problem ?? "the subscription ended")
            do { try await Task.sleep(for: delay) } catch { return }
            delay = min(delay * 2, .seconds(30))
        }
    }

    /// Adds the dashboard's pages, API and assets to `router` under `path` (`""` or `"/"` for the root), behind
    /// the token and CSRF checks.
    public func addRoutes<Context: RequestContext>(to router: Router<Context>, atPath path: String = "") {
        let base = Self.normalizedBase(path)
        let group = router.group(RouterPath(base.isEmpty ? "" : base))
        group.add(middleware: DashboardAccess<Context>(token: configuration.token, allowedHosts: configuration.allowedHosts, csrfToken: csrfToken, base: base))
        DashboardRoutes<Context>(dashboard: self, base: base).add(to: group)
    }

    /// `"/jobs"` from `"jobs"`, `"/jobs/"` or `"/jobs"`; `""` for the root.
    static func normalizedBase(_ path: String) -> String {
        let trimmed = path.split(separator: "/", omittingEmptySubsequences: true).joined(separator: "/")
        return trimmed.isEmpty ? "" : "/" + trimmed
    }
}
