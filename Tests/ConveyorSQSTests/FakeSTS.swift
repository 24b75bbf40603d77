import Foundation
import Synchronization

import ConveyorSQS

/// A local stand-in for STS that records each call (action, parameters, the access key and session token that signed
/// it) and issues credentials named after the call's number: `ASIAFAKE<n>`, secret `secret<n>`, token `token<n>`.
/// For what a real emulator cannot show: which credentials signed each hop of a role chain, which token was sent.
final class FakeSTS: Sendable {
    struct Call: Sendable {
        var parameters: [String: String]
        /// The access key id in the `Authorization` header, or `nil` for an unsigned call.
        var signedBy: String?
        /// The `X-Amz-Security-Token` header.
        var sessionToken: String?
        var action: String { parameters["Action"] ?? "" }
    }

    private final class State: Sendable {
        let log = Mutex<[Call]>([])
        let failure = Mutex<(status: Int, code: String)?>(nil)
    }

    let server: LocalHTTPServer
    private let state = State()
    /// How long issued credentials last.
    let lifetime: TimeInterval

    var calls: [Call] { state.log.withLock { $0 } }
    var endpoint: String { "http://127.0.0.1:\(server.port)" }

    /// Answers HTTP `status` with error `code` instead of credentials from now on (`nil`: issue credentials again).
    func fail(_ failure: (status: Int, code: String)?) { state.failure.withLock { $0 = failure } }

    init(lifetime: TimeInterval = 3600) throws {
        self.lifetime = lifetime
        let state = self.state
        server = try LocalHTTPServer { request in
            var parameters: [String: String] = [:]
            for pair in String(decoding: request.body, as: UTF8.self).split(separator: "&") {
                let parts = pair.split(separator: "=", maxSplits: 1).map { String($0).removingPercentEncoding ?? String($0) }
                parameters[parts[0]] = parts.count > 1 ? parts[1] : ""
            }
            let signedBy = request.headers["authorization"].flatMap { header -> String? in
                guard let range = header.range(of: "Credential=") else { return nil }
                return String(header[range.upperBound...].prefix { $0 != "/" })
            }
            let n = state.log.withLock { calls in
                calls.append(Call(parameters: parameters, signedBy: signedBy, sessionToken: request.headers["x-amz-security-token"]))
                return calls.count
            }
            if let (status, code) = state.failure.withLock({ $0 }) {
                return (status, "<ErrorResponse><Error><Type>Sender</Type><Code>\(code)</Code><Message>refused by the fake</Message></Error></ErrorResponse>")
            }
            let expiration = ISO8601DateFormatter().string(from: Date().addingTimeInterval(lifetime))
            let action = parameters["Action"] ?? "AssumeRole"
            return (200, """
                <\(action)Response xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><\(action)Result><Credentials>
                <AccessKeyId>ASIAFAKE\(n)</AccessKeyId><SecretAccessKey>secret\(n)</SecretAccessKey>
                <SessionToken>token\(n)</SessionToken><Expiration>\(expiration)</Expiration></Credentials>
                <AssumedRoleUser><Arn>\(parameters["RoleArn"] ?? "")/session</Arn></AssumedRoleUser></\(action)Result></\(action)Response>
                """)
        }
    }

    func stop() { server.stop() }
}

/// A temporary home with `~/.aws/config` and `~/.aws/credentials`, and the environment that points there (no other
/// credential source set: IMDS disabled).
struct TemporaryAWSHome {
    let path: String

    init(config: String = "", credentials: String = "") throws {
        path = NSTemporaryDirectory() + "conveyor-aws-home-\(UInt64.random(in: 0...UInt64.max))"
        try FileManager.default.createDirectory(atPath: path + "/.aws/sso/cache", withIntermediateDirectories: true)
        try config.write(toFile: path + "/.aws/config", atomically: true, encoding: .utf8)
        try credentials.write(toFile: path + "/.aws/credentials", atomically: true, encoding: .utf8)
    }

    /// `HOME` here, a region, IMDS disabled, and `extra`.
    func environment(_ extra: [String: String] = [:]) -> [String: String] {
        ["HOME": path, "AWS_REGION": "us-east-1", "AWS_EC2_METADATA_DISABLED": "true"].merging(extra) { $1 }
    }

    func write(_ text: String, to relativePath: String) throws {
        try text.write(toFile: path + "/" + relativePath, atomically: true, encoding: .utf8)
    }

    func remove() { try? FileManager.default.removeItem(atPath: path) }
}
