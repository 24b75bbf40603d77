import Conveyor
import ConveyorRabbitMQ
import ConveyorSQS
import Foundation
import Logging
import Testing

/// Environment of the reliability tests: which brokers are there, and where the `conveyor` binary is.
///
/// - `CONVEYOR_AMQP_URL` (e.g. `amqp://guest:guest@127.0.0.1:5672/`) enables the RabbitMQ cases;
/// - `CONVEYOR_SQS_ENDPOINT` (e.g. `http://127.0.0.1:4566`, with `AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`)
///   enables the SQS cases;
/// - `CONVEYOR_FAULTS_RABBITMQ_PORT` (default 5673): the port of the private RabbitMQ node the broker-restart
///   cases start and stop (never the shared one);
/// - `CONVEYOR_BIN`: the `conveyor` executable (default: beside the test bundle, i.e. `.build/debug/conveyor`).
///
/// When `CI` is set and a variable is missing, the cases fail instead of being skipped.
enum ReliabilityEnvironment {
    static let environment = ProcessInfo.processInfo.environment
    static let amqpURL = environment["CONVEYOR_AMQP_URL"]
    static let sqsEndpoint = environment["CONVEYOR_SQS_ENDPOINT"]
    static let isCI = environment["CI"] != nil

    static let rabbitMQEnabled = amqpURL != nil || isCI
    static let sqsEnabled = sqsEndpoint != nil || isCI
    /// Why a RabbitMQ case is skipped, and how to run it.
    static let rabbitMQMissing: Comment = "set CONVEYOR_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/ (start RabbitMQ: scripts/rabbitmq-start.sh)"
    /// Why an SQS case is skipped, and how to run it.
    static let sqsMissing: Comment = "set CONVEYOR_SQS_ENDPOINT=http://127.0.0.1:4566 (start LocalStack: scripts/localstack-start.sh)"

    static func requireAMQPURL() throws -> String {
        guard let amqpURL else {
            Issue.record("CI is set but CONVEYOR_AMQP_URL is not: start scripts/rabbitmq-start.sh and set CONVEYOR_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/")
            throw ConveyorError(.invalidConfiguration, "CONVEYOR_AMQP_URL is not set")
        }
        return amqpURL
    }

    static func requireSQSEndpoint() throws -> String {
        guard let sqsEndpoint else {
            Issue.record("CI is set but CONVEYOR_SQS_ENDPOINT is not: start scripts/localstack-start.sh and set CONVEYOR_SQS_ENDPOINT=http://127.0.0.1:4566")
            throw ConveyorError(.invalidConfiguration, "CONVEYOR_SQS_ENDPOINT is not set")
        }
        return sqsEndpoint
    }

    static let logger: Logger = {
        var logger = Logger(label: "conveyor.reliability.tests")
        logger.logLevel = .warning
        return logger
    }()

    static func rabbitMQProvider(url: String? = nil) throws -> RabbitMQQueueProvider {
        var configuration = try RabbitMQQueueProvider.Configuration(url: url ?? requireAMQPURL(), connectionName: "conveyor-reliability-tests")
        configuration.reconnectBackoff = .init(initial: .milliseconds(100), maximum: .seconds(1))
        return try RabbitMQQueueProvider(configuration: configuration, logger: logger)
    }

    static func sqsProvider(endpoint: String? = nil, _ tweak: (inout SQSQueueProvider.Configuration) -> Void = { _ in }) throws -> SQSQueueProvider {
        var env = environment
        env["AWS_ENDPOINT_URL_SQS"] = try endpoint ?? requireSQSEndpoint()
        if env["AWS_REGION"] == nil { env["AWS_REGION"] = "us-east-1" }
        var configuration = try SQSQueueProvider.Configuration.fromEnvironment(env)
        tweak(&configuration)
        return try SQSQueueProvider(configuration: configuration, logger: logger)
    }

    /// A unique queue name.
    static func queueName(_ hint: String) -> String {
        "conveyor-rel-\(hint)-\(UUID().uuidString.prefix(8).lowercased())"
    }

    /// The package root (this file is Tests/ConveyorReliabilityTests/Support/ReliabilityEnvironment.swift).
    static let packageRoot: URL = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The `conveyor` executable: `CONVEYOR_BIN`, else beside this test bundle (SwiftPM builds every product
    /// before `swift test`), else `.build/debug/conveyor`.
    static func conveyorBinary() throws -> String {
        var candidates: [String] = []
        if let bin = environment["CONVEYOR_BIN"] { candidates.append(bin) }
        if let exe = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/exe") {
            var dir = URL(fileURLWithPath: exe).deletingLastPathComponent()
            // Inside an .xctest bundle directory on some platforms.
            for _ in 0..<4 {
                candidates.append(dir.appendingPathComponent("conveyor").path)
                dir = dir.deletingLastPathComponent()
            }
        }
        candidates.append(packageRoot.appendingPathComponent(".build/debug/conveyor").path)
        for candidate in candidates where FileManager.default.isExecutableFile(atPath: candidate) {
            var isDirectory: ObjCBool = false
            if FileManager.default.fileExists(atPath: candidate, isDirectory: &isDirectory), !isDirectory.boolValue {
                return candidate
            }
        }
        Issue.record("the conveyor executable was not found (tried \(candidates)); run `swift build --product conveyor` or set CONVEYOR_BIN")
        throw ConveyorError(.invalidConfiguration, "conveyor binary not found")
    }

    /// A resource shipped with this test target.
    static func resource(_ name: String) throws -> String {
        guard let url = Bundle.module.url(forResource: name, withExtension: nil, subdirectory: "Resources") else {
            throw ConveyorError(.invalidConfiguration, "test resource \(name) is missing")
        }
        return url.path
    }

    /// The environment for `conveyor` children: AWS variables kept, provider variables cleared.
    static func childEnvironment(_ extra: [String: String] = [:]) -> [String: String] {
        var env = environment
        for key in ["CONVEYOR_PROVIDER", "AMQP_URL", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_SQS", "LOG_LEVEL"] {
            env.removeValue(forKey: key)
        }
        if env["AWS_REGION"] == nil { env["AWS_REGION"] = "us-east-1" }
        for (key, value) in extra { env[key] = value }
        return env
    }
}
