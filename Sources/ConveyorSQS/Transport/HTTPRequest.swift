/// An HTTP request for ``CurlMultiLoop``.
struct HTTPRequest: Sendable {
    /// `GET`, `POST`, `PUT`.
    var method: String
    /// The full URL.
    var url: String
    /// Header names and values.
    var headers: [(name: String, value: String)]
    /// The body (empty for none).
    var body: [UInt8]
    /// The whole transfer must finish within this time.
    var timeout: Duration
    /// Connecting must finish within this time.
    var connectTimeout: Duration

    init(
        method: String,
        url: String,
        headers: [(name: String, value: String)] = [],
        body: [UInt8] = [],
        timeout: Duration = .seconds(30),
        connectTimeout: Duration = .seconds(5)
    ) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.timeout = timeout
        self.connectTimeout = connectTimeout
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

/// A transfer that failed below HTTP (DNS, connect, TLS, timeout).
struct HTTPTransportError: Error, Sendable, CustomStringConvertible {
    /// libcurl's result code.
    var code: Int
    /// libcurl's explanation.
    var message: String
    /// Whether the transfer timed out.
    var timedOut: Bool

    var description: String { "HTTP transfer failed (curl \(code)): \(message)" }
}
