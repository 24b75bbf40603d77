import Conveyor
import Foundation

extension SQSQueueProvider {
    /// How an ``SQSQueueProvider`` reaches SQS and treats its queues.
    public struct Configuration: Sendable {
        /// The AWS region, e.g. `"us-east-1"`. Default `"us-east-1"`.
        public var region: String
        /// The SQS endpoint URL (e.g. `http://127.0.0.1:4566` for LocalStack). Default `nil`:
        /// `https://sqs.<region>.amazonaws.com`.
        public var endpoint: String?
        /// Where credentials come from. Default: ``AWSCredentialsProviderChain/standard(environment:)``
        /// (environment, profile, web identity, container, EC2 instance metadata).
        public var credentials: any AWSCredentialsProvider
        /// Visibility timeout asked for on each receive (`VisibilityTimeout`, whole seconds, 1 s to 12 h). Default
        /// 30 s; `nil` leaves it to the queue's own setting, which the provider reads once per queue.
        ///
        /// This is the only visibility timeout: a ``Conveyor/Worker`` asks the provider for it
        /// (``visibilityTimeout(of:)``) and heartbeats running jobs every 70 % of it, so the two cannot disagree.
        public var visibilityTimeout: Duration?
        /// Suffix of a queue's dead-letter queue name: `orders` → `orders-dlq`; FIFO `orders.fifo` →
        /// `orders-dlq.fifo`. Default `"-dlq"`.
        public var deadLetterQueueSuffix: String
        /// `maxReceiveCount` of the redrive policy set on queues created by ``SQSQueueProvider/createQueue(_:options:)``
        /// when the options give none. Default `nil`: no broker-side redrive (explicit dead-lettering only).
        public var maxReceiveCount: Int?
        /// Retries of transient failures (5xx, throttling, connection errors). Default ``SQSRetryPolicy/init(mode:maxAttempts:baseDelay:maxDelay:)``:
        /// `legacy` mode (no retry quota), 5 attempts, 50 ms base, 5 s cap. ``fromEnvironment(_:)`` reads
        /// `AWS_RETRY_MODE` and `AWS_MAX_ATTEMPTS` (or the profile's `retry_mode` and `max_attempts`).
        public var retryPolicy: SQSRetryPolicy
        /// Timeout of one HTTP request, added to the long-poll wait for receives. Default 30 s.
        public var requestTimeout: Duration
        /// Timeout of establishing a connection. Default 5 s.
        public var connectTimeout: Duration
        /// Largest number of batch requests (chunks of 10) one `enqueue`, `acknowledge`, visibility change or release
        /// keeps in flight per queue. Default 8.
        public var maxConcurrentBatches: Int
        /// Longest delay of one hop (`DelaySeconds`), 1 s to 900 s. Longer delays are carried by the envelope's
        /// `not_before` and re-sent until due. Default 900 s (the SQS maximum); tests lower it to exercise hops.
        public var maximumHopDelay: Duration
        /// A PEM file of CA certificates to trust for an `https` endpoint instead of the system's store, as the AWS
        /// SDKs' `AWS_CA_BUNDLE` and profile `ca_bundle` (which ``fromEnvironment(_:)`` reads): for a private
        /// endpoint or a TLS-inspecting proxy. Default `nil`: the system's trust store.
        public var caBundlePath: String?
        /// Whether requests to SQS go through the proxy the environment names, as the AWS SDKs choose it: for an
        /// `https` endpoint `HTTPS_PROXY` (or `https_proxy`), for an `http` endpoint `HTTP_PROXY` (or `http_proxy`),
        /// except for the hosts `NO_PROXY` (or `no_proxy`) lists. `ALL_PROXY` is ignored, as the SDKs ignore it. The
        /// variables are read once, when the provider is created. `false` connects directly whatever the environment
        /// says. (The credential endpoints, EC2 instance metadata and container credentials, are never proxied.)
        /// Default `true`.
        public var usesProxyFromEnvironment: Bool
        /// The variables ``usesProxyFromEnvironment`` reads the proxy from; nil (the default): the process's
        /// environment when the provider is created. For tests.
        package var _proxyEnvironment: [String: String]? = nil

        /// Creates a configuration; every parameter has the documented default.
        public init(
            region: String = "us-east-1",
            endpoint: String? = nil,
            credentials: any AWSCredentialsProvider = AWSCredentialsProviderChain.standard(),
            visibilityTimeout: Duration? = .seconds(30),
            deadLetterQueueSuffix: String = "-dlq",
            maxReceiveCount: Int? = nil,
            retryPolicy: SQSRetryPolicy = SQSRetryPolicy(),
            requestTimeout: Duration = .seconds(30),
            connectTimeout: Duration = .seconds(5),
            maxConcurrentBatches: Int = 8,
            maximumHopDelay: Duration = .seconds(900),
            caBundlePath: String? = nil,
            usesProxyFromEnvironment: Bool = true
        ) {
            self.usesProxyFromEnvironment = usesProxyFromEnvironment
            self.caBundlePath = caBundlePath
            self.region = region
            self.endpoint = endpoint
            self.credentials = credentials
            self.visibilityTimeout = visibilityTimeout
            self.deadLetterQueueSuffix = deadLetterQueueSuffix
            self.maxReceiveCount = maxReceiveCount
            self.retryPolicy = retryPolicy
            self.requestTimeout = requestTimeout
            self.connectTimeout = connectTimeout
            self.maxConcurrentBatches = max(1, maxConcurrentBatches)
            self.maximumHopDelay = min(max(maximumHopDelay, .seconds(1)), .seconds(900))
        }

        /// The endpoint used: ``endpoint`` or `https://sqs.<region>.amazonaws.com`.
        public var resolvedEndpoint: String {
            endpoint ?? "https://sqs.\(region).amazonaws.com"
        }

        /// A configuration from the AWS environment variables:
        /// - region: `AWS_REGION`, `AWS_DEFAULT_REGION`, then the `region` of the profile (`AWS_PROFILE` or
        ///   `default`) in `~/.aws/config` (`AWS_CONFIG_FILE`); `us-east-1` when only an endpoint is configured;
        /// - endpoint: `AWS_ENDPOINT_URL_SQS`, then `AWS_ENDPOINT_URL`;
        /// - credentials: the standard chain over `env`;
        /// - CA bundle: `AWS_CA_BUNDLE`, then the `ca_bundle` of the profile;
        /// - retries: `AWS_RETRY_MODE` (`legacy`, `standard`, `adaptive`) and `AWS_MAX_ATTEMPTS`, then the
        ///   `retry_mode` and `max_attempts` of the profile (see ``SQSRetryPolicy``); with none of them, Conveyor's
        ///   default policy.
        ///
        /// Throws ``ConveyorError/Code/invalidConfiguration`` when no region can be found, or for a retry mode or
        /// attempt count that cannot be read (naming the variable or key to fix).
        public static func fromEnvironment(
            _ env: [String: String] = ProcessInfo.processInfo.environment
        ) throws(ConveyorError) -> Configuration {
            func value(_ key: String) -> String? { env[key].flatMap { $0.isEmpty ? nil : $0 } }
            let endpoint = value("AWS_ENDPOINT_URL_SQS") ?? value("AWS_ENDPOINT_URL")
            var region = value("AWS_REGION") ?? value("AWS_DEFAULT_REGION")
            var caBundle = value("AWS_CA_BUNDLE")
            let profile = value("AWS_PROFILE") ?? "default"
            var settings: [String: String]?
            // The config file is read only when the environment leaves something to it.
            if region == nil || caBundle == nil || value("AWS_RETRY_MODE") == nil || value("AWS_MAX_ATTEMPTS") == nil {
                let home = env["HOME"] ?? NSHomeDirectory()
                let configFile = value("AWS_CONFIG_FILE") ?? "\(home)/.aws/config"
                settings = AWSConfigFile.load(configFile, isConfig: true)[profile]
                region = region ?? settings?["region"]
                caBundle = caBundle ?? settings?["ca_bundle"].flatMap { $0.isEmpty ? nil : $0 }
            }
            let retryPolicy = try SQSRetryPolicy.fromEnvironment(env, profile: settings, profileName: profile)
            if region == nil, endpoint != nil { region = "us-east-1" }
            guard let region else {
                throw ConveyorError(
                    .invalidConfiguration,
                    "no AWS region: set AWS_REGION, e.g. AWS_REGION=us-east-1 (or AWS_DEFAULT_REGION, or region in the profile of ~/.aws/config)"
                )
            }
            return Configuration(
                region: region, endpoint: endpoint, credentials: AWSCredentialsProviderChain.standard(environment: env),
                retryPolicy: retryPolicy, caBundlePath: caBundle
            )
        }
    }
}
