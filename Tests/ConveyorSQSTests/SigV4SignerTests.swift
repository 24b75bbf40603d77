import Foundation
import Testing

import ConveyorSQS

/// Reproduces AWS's SigV4 test suite (Resources/aws-sigv4-test-suite, Apache-2.0) byte for byte.
@Suite("SigV4 signer")
struct SigV4SignerTests {
    static let suiteURL = Bundle.module.url(forResource: "Resources", withExtension: nil)!.appendingPathComponent("aws-sigv4-test-suite")

    static var caseNames: [String] {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: suiteURL.path)) ?? []
        return names.filter { name in
            FileManager.default.fileExists(atPath: suiteURL.appendingPathComponent(name).appendingPathComponent("request.txt").path)
        }.sorted()
    }

    @Test func suiteHasAll38Cases() {
        #expect(Self.caseNames.count == 38)
    }

    @Test(arguments: SigV4SignerTests.caseNames)
    func reproducesCase(_ name: String) throws {
        let dir = Self.suiteURL.appendingPathComponent(name)
        func text(_ file: String) throws -> String {
            try String(contentsOf: dir.appendingPathComponent(file), encoding: .utf8)
        }
        let context = try JSONSerialization.jsonObject(with: Data(contentsOf: dir.appendingPathComponent("context.json"))) as! [String: Any]
        let credentialsJSON = context["credentials"] as! [String: Any]
        let credentials = AWSCredentials(
            accessKeyID: credentialsJSON["access_key_id"] as! String,
            secretAccessKey: credentialsJSON["secret_access_key"] as! String,
            sessionToken: credentialsJSON["token"] as? String
        )
        let date = ISO8601DateFormatter().date(from: context["timestamp"] as! String)!
        var signer = SigV4Signer(region: context["region"] as! String, service: context["service"] as! String)
        signer.normalizePath = context["normalize"] as? Bool ?? true
        signer.signBody = context["sign_body"] as? Bool ?? false
        signer.omitSessionTokenFromSignature = context["omit_session_token"] as? Bool ?? false

        let request = try Self.parseRequest(Data(contentsOf: dir.appendingPathComponent("request.txt")))
        let signed = signer.sign(request, credentials: credentials, date: date)
        #expect(signed.canonicalRequest == (try text("header-canonical-request.txt")))
        #expect(signed.stringToSign == (try text("header-string-to-sign.txt")))
        #expect(signed.signature == (try text("header-signature.txt")))
    }

    @Test func credentialsDescriptionHidesSecrets() {
        let credentials = AWSCredentials(accessKeyID: "AKID", secretAccessKey: "SECRETSECRET", sessionToken: "TOKENTOKEN")
        #expect(!credentials.description.contains("SECRETSECRET"))
        #expect(!credentials.description.contains("TOKENTOKEN"))
    }

    /// Parses the suite's raw HTTP request: request line, headers (continuation lines start with whitespace), body.
    static func parseRequest(_ data: Data) throws -> SigV4Signer.Request {
        let bytes = [UInt8](data)
        var lines: [String] = []
        var body: [UInt8] = []
        var start = 0
        var i = 0
        while i < bytes.count {
            if bytes[i] == UInt8(ascii: "\n") {
                let line = String(decoding: bytes[start..<i], as: UTF8.self)
                start = i + 1
                if line.isEmpty {
                    body = Array(bytes[start...])
                    start = bytes.count
                    break
                }
                lines.append(line)
            }
            i += 1
        }
        if start < bytes.count { lines.append(String(decoding: bytes[start...], as: UTF8.self)) }

        let requestLine = lines.removeFirst()
        let firstSpace = requestLine.firstIndex(of: " ")!
        let method = String(requestLine[..<firstSpace])
        let target = String(requestLine[requestLine.index(after: firstSpace)..<requestLine.range(of: " HTTP/", options: .backwards)!.lowerBound])
        let path: String
        let query: String
        if let q = target.firstIndex(of: "?") {
            path = String(target[..<q])
            query = String(target[target.index(after: q)...])
        } else {
            path = target
            query = ""
        }
        var headers: [(name: String, value: String)] = []
        for line in lines {
            if line.first == " " || line.first == "\t", !headers.isEmpty {
                headers[headers.count - 1].value += "\n" + line
                continue
            }
            let colon = line.firstIndex(of: ":")!
            headers.append((name: String(line[..<colon]), value: String(line[line.index(after: colon)...])))
        }
        return SigV4Signer.Request(method: method, path: path, query: query, headers: headers, body: body)
    }
}
