import Conveyor
import Crypto
import Foundation
import Logging
import Synchronization

/// A ``QueueProvider`` for Amazon SQS (and emulators such as LocalStack), over the AWS JSON 1.0 protocol with its own
/// SigV4 signer and a libcurl multi transport on a thread the provider owns.
///
/// Queues are addressed by name (resolved to a URL once with `GetQueueUrl` and cached) or by full queue URL. Names
/// ending in `.fifo` are FIFO queues: the message group is ``OutgoingMessage/groupID`` (default `"default"`) and the
/// deduplication id is the envelope's deduplication key (else the job id). Standard SQS queues cannot deduplicate;
/// their deduplication keys are carried in the envelope but not enforced, so ``capabilities`` reports no
/// deduplication.
///
/// - `receive` is a long poll (`WaitTimeSeconds` ≤ 20, `MaxNumberOfMessages` ≤ 10); attempt =
///   `ApproximateReceiveCount` + ``Envelope/attemptOffset``.
/// - `fail` with a delay changes the visibility (capped at 12 h); without one it sends a copy to the dead-letter queue
///   (`<queue><deadLetterQueueSuffix>`) with the reason in message attributes and envelope headers, then deletes the
///   original. A copy that would exceed the dead-letter queue's `MaximumMessageSize` is shortened: the reason text
///   first, then the added envelope headers (the reason stays in the message attributes).
/// - Delays up to 900 s use `DelaySeconds`. FIFO queues have only queue-level delays: a delayed message to a FIFO
///   queue is refused with ``ConveyorError/Code/unsupported``.
public final class SQSQueueProvider: QueueProvider, DeadLetterQueueProvider, QueueProvisioningProvider {
    /// The configuration in use.
    public let configuration: Configuration
    /// The SQS client (package-visible so tests can make raw calls).
    package let client: SQSClient
    let logger: Logger
    let queues = Mutex<[String: QueueInfo]>([:])
    /// Event subscription queues of observed queues, by observed queue, with when they were last listed.
    let eventSubscribers = Mutex<[String: (urls: [String], listedAt: ContinuousClock.Instant)]>([:])
    let closed = Atomic<Bool>(false)
    /// The tags last read per queue URL (paused state, cancellation markers) and when: see ``controlTags(of:)``.
    let controlTagReadings = Mutex<[String: (tags: [String: String], readAt: ContinuousClock.Instant)]>([:])

    /// Largest message SQS accepts by default (256 KiB): a new queue's `MaximumMessageSize`. A queue's own
    /// `MaximumMessageSize` (1 KiB to 1 MiB, ``Conveyor/QueueOptions/maximumMessageBytes``) lowers or raises it.
    public static let defaultMaximumMessageBytes = 262_144
    /// Longest native delay (`DelaySeconds`).
    public static let maximumDelay: Duration = .seconds(900)
    /// Longest visibility timeout SQS allows (12 h).
    public static let maximumVisibility: Duration = .seconds(43_200)

    struct QueueInfo: Sendable {
        var url: String
        var name: String
        var fifo: Bool { name.hasSuffix(".fifo") }
        var maximumMessageBytes: Int?
        /// ``maximumMessageBytes`` is SQS's default, assumed because SQS denied reading the queue's attribute.
        var maximumMessageBytesAssumed = false
        /// The queue's `VisibilityTimeout` attribute, once read.
        var visibilityTimeout: Duration?
    }

    /// Creates a provider. It connects lazily: nothing is sent and no thread starts until the first call.
    ///
    /// Throws ``ConveyorError/Code/invalidConfiguration`` for an unusable endpoint or a visibility timeout outside
    /// 1 s to 12 h.
    public init(configuration: Configuration, logger: Logger = Logger(label: "conveyor.sqs")) throws {
        if let timeout = configuration.visibilityTimeout, !(Duration.seconds(1)...Duration.seconds(43_200)).contains(timeout) {
            throw ConveyorError(
                .invalidConfiguration,
                "SQSQueueProvider.Configuration.visibilityTimeout must be between 1 s and 12 h (is \(timeout)); nil uses the queue's own setting"
            )
        }
        self.configuration = configuration
        self.logger = logger
        self.client = try SQSClient(
            endpoint: configuration.resolvedEndpoint,
            region: configuration.region,
            credentials: configuration.credentials,
            retry: configuration.retryPolicy,
            requestTimeout: configuration.requestTimeout,
            connectTimeout: configuration.connectTimeout,
            caBundlePath: configuration.caBundlePath,
            // The proxy variables are read once, now.
            proxySettings: configuration.usesProxyFromEnvironment
                ? configuration._proxyEnvironment.map(ProxySettings.init(environment:)) ?? .fromProcessEnvironment()
                : .direct,
            logger: logger
        )
    }

    deinit {
        // Lets the transfer thread end if the provider was dropped without `close()`.
        client.http.shutdown()
    }

    /// `"sqs"`.
    public var name: String { "sqs" }

    /// No priorities, visibility timeouts, 900 s native delay, no provider-wide deduplication (FIFO queues only),
    /// 256 KiB messages, broker timestamps (`SentTimestamp`).
    public var capabilities: ProviderCapabilities {
        ProviderCapabilities(
            priorities: false,
            visibilityTimeout: true,
            maximumNativeDelay: configuration.maximumHopDelay,
            deduplication: false,
            deduplicationWindow: .seconds(300),
            maximumMessageBytes: Self.defaultMaximumMessageBytes,
            brokerTimestamps: true
        )
    }

    /// `base` as a FIFO queue name (`base.fifo`, or `base` when it already ends with `.fifo`): SQS deduplicates only
    /// on FIFO queues, and ``createQueue(_:options:)`` makes a queue whose name ends with `.fifo` a FIFO queue.
    public func deduplicatingQueueName(_ base: String) -> String {
        base.hasSuffix(".fifo") ? base : base + ".fifo"
    }

    // MARK: - Queue resolution

    func checkOpen() throws {
        if closed.load(ordering: .relaxed) {
            throw ConveyorError(.closed, "the SQS provider has been closed")
        }
    }

    /// The queue's URL and name, resolving a name with `GetQueueUrl` once.
    func resolve(_ queue: String) async throws -> QueueInfo {
        try checkOpen()
        if let info = queues.withLock({ $0[queue] }) { return info }
        let info: QueueInfo
        if queue.hasPrefix("https://") || queue.hasPrefix("http://") {
            let name = queue.split(separator: "/").last.map(String.init) ?? queue
            info = QueueInfo(url: queue, name: name)
        } else {
            guard !queue.isEmpty else { throw ConveyorError(.invalidParameter, "queue name is empty") }
            let url: String
            do {
                url = try await client.call(SQSAPI.GetQueueURL(queueName: queue)).url
            } catch let error as ConveyorError where error.code == .queueNotFound {
                // Name the queue, and what to do about it.
                throw ConveyorError(
                    .queueNotFound,
                    "SQS queue \"\(queue)\" does not exist at \(configuration.resolvedEndpoint) (region \(configuration.region)): create it (conveyor queue create \(queue)) or fix the queue name, region or endpoint"
                )
            }
            info = QueueInfo(url: url, name: queue)
        }
        queues.withLock { $0[queue] = info }
        return info
    }

    /// The dead-letter queue name or URL of `queue`.
    func deadLetterQueue(of queue: String) -> String {
        let suffix = configuration.deadLetterQueueSuffix
        if queue.hasPrefix("https://") || queue.hasPrefix("http://") {
            guard let slash = queue.lastIndex(of: "/") else { return queue + suffix }
            let name = String(queue[queue.index(after: slash)...])
            return String(queue[...slash]) + deadLetterQueue(of: name)
        }
        if queue.hasSuffix(".fifo") {
            return String(queue.dropLast(5)) + suffix + ".fifo"
        }
        return queue + suffix
    }

    func forget(_ queue: String) {
        queues.withLock { $0[queue] = nil }
    }

    /// The queue's size limit, from its `MaximumMessageSize` attribute (fetched once); the default when the attribute
    /// is missing, not a size SQS allows (1 KiB to 1 MiB) or cannot be read.
    func maximumMessageBytes(of info: QueueInfo, key: String) async throws -> Int {
        await messageSizeLimit(of: info, key: key).bytes
    }

    /// The queue's size limit (see ``maximumMessageBytes(of:key:)``) and whether it was read from the queue: `false`
    /// when `GetQueueAttributes` failed, and the default is assumed. A limit read from the queue is kept; a failed
    /// read is tried again at the next call, unless SQS denied it (then the default is kept too).
    func messageSizeLimit(of info: QueueInfo, key: String) async -> (bytes: Int, read: Bool) {
        if let known = info.maximumMessageBytes { return (known, !info.maximumMessageBytesAssumed) }
        var limit = Self.defaultMaximumMessageBytes
        let attributes: [String: String]
        do {
            attributes = try await client.call(SQSAPI.GetQueueAttributes(queueURL: info.url, names: ["MaximumMessageSize"]))
        } catch {
            let denied = (error as? ConveyorError)?.code == .accessDenied
            logger.debug("could not read the queue's MaximumMessageSize; assuming SQS's default", metadata: [
                "conveyor.queue": "\(info.name)", "sqs.maximum_message_bytes": "\(limit)",
                "error.code": "\((error as? ConveyorError)?.code.rawValue ?? "error")",
            ])
            if denied {
                queues.withLock {
                    $0[key]?.maximumMessageBytes = limit
                    $0[key]?.maximumMessageBytesAssumed = true
                }
            }
            return (limit, false)
        }
        if let text = attributes["MaximumMessageSize"] {
            if let value = Self.maximumMessageSize(text) {
                limit = value
            } else {
                logger.debug("ignored a MaximumMessageSize SQS does not allow", metadata: [
                    "conveyor.queue": "\(info.name)", "sqs.maximum_message_size": "\(text.prefix(40))",
                ])
            }
        }
        queues.withLock {
            $0[key]?.maximumMessageBytes = limit
            $0[key]?.maximumMessageBytesAssumed = false
        }
        return (limit, true)
    }

    /// ``Configuration/visibilityTimeout`` when set (it is sent with every receive); otherwise the queue's own
    /// `VisibilityTimeout` attribute, read once with `GetQueueAttributes`.
    public func visibilityTimeout(of queue: String) async throws -> Duration? {
        if let configured = configuration.visibilityTimeout { return configured }
        return try await withQueue(queue) { info in
            if let known = info.visibilityTimeout { return known }
            let attributes = try await client.call(SQSAPI.GetQueueAttributes(queueURL: info.url, names: ["VisibilityTimeout"]), queue: queue)
            let text = attributes["VisibilityTimeout"]
            // SQS allows 0 s to 12 h; 0 cannot be heartbeated (SQS's own default of 30 s is used instead).
            guard let seconds = Self.clampedInteger(text, to: 0...43_200), seconds > 0 else {
                logger.info("the queue's VisibilityTimeout is missing or 0; assuming 30 s", metadata: [
                    "conveyor.queue": "\(queue)", "sqs.visibility_timeout": "\(text?.prefix(40) ?? "nil")",
                ])
                return .seconds(30)
            }
            let timeout = Duration.seconds(seconds)
            queues.withLock { $0[queue]?.visibilityTimeout = timeout }
            return timeout
        }
    }

    /// Runs `body`, forgetting the cached URL when SQS says the queue is gone.
    func withQueue<T>(_ queue: String, _ body: (QueueInfo) async throws -> T) async throws -> T {
        let info = try await resolve(queue)
        do {
            return try await body(info)
        } catch var error as ConveyorError where error.code == .queueNotFound {
            forget(queue)
            error.message = "queue \(queue) does not exist (\(error.message))"
            throw error
        }
    }

    // MARK: - Close

    /// Stops the transfer thread; pending requests fail with ``ConveyorError/Code/closed`` and later calls throw it.
    public func close() async throws {
        closed.store(true, ordering: .relaxed)
        await client.close()
    }

    // MARK: - Helpers

    /// Whole seconds of `duration` (negative → 0), rounded up unless `roundingUp` is false; `Int.max` at most.
    static func seconds(_ duration: Duration, roundingUp: Bool = true) -> Int {
        let (seconds, attoseconds) = duration.components
        if seconds < 0 { return 0 }
        let (total, overflow) = Int(seconds).addingReportingOverflow(roundingUp && attoseconds > 0 ? 1 : 0)
        return overflow ? Int.max : total
    }

    /// `text` with the characters SQS refuses in message attributes (controls other than tab, LF and CR; U+FFFE,
    /// U+FFFF) replaced by U+FFFD. Attribute values come from jobs (task names, trace context, reasons quoting them)
    /// and are informative: SQS would refuse the whole message, so that a job holding such a character could
    /// neither hop nor be dead-lettered.
    static func sqsSafe(_ text: String) -> String {
        func allowed(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.value {
            case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: true
            default: false
            }
        }
        guard !text.unicodeScalars.allSatisfy(allowed) else { return text }
        return String(String.UnicodeScalarView(text.unicodeScalars.map { allowed($0) ? $0 : "\u{FFFD}" }))
    }

    /// A valid FIFO deduplication id (≤ 128 printable ASCII characters) for `key`: the key itself, or its SHA-256.
    static func deduplicationID(_ key: String) -> String {
        let valid = key.utf8.count <= 128 && !key.isEmpty && key.utf8.allSatisfy { $0 >= 0x21 && $0 <= 0x7E }
        if valid { return key }
        return SHA256.hash(data: Array(key.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}
