import Crypto
import Foundation

/// AWS Signature Version 4 (header form), implemented with swift-crypto.
///
/// The signer reproduces AWS's official SigV4 test suite byte for byte. It signs every header of the request it is
/// given, plus `x-amz-date` and (for temporary credentials) `x-amz-security-token`, which it adds.
package struct SigV4Signer: Sendable {
    /// The request parts that take part in the signature.
    package struct Request {
        package var method: String
        /// The path as sent, e.g. `/` (not yet percent-encoded beyond what the caller put in).
        package var path: String
        /// The raw query string without `?` (may be empty).
        package var query: String
        /// Header names and values, in any case and order; duplicates allowed.
        package var headers: [(name: String, value: String)]
        /// The body bytes.
        package var body: [UInt8]

        package init(method: String, path: String, query: String, headers: [(name: String, value: String)], body: [UInt8]) {
            self.method = method
            self.path = path
            self.query = query
            self.headers = headers
            self.body = body
        }
    }

    /// What signing produced: the headers to add and, for tests and diagnostics, the intermediate strings.
    package struct Signed {
        package var canonicalRequest: String
        package var stringToSign: String
        package var signature: String
        /// The headers to add to the request (`X-Amz-Date`, `Authorization`, optionally the token and the content hash).
        package var headersToAdd: [(name: String, value: String)]
    }

    package var region: String
    package var service: String
    /// Normalise the path (remove dot segments and repeated slashes). True for every service except S3.
    package var normalizePath: Bool = true
    /// Add an `x-amz-content-sha256` header (S3 style).
    package var signBody: Bool = false
    /// Add the session token only after signing (some STS flows); the default signs it.
    package var omitSessionTokenFromSignature: Bool = false

    package init(region: String, service: String) {
        self.region = region
        self.service = service
    }

    /// Signs `request` with `credentials` at `date`.
    /// `signingKey`, when given, returns the derived key for a `yyyyMMdd` date (lets callers cache it).
    package func sign(_ request: Request, credentials: AWSCredentials, date: Date, signingKey: ((String) -> [UInt8])? = nil) -> Signed {
        let (amzDate, shortDate) = Self.timestamps(date)
        let payloadHash = Self.hex(SHA256.hash(data: request.body))

        var headers = request.headers
        headers.append((name: "X-Amz-Date", value: amzDate))
        var added: [(name: String, value: String)] = [(name: "X-Amz-Date", value: amzDate)]
        if signBody {
            headers.append((name: "X-Amz-Content-Sha256", value: payloadHash))
            added.append((name: "X-Amz-Content-Sha256", value: payloadHash))
        }
        if let token = credentials.sessionToken, !token.isEmpty {
            added.append((name: "X-Amz-Security-Token", value: token))
            if !omitSessionTokenFromSignature {
                headers.append((name: "X-Amz-Security-Token", value: token))
            }
        }

        // Canonical headers: lower-cased names, trimmed values with inner runs of spaces collapsed, duplicates
        // joined with commas in their original order, sorted by name.
        var grouped: [String: [String]] = [:]
        var order: [String] = []
        for (name, value) in headers {
            let key = name.lowercased()
            if grouped[key] == nil { order.append(key) }
            grouped[key, default: []].append(Self.canonicalHeaderValue(value))
        }
        order.sort()
        var canonicalHeaders = ""
        for key in order {
            canonicalHeaders += key + ":" + grouped[key]!.joined(separator: ",") + "\n"
        }
        let signedHeaders = order.joined(separator: ";")

        let canonicalRequest = [
            request.method,
            Self.canonicalPath(request.path, normalize: normalizePath),
            Self.canonicalQuery(request.query),
            canonicalHeaders,
            signedHeaders,
            payloadHash,
        ].joined(separator: "\n")

        let scope = "\(shortDate)/\(region)/\(service)/aws4_request"
        let stringToSign = "AWS4-HMAC-SHA256\n\(amzDate)\n\(scope)\n" + Self.hex(SHA256.hash(data: Array(canonicalRequest.utf8)))
        let key = signingKey.map { SymmetricKey(data: $0(shortDate)) }
            ?? Self.signingKey(secret: credentials.secretAccessKey, date: shortDate, region: region, service: service)
        let signature = Self.hex(HMAC<SHA256>.authenticationCode(for: Array(stringToSign.utf8), using: key))
        added.append((
            name: "Authorization",
            value: "AWS4-HMAC-SHA256 Credential=\(credentials.accessKeyID)/\(scope), SignedHeaders=\(signedHeaders), Signature=\(signature)"
        ))
        return Signed(canonicalRequest: canonicalRequest, stringToSign: stringToSign, signature: signature, headersToAdd: added)
    }

    // MARK: - Pieces

    static func signingKey(secret: String, date: String, region: String, service: String) -> SymmetricKey {
        func hmac(_ key: SymmetricKey, _ text: String) -> SymmetricKey {
            SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Array(text.utf8), using: key))
        }
        let kDate = hmac(SymmetricKey(data: Array(("AWS4" + secret).utf8)), date)
        return hmac(hmac(hmac(kDate, region), service), "aws4_request")
    }

    static func timestamps(_ date: Date) -> (amzDate: String, shortDate: String) {
        var t = time_t(date.timeIntervalSince1970.rounded(.down))
        var tm = tm()
        gmtime_r(&t, &tm)
        var out = [UInt8]()
        out.reserveCapacity(16)
        func append(_ value: Int32, digits: Int) {
            var divisor: Int32 = 1
            for _ in 1..<digits { divisor *= 10 }
            var v = value
            while divisor > 0 {
                out.append(UInt8(ascii: "0") + UInt8(v / divisor))
                v %= divisor
                divisor /= 10
            }
        }
        append(tm.tm_year + 1900, digits: 4)
        append(tm.tm_mon + 1, digits: 2)
        append(tm.tm_mday, digits: 2)
        let short = String(decoding: out, as: UTF8.self)
        out.append(UInt8(ascii: "T"))
        append(tm.tm_hour, digits: 2)
        append(tm.tm_min, digits: 2)
        append(tm.tm_sec, digits: 2)
        out.append(UInt8(ascii: "Z"))
        return (String(decoding: out, as: UTF8.self), short)
    }

    static func canonicalHeaderValue(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        var pendingSpace = false
        for scalar in value.unicodeScalars {
            if scalar == " " || scalar == "\t" || scalar == "\n" || scalar == "\r" {
                pendingSpace = !out.isEmpty
            } else {
                if pendingSpace { out.append(" "); pendingSpace = false }
                out.unicodeScalars.append(scalar)
            }
        }
        return out
    }

    static func canonicalPath(_ path: String, normalize: Bool) -> String {
        guard !path.isEmpty else { return "/" }
        if !normalize {
            return encode(path, keepSlash: true)
        }
        var segments: [Substring] = []
        for segment in path.split(separator: "/", omittingEmptySubsequences: true) {
            switch segment {
            case ".": continue
            case "..": if !segments.isEmpty { segments.removeLast() }
            default: segments.append(segment)
            }
        }
        var out = "/" + segments.map { encode(String($0), keepSlash: false) }.joined(separator: "/")
        let endsWithSlashLike = path.hasSuffix("/") || path.hasSuffix("/.") || path.hasSuffix("/..")
        if endsWithSlashLike && !segments.isEmpty { out += "/" }
        return out
    }

    static func canonicalQuery(_ query: String) -> String {
        guard !query.isEmpty else { return "" }
        var pairs: [(String, String)] = []
        for part in query.split(separator: "&", omittingEmptySubsequences: true) {
            let kv = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            let key = encode(percentDecode(String(kv[0])), keepSlash: false)
            let value = kv.count > 1 ? encode(percentDecode(String(kv[1])), keepSlash: false) : ""
            pairs.append((key, value))
        }
        pairs.sort { $0.0 == $1.0 ? $0.1 < $1.1 : $0.0 < $1.0 }
        return pairs.map { $0.0 + "=" + $0.1 }.joined(separator: "&")
    }

    /// RFC 3986 encoding of everything but unreserved characters (and `/` when asked).
    static func encode(_ text: String, keepSlash: Bool) -> String {
        var out = [UInt8]()
        out.reserveCapacity(text.utf8.count)
        let hexDigits = Array("0123456789ABCDEF".utf8)
        for byte in text.utf8 {
            switch byte {
            case UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "0")...UInt8(ascii: "9"),
                 UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"):
                out.append(byte)
            case UInt8(ascii: "/") where keepSlash:
                out.append(byte)
            default:
                out.append(UInt8(ascii: "%"))
                out.append(hexDigits[Int(byte >> 4)])
                out.append(hexDigits[Int(byte & 0x0F)])
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func percentDecode(_ text: String) -> String {
        guard text.contains("%") else { return text }
        var out = [UInt8]()
        let bytes = Array(text.utf8)
        var i = 0
        func hexValue(_ b: UInt8) -> UInt8? {
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return b - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "%"), i + 2 < bytes.count, let h = hexValue(bytes[i + 1]), let l = hexValue(bytes[i + 2]) {
                out.append(h << 4 | l)
                i += 3
            } else {
                out.append(bytes[i])
                i += 1
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func hex<D: Sequence>(_ digest: D) -> String where D.Element == UInt8 {
        let digits = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(64)
        for b in digest {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0F)])
        }
        return String(decoding: out, as: UTF8.self)
    }
}
