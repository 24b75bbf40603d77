import Conveyor
import Hummingbird
import Logging
import ServiceLifecycle

/// Serves a ``Dashboard`` on its own HTTP listener (what `conveyor dashboard` runs), and follows its live events.
///
/// Loopback by default. Listening on any other address needs ``Dashboard/Configuration/token``:
/// ``init(dashboard:configuration:logger:onListening:)`` refuses without one.
public struct DashboardServer: Service {
    /// Where the server listens.
    public struct Configuration: Sendable {
        /// Address to listen on. Default `127.0.0.1`.
        public var host: String
        /// Port; 0 picks a free one (given to `onListening`). Default 8080.
        public var port: Int
        /// Path the dashboard is served under. Default `""`, the root.
        public var path: String

        /// Creates a configuration with the documented defaults.
        public init(host: String = "127.0.0.1", port: Int = 8080, path: String = "") {
            self.host = host
            self.port = port
            self.path = path
        }

        /// Whether `host` reaches only this machine: `localhost`, an IPv4 address in 127.0.0.0/8 or `::1` (a name is
        /// not resolved: `127.example.com` is not loopback).
        public var isLoopback: Bool {
            let address = host.hasPrefix("[") && host.hasSuffix("]") ? String(host.dropFirst().dropLast()) : host
            if address == "localhost" || address == "::1" { return true }
            let parts = address.split(separator: ".", omittingEmptySubsequences: false)
            guard parts.count == 4, parts[0] == "127" else { return false }
            return parts.allSatisfy { part in
                !part.isEmpty && part.count <= 3 && part.allSatisfy(\.isASCII) && part.allSatisfy(\.isNumber) && (Int(part) ?? 256) <= 255
            }
        }
    }

    /// The dashboard served.
    public let dashboard: Dashboard
    /// Where it listens.
    public let configuration: Configuration
    let logger: Logger
    let onListening: @Sendable (String) -> Void

    /// Creates a server. Throws ``ConveyorError/Code/invalidConfiguration`` when the address is not loopback and
    /// the dashboard has no token, or the port is outside 0...65535.
    public init(
        dashboard: Dashboard, configuration: Configuration = Configuration(), logger: Logger = Logger(label: "conveyor.dashboard"),
        onListening: @escaping @Sendable (String) -> Void = { _ in }
    ) throws {
        guard (0...65_535).contains(configuration.port) else {
            throw ConveyorError(.invalidConfiguration, "dashboard port \(configuration.port) is outside 0...65535")
        }
        guard configuration.isLoopback || dashboard.configuration.token != nil else {
            throw ConveyorError(
                .invalidConfiguration,
                "the dashboard would listen on \(configuration.host), which other machines can reach: give it a token (--token or CONVEYOR_DASHBOARD_TOKEN), or bind to 127.0.0.1")
        }
        self.dashboard = dashboard
        self.configuration = configuration
        self.logger = logger
        self.onListening = onListening
    }

    /// Listens and follows the queues' events until cancelled or the group shuts down gracefully.
    public func run() async throws {
        let router = Router()
        dashboard.addRoutes(to: router, atPath: configuration.path)
        let host = configuration.host
        let path = Dashboard.normalizedBase(configuration.path)
        let onListening = self.onListening
        let application = Application(
            router: router,
            configuration: ApplicationConfiguration(address: .hostname(host, port: configuration.port)),
            onServerRunning: { channel in
                let port = channel.localAddress?.port ?? 0
                let shownHost = host.contains(":") ? "[\(host)]" : host
                onListening("http://\(shownHost):\(port)\(path)/")
            },
            logger: logger
        )
        try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { try await dashboard.run() }
            group.addTask { try await application.run() }
            // Both end on the group's graceful shutdown; an error from either cancels the other.
            try await group.waitForAll()
        }
    }
}
