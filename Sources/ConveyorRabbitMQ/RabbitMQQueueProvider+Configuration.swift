import Conveyor
import Foundation

extension RabbitMQQueueProvider {
    /// How to reach RabbitMQ and how queues are declared.
    ///
    /// Its description and reflection (`String(describing:)`, interpolation, `dump`, debuggers) show ``url`` with the
    /// password as `***`.
    public struct Configuration: Sendable, CustomStringConvertible, CustomReflectable {
        /// The broker URI, `amqp://user:password@host:port/vhost` (default port 5672, default vhost `/`) or
        /// `amqps://...` for TLS (default port 5671, peer and host name verification on). User name, password and
        /// vhost are percent-decoded (`%2F` is `/`). The query may set what the TLS and authentication settings
        /// below set, with the names other AMQP clients use, and then wins over them: `cacertfile`, `certfile`,
        /// `keyfile` (paths, percent-encoded), `verify` (`verify_peer` or `verify_none`) and `auth_mechanism`
        /// (`plain` or `external`), e.g.
        /// `amqps://rabbitmq.example.com/prod?cacertfile=/etc/ssl/ca.pem&certfile=/etc/app/cert.pem&keyfile=/etc/app/key.pem&auth_mechanism=external`.
        ///
        /// The nodes of a cluster are several URIs separated by commas (as `AMQP_URL` and `--url` accept them):
        /// `amqp://u:p@rabbit1:5672/,amqp://u:p@rabbit2:5672/,amqp://u:p@rabbit3:5672/` (or ``init(urls:queueType:maxPriority:prefetch:heartbeat:connectionName:reconnectBackoff:connectTimeout:tlsCACertificatePath:tlsCertificatePath:tlsKeyPath:tlsVerifiesPeer:authMechanism:declaresQueuesOnFirstUse:deduplicationWindow:)``).
        /// Each connection tries them in a shuffled order and, when its connection is lost or cannot open, goes on
        /// to the next with ``reconnectBackoff``. All nodes share one scheme and vhost; TLS and authentication
        /// options given in any node's query apply to all.
        public var url: String {
            didSet { parsed = try? AMQPURL.parseList(url) }
        }

        /// The nodes' URIs (``url`` split at its commas).
        public var urls: [String] {
            get { AMQPURL.splitList(url) }
            set { url = newValue.joined(separator: ",") }
        }
        /// The kind of work queue to declare. Default ``QueueType/classic``.
        public var queueType: QueueType
        /// Declares work queues with `x-max-priority` (1...255) so that higher-priority jobs are delivered first.
        /// Classic queues only: quorum queues reject `x-max-priority`. Default `nil` (no priorities).
        public var maxPriority: Int?
        /// Unacknowledged deliveries the broker pushes per queue (`basic.qos`). `nil` (the default) sizes it from
        /// the consumer: twice the capacity a ``Conveyor/Worker`` announces for the queue (its concurrency plus its
        /// receive batches, see ``Conveyor/PrefetchingQueueProvider``), so that the next batch is already here when
        /// the worker asks; without a worker, the `max` of the first `receive` on the queue.
        public var prefetch: Int?
        /// AMQP heartbeat interval; `.zero` disables heartbeats. Default 30 s.
        public var heartbeat: Duration
        /// The connection name shown by the management UI and `rabbitmqctl list_connections`
        /// (client property `connection_name`). Default `"conveyor"`.
        public var connectionName: String
        /// How reconnect attempts are spaced after a connection is lost. Default
        /// ``ReconnectBackoff/init(initial:maximum:multiplier:jitter:)``: 100 ms up to 5 s, ×2 per attempt, 25 % jitter.
        public var reconnectBackoff: ReconnectBackoff
        /// Timeout of one TCP/TLS connect and login. Default 10 s.
        public var connectTimeout: Duration
        /// A PEM file of trusted CA certificates for `amqps://` (URL query `cacertfile`). Default `nil`: the
        /// system's trust store.
        public var tlsCACertificatePath: String?
        /// A client certificate (PEM) to present for `amqps://` (URL query `certfile`), with ``tlsKeyPath``; for
        /// brokers that require one, and for ``AuthMechanism/external`` login. Default `nil`: none.
        public var tlsCertificatePath: String?
        /// The private key (PEM, unencrypted) of ``tlsCertificatePath`` (URL query `keyfile`). Default `nil`.
        public var tlsKeyPath: String?
        /// Whether `amqps://` verifies the broker's certificate chain and host name (URL query `verify`:
        /// `verify_peer` or `verify_none`). Turning it off makes the connection open to interception; for tests
        /// only. Default `true`.
        public var tlsVerifiesPeer: Bool
        /// How the connection logs in (URL query `auth_mechanism`). Default `plain` (``AuthMechanism/plain``): the
        /// URL's user name and password.
        public var authMechanism: AuthMechanism
        /// Declare a queue (and its dead-letter queue) the first time it is used. Default `true`. With `false`,
        /// queues must exist (``RabbitMQQueueProvider/createQueue(_:options:)``) and publishing to a missing queue
        /// fails with ``Conveyor/ConveyorError/Code/notConfirmed`` (the message is returned as unroutable).
        public var declaresQueuesOnFirstUse: Bool
        /// How long a deduplication key is remembered, counted from the first send that used it (as SQS FIFO):
        /// an enqueue with the same key within the window is reported as deduplicated and not published, one after
        /// it is published and starts a new window. Whole milliseconds (rounded up), from 1 ms to 4 294 967 295 ms
        /// (RabbitMQ's TTL limit). Every process enqueueing with keys to one vhost must use the same window.
        /// Default 5 minutes (``RabbitMQQueueProvider/deduplicationWindow``).
        public var deduplicationWindow: Duration

        fileprivate var parsed: [AMQPURL]?

        /// Creates a configuration for the broker at `url`. Throws
        /// ``Conveyor/ConveyorError/Code/invalidConfiguration`` when the URI is malformed; the error never contains
        /// the password.
        public init(
            url: String,
            queueType: QueueType = .classic,
            maxPriority: Int? = nil,
            prefetch: Int? = nil,
            heartbeat: Duration = .seconds(30),
            connectionName: String = "conveyor",
            reconnectBackoff: ReconnectBackoff = ReconnectBackoff(),
            connectTimeout: Duration = .seconds(10),
            tlsCACertificatePath: String? = nil,
            tlsCertificatePath: String? = nil,
            tlsKeyPath: String? = nil,
            tlsVerifiesPeer: Bool = true,
            authMechanism: AuthMechanism = .plain,
            declaresQueuesOnFirstUse: Bool = true,
            deduplicationWindow: Duration = RabbitMQQueueProvider.deduplicationWindow
        ) throws(ConveyorError) {
            self.parsed = try AMQPURL.parseList(url)
            self.url = url
            self.queueType = queueType
            self.maxPriority = maxPriority
            self.prefetch = prefetch
            self.heartbeat = heartbeat
            self.connectionName = connectionName
            self.reconnectBackoff = reconnectBackoff
            self.connectTimeout = connectTimeout
            self.tlsCACertificatePath = tlsCACertificatePath
            self.tlsCertificatePath = tlsCertificatePath
            self.tlsKeyPath = tlsKeyPath
            self.tlsVerifiesPeer = tlsVerifiesPeer
            self.authMechanism = authMechanism
            self.declaresQueuesOnFirstUse = declaresQueuesOnFirstUse
            self.deduplicationWindow = deduplicationWindow
        }

        /// Creates a configuration for the nodes of a cluster at `urls` (see ``url``); every other parameter as in
        /// ``init(url:queueType:maxPriority:prefetch:heartbeat:connectionName:reconnectBackoff:connectTimeout:tlsCACertificatePath:tlsCertificatePath:tlsKeyPath:tlsVerifiesPeer:authMechanism:declaresQueuesOnFirstUse:deduplicationWindow:)``.
        public init(
            urls: [String],
            queueType: QueueType = .classic,
            maxPriority: Int? = nil,
            prefetch: Int? = nil,
            heartbeat: Duration = .seconds(30),
            connectionName: String = "conveyor",
            reconnectBackoff: ReconnectBackoff = ReconnectBackoff(),
            connectTimeout: Duration = .seconds(10),
            tlsCACertificatePath: String? = nil,
            tlsCertificatePath: String? = nil,
            tlsKeyPath: String? = nil,
            tlsVerifiesPeer: Bool = true,
            authMechanism: AuthMechanism = .plain,
            declaresQueuesOnFirstUse: Bool = true,
            deduplicationWindow: Duration = RabbitMQQueueProvider.deduplicationWindow
        ) throws(ConveyorError) {
            try self.init(
                url: urls.joined(separator: ","), queueType: queueType, maxPriority: maxPriority, prefetch: prefetch,
                heartbeat: heartbeat, connectionName: connectionName, reconnectBackoff: reconnectBackoff,
                connectTimeout: connectTimeout, tlsCACertificatePath: tlsCACertificatePath,
                tlsCertificatePath: tlsCertificatePath, tlsKeyPath: tlsKeyPath, tlsVerifiesPeer: tlsVerifiesPeer,
                authMechanism: authMechanism, declaresQueuesOnFirstUse: declaresQueuesOnFirstUse,
                deduplicationWindow: deduplicationWindow
            )
        }

        /// The environment variable ``fromEnvironment(_:)`` reads the broker URI from.
        static let urlVariable = "AMQP_URL"

        /// A configuration for the broker whose URI is in `AMQP_URL`, every other setting at its default.
        ///
        /// There is no fallback: when `AMQP_URL` is unset or empty this throws
        /// ``Conveyor/ConveyorError/Code/invalidConfiguration`` saying to set it, rather than connecting to a
        /// local `guest` broker. A malformed URI throws the same code, naming the variable; no error contains the
        /// password.
        public static func fromEnvironment(
            _ env: [String: String] = ProcessInfo.processInfo.environment
        ) throws(ConveyorError) -> Configuration {
            guard let url = env[urlVariable], !url.isEmpty else {
                throw ConveyorError(
                    .invalidConfiguration,
                    "\(urlVariable) is not set: set it to the RabbitMQ URI, e.g. "
                        + "\(urlVariable)=amqp://user:password@rabbitmq.example.com:5672/vhost (amqps:// for TLS)"
                )
            }
            do throws(ConveyorError) {
                return try Configuration(url: url)
            } catch {
                throw ConveyorError(.invalidConfiguration, "\(urlVariable): \(error.message)")
            }
        }

        /// ``url`` with the password masked (`amqp://user:***@host:port/vhost`), for descriptions.
        var redactedURL: String {
            if let parsed { return parsed.map(\.redacted).joined(separator: ",") }
            if let reparsed = try? AMQPURL.parseList(url) { return reparsed.map(\.redacted).joined(separator: ",") }
            return "<invalid AMQP URL, not shown>"
        }

        /// Every setting, with the password in ``url`` shown as `***`.
        public var description: String {
            var parts = [
                "url: \(redactedURL)", "queueType: \(queueType)",
                "maxPriority: \(maxPriority.map(String.init) ?? "nil")", "prefetch: \(prefetch.map(String.init) ?? "nil")",
                "heartbeat: \(heartbeat)", "connectionName: \(connectionName)", "connectTimeout: \(connectTimeout)",
                "declaresQueuesOnFirstUse: \(declaresQueuesOnFirstUse)", "deduplicationWindow: \(deduplicationWindow)",
            ]
            if let tlsCACertificatePath { parts.append("tlsCACertificatePath: \(tlsCACertificatePath)") }
            if let tlsCertificatePath { parts.append("tlsCertificatePath: \(tlsCertificatePath)") }
            if let tlsKeyPath { parts.append("tlsKeyPath: \(tlsKeyPath)") }
            if !tlsVerifiesPeer { parts.append("tlsVerifiesPeer: false") }
            if authMechanism != .plain { parts.append("authMechanism: \(authMechanism)") }
            return "RabbitMQQueueProvider.Configuration(" + parts.joined(separator: ", ") + ")"
        }

        /// The settings, with the password in ``url`` shown as `***`, for `dump` and debuggers.
        public var customMirror: Mirror {
            Mirror(
                self,
                children: [
                    "url": redactedURL,
                    "queueType": queueType,
                    "maxPriority": maxPriority as Any,
                    "prefetch": prefetch as Any,
                    "heartbeat": heartbeat,
                    "connectionName": connectionName,
                    "reconnectBackoff": reconnectBackoff,
                    "connectTimeout": connectTimeout,
                    "tlsCACertificatePath": tlsCACertificatePath as Any,
                    "tlsCertificatePath": tlsCertificatePath as Any,
                    "tlsKeyPath": tlsKeyPath as Any,
                    "tlsVerifiesPeer": tlsVerifiesPeer,
                    "authMechanism": authMechanism,
                    "declaresQueuesOnFirstUse": declaresQueuesOnFirstUse,
                    "deduplicationWindow": deduplicationWindow,
                ],
                displayStyle: .struct
            )
        }

        /// Checks option combinations and returns the nodes, each with the TLS and authentication options that any
        /// node's query gives; called by the provider's initializer.
        func validated() throws(ConveyorError) -> [AMQPURL] {
            var nodes: [AMQPURL]
            if let p = self.parsed { nodes = p } else { nodes = try AMQPURL.parseList(url) }
            for index in nodes.indices {
                nodes[index].caCertificatePath = nodes.lazy.compactMap(\.caCertificatePath).first
                nodes[index].certificatePath = nodes.lazy.compactMap(\.certificatePath).first
                nodes[index].keyPath = nodes.lazy.compactMap(\.keyPath).first
                nodes[index].verifiesPeer = nodes.lazy.compactMap(\.verifiesPeer).first
                nodes[index].authMechanism = nodes.lazy.compactMap(\.authMechanism).first
            }
            let parsed = nodes[0]
            if (tlsCertificatePath == nil) != (tlsKeyPath == nil) {
                throw ConveyorError(.invalidConfiguration, "tlsCertificatePath and tlsKeyPath go together: set both or neither")
            }
            if !parsed.tls, tlsCertificatePath != nil || tlsCACertificatePath != nil {
                throw ConveyorError(.invalidConfiguration, "TLS files are set but the URL is amqp://: use amqps:// (port 5671 by default)")
            }
            if (parsed.authMechanism ?? authMechanism) == .external, parsed.certificatePath ?? tlsCertificatePath == nil {
                throw ConveyorError(
                    .invalidConfiguration,
                    "the external auth mechanism logs in with a TLS client certificate: set tlsCertificatePath and tlsKeyPath (or certfile and keyfile in the URL)"
                )
            }
            if let maxPriority {
                guard queueType == .classic else {
                    throw ConveyorError(
                        .invalidConfiguration,
                        "maxPriority is set but queueType is quorum: quorum queues reject x-max-priority; use queueType .classic for priorities or remove maxPriority"
                    )
                }
                guard (1...255).contains(maxPriority) else {
                    throw ConveyorError(.invalidConfiguration, "maxPriority must be between 1 and 255 (RabbitMQ recommends at most 10), got \(maxPriority)")
                }
            }
            if let prefetch, !(1...65535).contains(prefetch) {
                throw ConveyorError(.invalidConfiguration, "prefetch must be between 1 and 65535, got \(prefetch)")
            }
            if heartbeat < .zero || heartbeat > .seconds(65535) {
                throw ConveyorError(.invalidConfiguration, "heartbeat must be between 0 and 65535 seconds")
            }
            if RabbitMQQueueProvider.deduplicationMilliseconds(deduplicationWindow) == nil {
                throw ConveyorError(
                    .invalidConfiguration,
                    "deduplicationWindow must be between 1 millisecond and 4294967295 milliseconds (RabbitMQ's TTL limit), got \(deduplicationWindow)"
                )
            }
            return nodes
        }
    }

    /// The kind of RabbitMQ queue Conveyor declares for work queues.
    public struct QueueType: Sendable, Hashable, CustomStringConvertible {
        /// The `x-queue-type` argument.
        public let rawValue: String
        private init(_ rawValue: String) { self.rawValue = rawValue }
        /// Classic durable queues: support priorities (`x-max-priority`).
        public static let classic = QueueType("classic")
        /// Quorum queues: replicated, count deliveries (`x-delivery-count`), were about 2× faster than durable
        /// classic queues in our measurements; no priorities.
        public static let quorum = QueueType("quorum")
        /// The ``rawValue``.
        public var description: String { rawValue }
    }

    /// Capped exponential backoff with jitter between reconnect attempts.
    public struct ReconnectBackoff: Sendable, Hashable {
        /// Delay before the first reconnect attempt. Default 100 ms.
        public var initial: Duration
        /// Longest delay between attempts. Default 5 s.
        public var maximum: Duration
        /// Growth factor per failed attempt. Default 2.
        public var multiplier: Double
        /// Fraction of random jitter, 0...1: each delay is scaled by a random factor in `1-jitter ... 1`.
        /// Default 0.25.
        public var jitter: Double

        /// Creates a backoff.
        public init(initial: Duration = .milliseconds(100), maximum: Duration = .seconds(5), multiplier: Double = 2, jitter: Double = 0.25) {
            self.initial = initial
            self.maximum = maximum
            self.multiplier = multiplier
            self.jitter = jitter
        }

        /// The delay before attempt `n` (from 0).
        func delay(attempt n: Int) -> Duration {
            let base = initial.seconds * pow(max(multiplier, 1), Double(min(n, 30)))
            let capped = min(base, maximum.seconds)
            let factor = 1 - Double.random(in: 0...max(0, min(jitter.isNaN ? 0 : jitter, 1)))
            let nanoseconds = capped * factor * 1e9
            // Clamped: a huge or non-finite setting must not trap in the conversion.
            guard nanoseconds.isFinite, nanoseconds > 0 else { return .zero }
            return .nanoseconds(nanoseconds < 9e18 ? Int64(nanoseconds) : Int64(9e18))
        }
    }
}

extension RabbitMQQueueProvider {
    /// How a connection logs in to RabbitMQ.
    public struct AuthMechanism: Hashable, Sendable, CustomStringConvertible {
        /// The SASL mechanism's name in lower case.
        public let name: String
        private init(_ name: String) { self.name = name }

        /// SASL `PLAIN`: the URL's user name and password.
        public static let plain = AuthMechanism("plain")
        /// SASL `EXTERNAL`: the identity of the TLS client certificate (``Configuration/tlsCertificatePath``);
        /// RabbitMQ needs the `rabbitmq_auth_mechanism_ssl` plugin and a user named after the certificate (by
        /// default its distinguished name; `ssl_cert_login_from = common_name` for its common name). The URL's
        /// password is not used.
        public static let external = AuthMechanism("external")

        /// The name.
        public var description: String { name }
    }
}
