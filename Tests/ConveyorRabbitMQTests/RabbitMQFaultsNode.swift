import Conveyor
import ConveyorRabbitMQ
import Foundation
import Logging
import Testing

/// A private RabbitMQ node (scripts/rabbitmq-faults-node.sh) for the tests that cut connections, restart the
/// broker or raise a memory alarm, so that they never disturb the shared node other suites use in parallel.
///
/// Its port is `CONVEYOR_RABBITMQ_TESTS_FAULTS_PORT` (default 5674), not the reliability suite's 5673, so that
/// both can run in one `swift test`. ``Scope`` starts it before its suite and stops it afterwards.
enum RabbitMQFaultsNode {
    static let port = Int(ProcessInfo.processInfo.environment["CONVEYOR_RABBITMQ_TESTS_FAULTS_PORT"] ?? "") ?? 5674
    /// The node name the script gives it.
    static var nodeName: String { "rabbit-faults-\(port)@localhost" }
    static var url: String { "amqp://guest:guest@127.0.0.1:\(port)/" }

    static let packageRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// A provider for the private node, configured like the shared-node tests' providers.
    static func provider(_ tweak: (inout RabbitMQQueueProvider.Configuration) -> Void = { _ in }) throws -> RabbitMQQueueProvider {
        var configuration = try RabbitMQQueueProvider.Configuration(url: url, connectionName: "conveyor-fault-tests")
        configuration.reconnectBackoff = .init(initial: .milliseconds(100), maximum: .seconds(1))
        tweak(&configuration)
        return try RabbitMQQueueProvider(configuration: configuration, logger: Logger(label: "conveyor.rabbitmq.fault-tests"))
    }

    /// Runs scripts/rabbitmq-faults-node.sh `command` for this node.
    static func script(_ command: String) throws {
        let script = packageRoot.appendingPathComponent("scripts/rabbitmq-faults-node.sh").path
        try run("/usr/bin/env", ["bash", script, command], environment: ["CONVEYOR_FAULTS_RABBITMQ_PORT": "\(port)"])
    }

    /// Runs `rabbitmqctl` against this node (never the shared one).
    @discardableResult
    static func rabbitmqctl(_ arguments: String...) throws -> String {
        try run("/usr/bin/env", ["rabbitmqctl", "-q", "-n", nodeName] + arguments, environment: ["RABBITMQ_NODENAME": nodeName])
    }

    @discardableResult
    private static func run(_ executable: String, _ arguments: [String], environment extra: [String: String]) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        var environment = ProcessInfo.processInfo.environment
        environment["ERL_EPMD_ADDRESS"] = "127.0.0.1"
        environment.merge(extra) { _, new in new }
        process.environment = environment
        // Output goes to a file, not a pipe: `rabbitmq-server -detached` (run by `start`) keeps the descriptors it
        // inherited open, so a pipe would never reach its end.
        let outputPath = NSTemporaryDirectory() + "conveyor-faults-node-\(UUID().uuidString.prefix(8)).log"
        guard FileManager.default.createFile(atPath: outputPath, contents: nil), let output = FileHandle(forWritingAtPath: outputPath) else {
            throw ConveyorError(.brokerError, "cannot create \(outputPath)")
        }
        defer { try? FileManager.default.removeItem(atPath: outputPath) }
        process.standardOutput = output
        process.standardError = output
        process.standardInput = FileHandle.nullDevice
        try process.run()
        try? output.close()
        process.waitUntilExit()
        let text = (try? String(contentsOfFile: outputPath, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw ConveyorError(.brokerError, "\(arguments.prefix(4).joined(separator: " ")) failed (\(process.terminationStatus)): \(text.suffix(1500))")
        }
        return text
    }

    /// Starts the node before the suite it is applied to and stops it afterwards (once per suite).
    struct Scope: SuiteTrait, TestScoping {
        var isRecursive: Bool { false }

        func provideScope(for test: Test, testCase: Test.Case?, performing function: @Sendable () async throws -> Void) async throws {
            try RabbitMQFaultsNode.script("start")
            do {
                try await function()
            } catch {
                try? RabbitMQFaultsNode.script("stop")
                throw error
            }
            try RabbitMQFaultsNode.script("stop")
        }
    }
}

extension Trait where Self == RabbitMQFaultsNode.Scope {
    /// Runs the suite with the private faults node up (see ``RabbitMQFaultsNode``).
    static var faultsNode: Self { Self() }
}
