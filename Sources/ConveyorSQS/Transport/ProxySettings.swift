import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Which proxy a request goes through, chosen from the environment as the AWS SDKs choose it.
///
/// - an `https` URL goes through `HTTPS_PROXY` (or, when that is unset or empty, `https_proxy`); an `http` URL through
///   `HTTP_PROXY` (or `http_proxy`). `ALL_PROXY`/`all_proxy`, which libcurl reads but the SDKs do not, are ignored.
/// - `NO_PROXY` (or `no_proxy`) sends a request direct: a comma-separated list of `*` (every host), host names that
///   match the host itself and every name under it (`example.com` and `.example.com` both match `example.com` and
///   `sqs.example.com`), and IP addresses (IPv6 with or without brackets), each optionally with `:port`, which then
///   matches only that port (the URL's port, or 80 / 443 by scheme). Matching ignores case.
/// - A proxy value without a scheme is read as `http://`.
///
/// libcurl is never left to read the environment itself: every request says ``HTTPRequest/Proxy/direct`` or
/// ``HTTPRequest/Proxy/through(_:)``.
package struct ProxySettings: Sendable, Equatable {
    /// The proxy for `http` URLs, if any.
    package var httpProxy: String?
    /// The proxy for `https` URLs, if any.
    package var httpsProxy: String?
    /// The `NO_PROXY` entries, parsed.
    package var exclusions: [Exclusion]

    /// One `NO_PROXY` entry.
    package enum Exclusion: Sendable, Equatable {
        /// `*`: every host.
        case everything
        /// A host name (lower-cased, without a leading dot) or an IP address (IPv6 without brackets), with an
        /// optional port.
        case host(String, port: Int?)
    }

    /// No proxy for any request.
    package static let direct = ProxySettings(environment: [:])

    /// The settings the variables of `environment` give (see the type's documentation).
    package init(environment: [String: String]) {
        func value(_ names: String...) -> String? {
            for name in names {
                if let value = environment[name]?.trimmingCharacters(in: .whitespaces), !value.isEmpty { return value }
            }
            return nil
        }
        httpProxy = value("HTTP_PROXY", "http_proxy").map(Self.withScheme)
        httpsProxy = value("HTTPS_PROXY", "https_proxy").map(Self.withScheme)
        exclusions = value("NO_PROXY", "no_proxy").map(Self.parseExclusions) ?? []
    }

    /// The variables ``init(environment:)`` reads.
    package static let variables = ["HTTPS_PROXY", "https_proxy", "HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"]

    /// The settings of this process's environment, read now: only the six variables, with `getenv`, rather than a
    /// copy of the whole environment (a shorter read, should another thread change the environment meanwhile).
    package static func fromProcessEnvironment() -> ProxySettings {
        var environment: [String: String] = [:]
        for name in variables {
            if let value = getenv(name) { environment[name] = String(cString: value) }
        }
        return ProxySettings(environment: environment)
    }

    /// The proxy a request to `url` goes through: direct for a URL that is neither `http` nor `https`, that has no
    /// host, whose scheme has no proxy set, or whose host `NO_PROXY` excludes.
    package func proxy(for url: String) -> HTTPRequest.Proxy {
        guard let target = Self.target(of: url) else { return .direct }
        let proxy: String?
        switch target.scheme {
        case "https": proxy = httpsProxy
        case "http": proxy = httpProxy
        default: proxy = nil
        }
        guard let proxy else { return .direct }
        if excludes(host: target.host, port: target.port) { return .direct }
        return .through(proxy)
    }

    /// Whether `NO_PROXY` sends requests to `host` (lower-cased, IPv6 without brackets) on `port` direct.
    package func excludes(host: String, port: Int) -> Bool {
        let host = host.hasSuffix(".") ? String(host.dropLast()) : host
        for exclusion in exclusions {
            switch exclusion {
            case .everything:
                return true
            case .host(let name, let entryPort):
                if let entryPort, entryPort != port { continue }
                if host == name || (!Self.isIPAddress(host) && host.hasSuffix("." + name)) { return true }
            }
        }
        return false
    }

    // MARK: - Parsing

    /// Whether `host` is an IP address (IPv4 dotted digits, or IPv6), which matches an entry only exactly.
    private static func isIPAddress(_ host: String) -> Bool {
        host.contains(":") || host.allSatisfy { $0 == "." || ($0.isASCII && $0.isNumber) }
    }

    private static func withScheme(_ proxy: String) -> String {
        proxy.contains("://") ? proxy : "http://" + proxy
    }

    /// Parses `NO_PROXY`: entries separated by commas (blanks around them ignored); an entry that cannot be read
    /// (an unreadable port) is skipped.
    package static func parseExclusions(_ text: String) -> [Exclusion] {
        var result: [Exclusion] = []
        for raw in text.split(separator: ",") {
            var entry = raw.trimmingCharacters(in: .whitespaces).lowercased()
            if entry.isEmpty { continue }
            if entry == "*" {
                result.append(.everything)
                continue
            }
            var port: Int?
            if entry.hasPrefix("[") {
                // [v6] or [v6]:port
                guard let close = entry.firstIndex(of: "]") else { continue }
                let rest = entry[entry.index(after: close)...]
                if rest.hasPrefix(":") {
                    guard let p = parsePort(rest.dropFirst()) else { continue }
                    port = p
                } else if !rest.isEmpty {
                    continue
                }
                entry = String(entry[entry.index(after: entry.startIndex)..<close])
            } else if entry.filter({ $0 == ":" }).count == 1, let colon = entry.firstIndex(of: ":") {
                // name:port or v4:port (a bare IPv6 address has several colons and no port)
                guard let p = parsePort(entry[entry.index(after: colon)...]) else { continue }
                port = p
                entry = String(entry[..<colon])
            }
            while entry.hasPrefix(".") { entry.removeFirst() }
            if entry.hasSuffix(".") { entry.removeLast() }
            if entry.isEmpty { continue }
            result.append(.host(entry, port: port))
        }
        return result
    }

    /// A port of 1 to 65535 written in decimal digits, or nil (never traps, whatever the text).
    private static func parsePort(_ text: Substring) -> Int? {
        guard !text.isEmpty, text.count <= 5, text.allSatisfy({ $0.isASCII && $0.isNumber }), let port = Int(text),
            (1...65535).contains(port)
        else { return nil }
        return port
    }

    /// The scheme (lower-cased), host (lower-cased, IPv6 without brackets) and port (default by scheme) of `url`.
    package static func target(of url: String) -> (scheme: String, host: String, port: Int)? {
        guard let components = URLComponents(string: url), let scheme = components.scheme?.lowercased(),
            var host = components.host?.lowercased(), !host.isEmpty
        else { return nil }
        if host.hasPrefix("[") && host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? (scheme == "https" ? 443 : 80)
        return (scheme, host, port)
    }

    // MARK: - Redaction

    /// `proxy` with the password of its user information (`user:password@`) replaced by `***`, for errors and logs:
    /// `http://user:***@proxy:3128`. A proxy URL without user information is returned unchanged.
    package static func redacted(_ proxy: String) -> String {
        let afterScheme = proxy.range(of: "://")?.upperBound ?? proxy.startIndex
        let authorityEnd = proxy[afterScheme...].firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? proxy.endIndex
        guard let at = proxy[afterScheme..<authorityEnd].lastIndex(of: "@") else { return proxy }
        let userInfo = proxy[afterScheme..<at]
        let user = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false).first ?? ""
        return String(proxy[..<afterScheme]) + user + ":***" + String(proxy[at...])
    }

    /// The user information of `proxy` (`user:password`), or nil when it has none: the text to scrub from messages
    /// that might quote it.
    package static func userInformation(of proxy: String) -> String? {
        let afterScheme = proxy.range(of: "://")?.upperBound ?? proxy.startIndex
        let authorityEnd = proxy[afterScheme...].firstIndex(where: { $0 == "/" || $0 == "?" || $0 == "#" }) ?? proxy.endIndex
        guard let at = proxy[afterScheme..<authorityEnd].lastIndex(of: "@") else { return nil }
        let userInfo = proxy[afterScheme..<at]
        return userInfo.isEmpty ? nil : String(userInfo)
    }
}
