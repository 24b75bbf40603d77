import Conveyor

extension Dashboard {
    /// What the dashboard shows and who may use it.
    public struct Configuration: Sendable {
        /// The queues shown, in this order. Only these can be viewed or operated on: a page or action naming another
        /// queue answers 404.
        public var queues: [String]
        /// The token every page and API call must carry (`Authorization: Bearer <token>`, the cookie the dashboard
        /// sets after `?token=<token>`, or that query parameter). Default `nil`: no token, for a dashboard that
        /// only loopback clients reach. ``DashboardServer`` refuses other addresses without one.
        public var token: String?
        /// Base name of the scheduler's queues, as given to ``JobScheduler/Configuration``; `nil` hides the
        /// schedules page. Default `"conveyor-schedules"`, the CLI's default.
        public var schedulesQueue: String?
        /// Where the user's Prometheus metrics are, linked from the pages for what the broker keeps no history of.
        /// Default `nil`: the pages say to scrape the workers' `--metrics-port`.
        public var metricsURL: String?
        /// Most dead letters listed on one page. Default 100.
        public var deadLetterPageSize: Int
        /// Failures kept per queue for the queue page (from live events). Default 50.
        public var recentFailures: Int
        /// A worker that has not sent a heartbeat for this long leaves the workers page. Default 30 s.
        public var workerExpiry: Duration
        /// Host names (as browsers send them in `Host`, without the port) that may reach a dashboard without a
        /// token, besides `localhost`, `127.0.0.0/8` and `::1`. Default none: a web page that rebinds its own name to
        /// 127.0.0.1 (DNS rebinding) is refused. A dashboard with a ``token`` accepts any host name.
        public var allowedHosts: [String]
        /// How long a page waits for the broker to answer a read (counts, dead letters, schedules) before it shows
        /// an error instead: a broker that is down makes the provider wait for its reconnection. Default 5 s.
        public var brokerTimeout: Duration

        /// Creates a configuration with the documented defaults.
        public init(
            queues: [String],
            token: String? = nil,
            schedulesQueue: String? = "conveyor-schedules",
            metricsURL: String? = nil,
            deadLetterPageSize: Int = 100,
            recentFailures: Int = 50,
            workerExpiry: Duration = .seconds(30),
            brokerTimeout: Duration = .seconds(5),
            allowedHosts: [String] = []
        ) {
            self.queues = queues
            self.token = token
            self.schedulesQueue = schedulesQueue
            self.metricsURL = metricsURL
            self.deadLetterPageSize = deadLetterPageSize
            self.recentFailures = recentFailures
            self.workerExpiry = workerExpiry
            self.brokerTimeout = brokerTimeout
            self.allowedHosts = allowedHosts
        }

        /// Throws ``ConveyorError/Code/invalidConfiguration`` saying what to fix.
        func validate() throws {
            guard !queues.isEmpty else {
                throw ConveyorError(.invalidConfiguration, "the dashboard needs at least one queue (Configuration.queues, --queue)")
            }
            if let duplicate = Dictionary(grouping: queues, by: { $0 }).first(where: { $0.value.count > 1 })?.key {
                throw ConveyorError(.invalidConfiguration, "queue \(duplicate) is named twice")
            }
            if let token, token.isEmpty || token.utf8.count > 4096
                || token.unicodeScalars.contains(where: { !(0x21...0x7E).contains($0.value) || ";,\"\\".unicodeScalars.contains($0) }) {
                throw ConveyorError(
                    .invalidConfiguration,
                    "the dashboard token must be 1 to 4096 printable ASCII characters without spaces, commas, semicolons, quotes or backslashes")
            }
            guard (1...10_000).contains(deadLetterPageSize) else {
                throw ConveyorError(.invalidConfiguration, "deadLetterPageSize must be between 1 and 10000")
            }
            guard (1...10_000).contains(recentFailures) else {
                throw ConveyorError(.invalidConfiguration, "recentFailures must be between 1 and 10000")
            }
            guard brokerTimeout > .zero else {
                throw ConveyorError(.invalidConfiguration, "brokerTimeout must be positive")
            }
            guard workerExpiry > .zero else {
                throw ConveyorError(.invalidConfiguration, "workerExpiry must be positive")
            }
        }
    }
}
