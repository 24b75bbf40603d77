import Conveyor
import Foundation

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ContainerCredentialsProvider {
    /// What `AWS_CONTAINER_CREDENTIALS_FULL_URI` may name, for error messages.
    static let allowedFullURIs =
        "an https URL, or an http URL whose host is a loopback address (127.0.0.0/8, [::1], localhost) or an ECS/EKS credentials address (169.254.170.2, 169.254.170.23, [fd00:ec2::23])"

    /// The endpoint to fetch from: `http://169.254.170.2` + `AWS_CONTAINER_CREDENTIALS_RELATIVE_URI`, else
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI` when ``checkFullURI(_:)`` allows it.
    func endpointURL() throws(ConveyorError) -> String {
        if let relative = environment["AWS_CONTAINER_CREDENTIALS_RELATIVE_URI"], !relative.isEmpty {
            // A path: anything else (`@host/...`) would change the host the credentials come from.
            guard relative.hasPrefix("/") else {
                throw ConveyorError(
                    .invalidConfiguration,
                    "container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI must be a path starting with \"/\" (it is appended to http://169.254.170.2)"
                )
            }
            return "http://169.254.170.2" + relative
        }
        if let full = environment["AWS_CONTAINER_CREDENTIALS_FULL_URI"], !full.isEmpty {
            try Self.checkFullURI(full)
            return full
        }
        throw ConveyorError(
            .invalidConfiguration,
            "container credentials: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI and AWS_CONTAINER_CREDENTIALS_FULL_URI are not set"
        )
    }

    /// Throws an ``ConveyorError/Code/invalidConfiguration`` error unless `uri` is allowed as
    /// `AWS_CONTAINER_CREDENTIALS_FULL_URI`, as in the AWS SDKs: HTTPS to any host, or HTTP to a loopback address
    /// (`127.0.0.0/8`, `[::1]`, `localhost`) or to `169.254.170.2`, `169.254.170.23` or `[fd00:ec2::23]`. The host is
    /// the one libcurl connects to (the URL is parsed by libcurl). The error names the host, never the rest of the
    /// URI (its path or query may carry a secret).
    package static func checkFullURI(_ uri: String) throws(ConveyorError) {
        guard let url = CurlURL(uri) else {
            throw ConveyorError(
                .invalidConfiguration,
                "container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI is not a valid URL; it must be \(allowedFullURIs)"
            )
        }
        switch url.scheme {
        case "https":
            return
        case "http":
            guard isAllowedHTTPHost(url.host) else {
                throw ConveyorError(
                    .invalidConfiguration,
                    "container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI uses http with host \(url.host), which is neither a loopback nor an ECS/EKS credentials address; it must be \(allowedFullURIs)"
                )
            }
        default:
            throw ConveyorError(
                .invalidConfiguration,
                "container credentials: AWS_CONTAINER_CREDENTIALS_FULL_URI has scheme \(url.scheme); it must be \(allowedFullURIs)"
            )
        }
    }

    /// Whether plain HTTP may be used to `host` (lower-cased, IPv6 in brackets): `localhost`, `127.0.0.0/8`, `::1`,
    /// `169.254.170.2`, `169.254.170.23`, `fd00:ec2::23`. Addresses are compared as bytes, so `[0:0::1]` is `[::1]`.
    static func isAllowedHTTPHost(_ host: String) -> Bool {
        if host == "localhost" { return true }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            guard let address = ipv6Bytes(String(host.dropFirst().dropLast())) else { return false }
            let loopback: [UInt8] = Array(repeating: 0, count: 15) + [1]
            let eksPodIdentity: [UInt8] = [0xfd, 0x00, 0x0e, 0xc2] + Array(repeating: 0, count: 11) + [0x23]
            return address == loopback || address == eksPodIdentity
        }
        guard let address = ipv4Bytes(host) else { return false }
        return address[0] == 127 || address == [169, 254, 170, 2] || address == [169, 254, 170, 23]
    }

    /// The bytes of a dotted-quad IPv4 address (`inet_pton`: exactly four decimal parts), or nil.
    private static func ipv4Bytes(_ text: String) -> [UInt8]? {
        var address = in_addr()
        guard inet_pton(AF_INET, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    /// The bytes of an IPv6 address (`inet_pton`; no zone id), or nil.
    private static func ipv6Bytes(_ text: String) -> [UInt8]? {
        var address = in6_addr()
        guard inet_pton(AF_INET6, text, &address) == 1 else { return nil }
        return withUnsafeBytes(of: &address) { Array($0) }
    }

    /// The `Authorization` header, when a token is configured: the contents of the file named by
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE` (read on each call, so a rotated token is picked up), else
    /// `AWS_CONTAINER_AUTHORIZATION_TOKEN`. Surrounding white space is dropped; a token with a line break or another
    /// control character is refused (it would end the header). Errors never show the token.
    func authorizationHeaders() throws(ConveyorError) -> [(name: String, value: String)] {
        let token: String
        let origin: String
        if let file = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE"], !file.isEmpty {
            guard let text = try? String(contentsOfFile: file, encoding: .utf8) else {
                throw ConveyorError(
                    .invalidConfiguration, "container credentials: cannot read AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE \(file)"
                )
            }
            token = text.trimmingCharacters(in: .whitespacesAndNewlines)
            origin = "the file named by AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE (\(file))"
            guard !token.isEmpty else {
                throw ConveyorError(.invalidConfiguration, "container credentials: \(origin) is empty")
            }
        } else if let value = environment["AWS_CONTAINER_AUTHORIZATION_TOKEN"], !value.isEmpty {
            token = value.trimmingCharacters(in: .whitespacesAndNewlines)
            origin = "AWS_CONTAINER_AUTHORIZATION_TOKEN"
            if token.isEmpty { return [] }
        } else {
            return []
        }
        guard !token.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) else {
            throw ConveyorError(
                .invalidConfiguration,
                "container credentials: the authorization token in \(origin) contains a line break or another control character"
            )
        }
        return [(name: "Authorization", value: token)]
    }
}
