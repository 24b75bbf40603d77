import Foundation
import Conveyor

/// A parsed AMQP URI: `amqp://user:pass@host:port/vhost` or `amqps://...`, with the TLS and authentication options
/// of its query string (as RabbitMQ's URI spec and other AMQP clients name them): `cacertfile`, `certfile`,
/// `keyfile`, `verify` (`verify_peer` or `verify_none`) and `auth_mechanism` (`plain` or `external`).
struct AMQPURL: Sendable, Hashable {
    var tls: Bool
    var host: String
    var port: Int
    var user: String
    var password: String
    var vhost: String
    /// `cacertfile`: a PEM file of trusted CA certificates.
    var caCertificatePath: String?
    /// `certfile`: the client certificate (PEM).
    var certificatePath: String?
    /// `keyfile`: the client certificate's private key (PEM).
    var keyPath: String?
    /// `verify`: `false` for `verify_none`.
    var verifiesPeer: Bool?
    /// `auth_mechanism`.
    var authMechanism: RabbitMQQueueProvider.AuthMechanism?

    /// The query keys understood.
    static let queryKeys = ["cacertfile", "certfile", "keyfile", "verify", "auth_mechanism"]

    /// The URI with the password masked, for logs and errors.
    var redacted: String {
        let scheme = tls ? "amqps" : "amqp"
        let vhostPart = vhost == "/" ? "/" : "/" + (AMQPURL.percentEncode(vhost))
        return "\(scheme)://\(user):***@\(host):\(port)\(vhostPart)"
    }

    /// Parses a list of URIs separated by commas (`amqp://a:5672/,amqp://b:5672/`), the nodes of a cluster. A comma
    /// separates two URIs only where the next one starts (`,amqp://` or `,amqps://`), so a comma inside a password
    /// stays part of it. Every node must use the same scheme (TLS or not) and vhost; the error never contains a
    /// password.
    static func parseList(_ text: String) throws(ConveyorError) -> [AMQPURL] {
        let pieces = splitList(text)
        var nodes: [AMQPURL] = []
        for (index, piece) in pieces.enumerated() {
            do throws(ConveyorError) {
                nodes.append(try AMQPURL(parsing: piece))
            } catch {
                throw pieces.count == 1 ? error : ConveyorError(.invalidConfiguration, "node \(index + 1) of \(pieces.count): \(error.message)")
            }
        }
        guard let first = nodes.first else { throw ConveyorError(.invalidConfiguration, "no AMQP URL given") }
        guard nodes.allSatisfy({ $0.tls == first.tls }) else {
            throw ConveyorError(.invalidConfiguration, "the nodes mix amqp:// and amqps://: use one scheme for every node of a cluster")
        }
        guard nodes.allSatisfy({ $0.vhost == first.vhost }) else {
            throw ConveyorError(.invalidConfiguration, "the nodes name different vhosts: a cluster's nodes share one vhost")
        }
        return nodes
    }

    /// `text` cut before every `,amqp://` and `,amqps://` (case-insensitive, spaces allowed after the comma), the comma
    /// and spaces dropped.
    static func splitList(_ text: String) -> [String] {
        var pieces: [String] = []
        var current = ""
        let characters = Array(text)
        var index = 0
        while index < characters.count {
            if characters[index] == "," {
                var start = index + 1
                while start < characters.count, characters[start] == " " { start += 1 }
                let next = String(characters[start...].prefix(8)).lowercased()
                if next.hasPrefix("amqp://") || next.hasPrefix("amqps://") {
                    pieces.append(current)
                    current = ""
                    index = start
                    continue
                }
            }
            current.append(characters[index])
            index += 1
        }
        pieces.append(current)
        return pieces
    }

    /// Parses `text`; the error never contains the password.
    init(parsing text: String) throws(ConveyorError) {
        func fail(_ why: String) -> ConveyorError {
            ConveyorError(
                .invalidConfiguration,
                "invalid AMQP URL (\(why)); expected amqp://user:password@host:port/vhost or amqps://..."
            )
        }
        var rest = Substring(text.trimmingCharacters(in: .whitespaces))
        if rest.lowercased().hasPrefix("amqps://") {
            tls = true
            rest = rest.dropFirst(8)
        } else if rest.lowercased().hasPrefix("amqp://") {
            tls = false
            rest = rest.dropFirst(7)
        } else {
            throw fail("the scheme must be amqp:// or amqps://")
        }
        var query: Substring = ""
        if let q = rest.firstIndex(of: "?") {
            query = rest[rest.index(after: q)...]
            rest = rest[..<q]
        }
        var vhostText: Substring? = nil
        if let slash = rest.firstIndex(of: "/") {
            vhostText = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
        }
        var userInfo: Substring? = nil
        if let at = rest.lastIndex(of: "@") {
            userInfo = rest[..<at]
            rest = rest[rest.index(after: at)...]
        }
        // Host and port; IPv6 literals in brackets.
        var hostText: Substring
        var portText: Substring? = nil
        if rest.hasPrefix("[") {
            guard let close = rest.firstIndex(of: "]") else { throw fail("unterminated IPv6 address") }
            hostText = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") { portText = after.dropFirst() } else if !after.isEmpty { throw fail("bad host") }
        } else if let colon = rest.lastIndex(of: ":") {
            hostText = rest[..<colon]
            portText = rest[rest.index(after: colon)...]
        } else {
            hostText = rest
        }
        guard let decodedHost = AMQPURL.percentDecode(hostText), !decodedHost.isEmpty else {
            throw fail("the host is missing")
        }
        host = decodedHost
        if let portText {
            guard let p = Int(portText), (1...65535).contains(p) else { throw fail("the port must be a number from 1 to 65535") }
            port = p
        } else {
            port = tls ? 5671 : 5672
        }
        user = "guest"
        password = "guest"
        if let userInfo {
            let parts = userInfo.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard let u = AMQPURL.percentDecode(parts[0]) else { throw fail("bad percent-encoding in the user name") }
            user = u
            if parts.count > 1 {
                guard let p = AMQPURL.percentDecode(parts[1]) else { throw fail("bad percent-encoding in the password") }
                password = p
            }
        }
        if let vhostText, !vhostText.isEmpty {
            guard let v = AMQPURL.percentDecode(vhostText) else { throw fail("bad percent-encoding in the vhost") }
            vhost = v
        } else {
            vhost = "/"
        }
        for pair in query.split(separator: "&") where !pair.isEmpty {
            let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let key = AMQPURL.percentDecode(parts[0]), let value = AMQPURL.percentDecode(parts.count > 1 ? parts[1] : "") else {
                throw fail("bad percent-encoding in the query")
            }
            switch key {
            case "cacertfile", "certfile", "keyfile":
                guard !value.isEmpty else { throw fail("\(key) needs a file path") }
                guard tls else { throw fail("\(key) needs an amqps:// URL") }
                if key == "cacertfile" { caCertificatePath = value } else if key == "certfile" { certificatePath = value } else { keyPath = value }
            case "verify":
                guard tls else { throw fail("verify needs an amqps:// URL") }
                switch value {
                case "verify_peer": verifiesPeer = true
                case "verify_none": verifiesPeer = false
                default: throw fail("verify must be verify_peer or verify_none, not \(value)")
                }
            case "auth_mechanism":
                switch value.lowercased() {
                case "plain": authMechanism = .plain
                case "external": authMechanism = .external
                default: throw fail("auth_mechanism must be plain or external, not \(value)")
                }
            default:
                throw fail("unknown query parameter \(key); known: \(AMQPURL.queryKeys.joined(separator: ", "))")
            }
        }
        if (certificatePath == nil) != (keyPath == nil) {
            throw fail("certfile and keyfile go together")
        }
    }

    static func percentDecode(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count)
        var it = text.utf8.makeIterator()
        while let b = it.next() {
            if b == UInt8(ascii: "%") {
                guard let h = it.next(), let l = it.next(), let hv = hexValue(h), let lv = hexValue(l) else { return nil }
                bytes.append(hv << 4 | lv)
            } else {
                bytes.append(b)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }

    static func percentEncode(_ text: String) -> String {
        var out = ""
        for b in text.utf8 {
            if (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5A) || (b >= 0x61 && b <= 0x7A) || b == 0x2D || b == 0x2E || b == 0x5F || b == 0x7E {
                out.unicodeScalars.append(Unicode.Scalar(b))
            } else {
                out += "%" + String(b, radix: 16, uppercase: true).leftPadded(to: 2)
            }
        }
        return out
    }

    private static func hexValue(_ b: UInt8) -> UInt8? {
        switch b {
        case 0x30...0x39: return b - 0x30
        case 0x41...0x46: return b - 0x41 + 10
        case 0x61...0x66: return b - 0x61 + 10
        default: return nil
        }
    }
}

extension String {
    fileprivate func leftPadded(to width: Int) -> String {
        count >= width ? self : String(repeating: "0", count: width - count) + self
    }
}
