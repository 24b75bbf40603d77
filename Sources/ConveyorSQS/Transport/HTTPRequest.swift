/// An HTTP request for ``CurlMultiLoop``.
package struct HTTPRequest: Sendable {
    /// `GET`, `POST`, `PUT`.
    package var method: String
    /// The full URL.
    package var url: String
    /// Header names and values.
    package var headers: [(name: String, value: String)]
    /// The body (empty for none).
    package var body: [UInt8]
    /// The whole transfer must finish within this time.
    package var timeout: Duration
    /// Connecting must finish within this time.
    package var connectTimeout: Duration
    /// The proxy the request goes through. It is always set on the transfer, so libcurl never reads `http_proxy`,
    /// `all_proxy` or `no_proxy` itself. Default ``Proxy/direct``: a request that should follow the environment
    /// asks ``ProxySettings/proxy(for:)``. The credential endpoints (IMDS, container) are always direct.
    package var proxy: Proxy
    /// A PEM file of trusted CA certificates for `https` (`CURLOPT_CAINFO`); `nil`: libcurl's default store.
    package var caBundlePath: String?

    package init(
        method: String,
        url: String,
        headers: [(name: String, value: String)] = [],
        body: [UInt8] = [],
        timeout: Duration = .seconds(30),
        connectTimeout: Duration = .seconds(5),
        proxy: Proxy = .direct,
        caBundlePath: String? = nil
    ) {
        self.caBundlePath = caBundlePath
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
        self.proxy = proxy
    }

    /// How a request reaches its host.
    package enum Proxy: Sendable, Equatable, CustomStringConvertible {
        /// Straight to the host, whatever the environment says (`CURLOPT_PROXY` "" and `CURLOPT_NOPROXY` "*").
        case direct
        /// Through the proxy at this URL (`http://[user:password@]host:port`): a `CONNECT` tunnel for `https`, the
        /// absolute URL for `http`. The URL may carry a password: print it with ``description``, which hides it.
        case through(String)

        /// `direct`, or `proxy <url>` with any password replaced by `***`.
        package var description: String {
            switch self {
            case .direct: "direct"
            case .through(let url): "proxy \(ProxySettings.redacted(url))"
            }
        }
    }
}

/// An HTTP response from ``CurlMultiLoop``.
package struct HTTPResponse: Sendable {
    /// The status code.
    package var status: Int
    /// Response headers, names lower-cased.
    package var headers: [String: String]
    /// The body.
    package var body: [UInt8]

    package init(status: Int, headers: [String: String], body: [UInt8]) {
        self.status = status
        self.headers = headers
        self.body = body
    }
}

/// A transfer that failed below HTTP (DNS, connect, TLS, timeout), or could not be set up or started.
package struct HTTPTransportError: Error, Sendable, CustomStringConvertible {
    /// The ``code`` of a transfer that could not be set up or started (nothing was sent).
    package static let notStarted = -1

    /// libcurl's result code, or ``notStarted``.
    package var code: Int
    /// libcurl's explanation.
    package var message: String
    /// Whether the transfer timed out.
    package var timedOut: Bool

    /// A failure with libcurl's result `code` (or ``notStarted``).
    package init(code: Int, message: String, timedOut: Bool) {
        self.code = code
        self.message = message
        self.timedOut = timedOut
    }

    /// `HTTP transfer failed (curl <code>): <message>`.
    package var description: String { "HTTP transfer failed (curl \(code)): \(message)" }
}
