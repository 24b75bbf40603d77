import Conveyor
import Foundation
import Logging
import Metrics
import Synchronization

/// A minimal SQS client over the AWS JSON 1.0 protocol: `POST /` with `X-Amz-Target: AmazonSQS.<Action>`, signed
/// with SigV4, sent through ``CurlMultiLoop``, retried on transient errors.
package final class SQSClient: Sendable {
    let endpoint: String
    let hostHeader: String
    let region: String
    let credentials: any AWSCredentialsProvider
    package let http: CurlMultiLoop
    let retry: SQSRetryPolicy
    let requestTimeout: Duration
    let connectTimeout: Duration
    /// ``SQSQueueProvider/Configuration/caBundlePath``.
    let caBundlePath: String?
    /// The proxy every request goes through: ``ProxySettings/proxy(for:)`` of the endpoint, chosen once.
    package let proxy: HTTPRequest.Proxy
    /// The retry quota of ``SQSRetryPolicy/Mode-swift.enum/standard`` mode, shared by this client's requests.
    package let retryQuota = Mutex(RetryQuota())
    let logger: Logger
    private let signer: SigV4Signer
    /// Request latency and errors per action (`conveyor_broker_request_*{provider="sqs"}`).
    private let metrics = BrokerRequestMetrics(provider: "sqs")
    private let keyCache = Mutex<(scope: String, secret: String, key: [UInt8])?>(nil)
    /// `conveyor_possible_duplicate_sends_total{provider="sqs", action}`: send requests retried after a transport
    /// error, a timeout or a 5xx answer, whose messages may have reached SQS twice.
    /// Created on first use (after the application bootstrapped its metrics backend), once per action.
    private let duplicateSendCounters = Mutex<[String: Counter]>([:])
    private let duplicateSendCount = Atomic<Int>(0)

    /// The actions that send messages: retrying one of them after its request may have reached SQS can duplicate.
    private static let sendActions = ["SendMessage", "SendMessageBatch"]

    /// How many send requests were retried after a transport error, a timeout or a 5xx answer (each may have
    /// duplicated its messages), since this client was created. For tests; operators read
    /// `conveyor_possible_duplicate_sends_total`.
    package var possibleDuplicateSends: Int { duplicateSendCount.load(ordering: .relaxed) }

    init(
        endpoint: String,
        region: String,
        credentials: any AWSCredentialsProvider,
        retry: SQSRetryPolicy,
        requestTimeout: Duration,
        connectTimeout: Duration,
        caBundlePath: String? = nil,
        proxySettings: ProxySettings = .direct,
        logger: Logger
    ) throws(ConveyorError) {
        guard let components = URLComponents(string: endpoint), let scheme = components.scheme?.lowercased(),
            scheme == "http" || scheme == "https", let host = components.host, !host.isEmpty
        else {
            throw ConveyorError(.invalidConfiguration, "SQS endpoint \"\(endpoint)\" is not an http(s) URL")
        }
        var hostHeader = host.contains(":") ? "[\(host)]" : host
        if let port = components.port, !(scheme == "http" && port == 80), !(scheme == "https" && port == 443) {
            hostHeader += ":\(port)"
        }
        self.hostHeader = hostHeader
        self.endpoint = "\(scheme)://\(hostHeader)/"
        self.region = region
        self.credentials = credentials
        self.http = CurlMultiLoop(name: "conveyor.sqs")
        self.retry = retry
        self.requestTimeout = requestTimeout
        self.connectTimeout = connectTimeout
        self.caBundlePath = caBundlePath
        self.proxy = proxySettings.proxy(for: self.endpoint)
        self.logger = logger
        self.signer = SigV4Signer(region: region, service: "sqs")
    }

    /// What a response may be: SQS answers at most ten messages of at most 1 MiB each (escaped, up to twice that).
    package static let responseLimits = JSONReader.Limits(maximumBytes: 64 << 20, maximumDepth: 64)

    /// Sends `request` and returns its typed answer.
    ///
    /// `extraTimeout` lengthens the request timeout (for long polls). `queue` names the queue in logs (for a
    /// send action retried after its request may have been delivered).
    package func call<Request: SQSRequest>(
        _ request: Request, extraTimeout: Duration = .zero, queue: String? = nil
    ) async throws -> Request.Response {
        var mayHaveReachedSQS = false
        return try await call(request, extraTimeout: extraTimeout, queue: queue, mayHaveReachedSQS: &mayHaveReachedSQS)
    }

    /// Like ``call(_:extraTimeout:queue:)``; when it throws, `mayHaveReachedSQS` says whether one of its requests
    /// may have been processed by SQS all the same (a timeout, a connection lost after connecting, a 5xx answer, a
    /// cancellation or a close while a request was in flight), so that its effect (messages sent, deleted...) is
    /// unknown. It stays `false` when no request can have reached SQS (refused connection, an answer that refused
    /// the request, a task cancelled before its request left).
    package func call<Request: SQSRequest>(
        _ request: Request, extraTimeout: Duration = .zero, queue: String? = nil, mayHaveReachedSQS: inout Bool
    ) async throws -> Request.Response {
        let action = Request.action
        // The request log: one line per action (retries of it not repeated), at trace level only.
        logger.trace("SQS request", metadata: request.logMetadata.merging(["sqs.action": "\(action)"]) { $1 })
        let response = try await send(
            action, body: JSONText.bytes(request.json), extraTimeout: extraTimeout, queue: queue,
            messageCount: request.messageCount, mayHaveReachedSQS: &mayHaveReachedSQS
        )
        if response.isEmpty { return try Request.response(from: .object([:])) }
        guard let object = try? JSONReader.read(response, limits: Self.responseLimits), case .object = object else {
            throw ConveyorError(.brokerError, "SQS \(action): response is not a JSON object")
        }
        return try Request.response(from: object)
    }

    /// Sends a JSON body for `action`, retrying transient failures; returns the response body of a 2xx answer.
    ///
    /// A `SendMessage` or `SendMessageBatch` request retried after a transport error, a timeout or a 5xx answer may
    /// have been processed by SQS already, so its `messageCount` messages may be duplicated: that is logged at info
    /// and counted in `conveyor_possible_duplicate_sends_total`. When such a send finally fails, the error says that
    /// its messages may have been sent. For every action, `mayHaveReachedSQS` is set when a failed attempt may have
    /// been processed (see ``call(_:extraTimeout:queue:mayHaveReachedSQS:)``).
    func send(
        _ action: String, body: [UInt8], extraTimeout: Duration = .zero, queue: String? = nil, messageCount: Int = 1,
        mayHaveReachedSQS: inout Bool
    ) async throws -> [UInt8] {
        var retries = RetryAttempts(policy: retry)
        var possiblyDelivered = false
        while true {
            var uncertainDelivery: String?
            do {
                let response = try await metrics.measure(action) {
                    try await sendOnce(action, body: body, extraTimeout: extraTimeout, uncertainDelivery: &uncertainDelivery)
                }
                retries.succeeded(quota: retryQuota)
                return response
            } catch {
                if uncertainDelivery != nil { mayHaveReachedSQS = true }
                guard var error = error as? ConveyorError else { throw error }
                let mayDuplicate = Self.sendActions.contains(action) && uncertainDelivery != nil
                possiblyDelivered = possiblyDelivered || mayDuplicate
                let attempt = retries.attempt
                // A timeout or connection error costs the quota more than an answer that said to retry.
                guard let delay = retries.delayBeforeRetry(
                    retryable: error.isRetryable, afterTimeoutOrConnectionError: error.code == .connectionFailed, quota: retryQuota
                ) else {
                    if retries.quotaRefused {
                        error.message += "; not retried: the client's retry quota is used up (too many requests failed recently; AWS_RETRY_MODE=\(retry.mode.rawValue))"
                    }
                    if possiblyDelivered {
                        error.message += "; a request may have reached SQS before failing, so its messages may have been sent (sending them again may duplicate them)"
                    }
                    throw error
                }
                if let uncertainDelivery, mayDuplicate {
                    reportPossibleDuplicate(action, queue: queue, messageCount: messageCount, after: uncertainDelivery, attempt: attempt)
                } else {
                    logger.debug("SQS request retried", metadata: [
                        "sqs.action": "\(action)", "sqs.attempt": "\(attempt)", "error.code": "\(error.code)",
                    ])
                }
                try await Task.sleep(for: delay)
            }
        }
    }

    /// Why a request that failed with `failure` may have been processed by SQS all the same ("a timeout", "a
    /// connection error (curl 56)"), or nil when it cannot have reached SQS: anything but a failure to resolve or
    /// connect (or to set the request up) may have been sent. (A 5xx answer is the other such case; see `sendOnce`.)
    package static func uncertainDelivery(_ failure: HTTPTransportError) -> String? {
        if failure.timedOut { return "a timeout" }
        // Not started (never configured); 5: CURLE_COULDNT_RESOLVE_PROXY; 6: CURLE_COULDNT_RESOLVE_HOST;
        // 7: CURLE_COULDNT_CONNECT.
        if [HTTPTransportError.notStarted, 5, 6, 7].contains(failure.code) { return nil }
        return "a connection error (curl \(failure.code))"
    }

    private func reportPossibleDuplicate(_ action: String, queue: String?, messageCount: Int, after kind: String, attempt: Int) {
        duplicateSendCount.add(1, ordering: .relaxed)
        let counter = duplicateSendCounters.withLock { counters in
            if let counter = counters[action] { return counter }
            let counter = Counter(label: "conveyor_possible_duplicate_sends_total", dimensions: [("provider", "sqs"), ("action", action)])
            counters[action] = counter
            return counter
        }
        counter.increment()
        let messages = messageCount == 1 ? "its message" : "its \(messageCount) messages"
        logger.info("\(action) retried after \(kind); \(messages) may be duplicated", metadata: [
            "conveyor.queue": "\(queue ?? "-")", "sqs.action": "\(action)", "job.count": "\(messageCount)",
            "sqs.attempt": "\(attempt)",
        ])
    }

    private func sendOnce(
        _ action: String, body: [UInt8], extraTimeout: Duration, uncertainDelivery: inout String?
    ) async throws -> [UInt8] {
        let credentials = try await self.credentials.credentials()
        let target = "AmazonSQS.\(action)"
        let headers: [(name: String, value: String)] = [
            (name: "Host", value: hostHeader),
            (name: "Content-Type", value: "application/x-amz-json-1.0"),
            (name: "X-Amz-Target", value: target),
        ]
        let signed = signer.sign(
            SigV4Signer.Request(method: "POST", path: "/", query: "", headers: headers, body: body),
            credentials: credentials,
            date: Date(),
            signingKey: signingKey(credentials: credentials)
        )
        let request = HTTPRequest(
            method: "POST",
            url: endpoint,
            headers: headers + signed.headersToAdd,
            body: body,
            timeout: requestTimeout + extraTimeout,
            connectTimeout: connectTimeout,
            proxy: proxy,
            caBundlePath: caBundlePath
        )
        // A task cancelled before its request leaves gets a CancellationError that says the request was not sent.
        try Task.checkCancellation()
        let response: HTTPResponse
        do {
            response = try await http.perform(request)
        } catch let error as HTTPTransportError {
            uncertainDelivery = Self.uncertainDelivery(error)
            // A certificate the CA bundle does not vouch for (60) or a bundle that cannot be read (77) will not fix
            // itself by retrying: say what to set instead.
            let via = proxy == .direct ? "" : " via \(proxy)"
            if error.code == 60 || error.code == 77 {
                throw ConveyorError(
                    .connectionFailed,
                    "SQS \(action): TLS: \(error.message) (endpoint \(endpoint)\(via)); trust the endpoint's CA with AWS_CA_BUNDLE, ca_bundle in the profile, or SQSQueueProvider.Configuration.caBundlePath"
                )
            }
            throw ConveyorError(.connectionFailed, "SQS \(action): \(error.message) (endpoint \(endpoint)\(via))", retryable: true)
        } catch {
            // Cancelled, or the provider closed, while the request may have been in flight.
            if error is CancellationError {
                uncertainDelivery = "a cancellation"
            } else if (error as? ConveyorError)?.code == .closed {
                uncertainDelivery = "a close"
            }
            throw error
        }
        if (200..<300).contains(response.status) {
            return response.body
        }
        // SQS failed while handling the request, maybe after storing its messages.
        if response.status >= 500 { uncertainDelivery = "HTTP \(response.status)" }
        throw Self.parseError(response, action: action)
    }

    private func signingKey(credentials: AWSCredentials) -> (String) -> [UInt8] {
        { [self] shortDate in
            let scope = "\(shortDate)/\(region)"
            if let cached = keyCache.withLock({ $0 }), cached.scope == scope, cached.secret == credentials.secretAccessKey {
                return cached.key
            }
            let key = SigV4Signer.signingKey(secret: credentials.secretAccessKey, date: shortDate, region: region, service: "sqs")
            let bytes = key.withUnsafeBytes { [UInt8]($0) }
            keyCache.withLock { $0 = (scope, credentials.secretAccessKey, bytes) }
            return bytes
        }
    }

    package static func parseError(_ response: HTTPResponse, action: String) -> ConveyorError {
        var type = ""
        var message = ""
        if let object = try? JSONReader.read(response.body, limits: Self.responseLimits) {
            if let t = object["__type"]?.string { type = t }
            if let m = (object["message"] ?? object["Message"])?.string { message = m }
        }
        if let query = response.headers["x-amzn-query-error"], let code = query.split(separator: ";").first, !code.isEmpty {
            type = String(code)
        } else if let hash = type.lastIndex(of: "#") {
            type = String(type[type.index(after: hash)...])
        }
        if type.isEmpty { type = "HTTP \(response.status)" }
        return ConveyorError.sqs(type: type, message: String(message.prefix(300)), status: response.status, action: action)
    }

    func close() async {
        await http.close()
    }
}
