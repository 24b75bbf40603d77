import Foundation
import Testing

/// `queue create --high-throughput` and `--max-message-size`, `enqueue --group`: values the CLI refuses before
/// contacting any broker are usage errors (exit 2) that say what to write. (Against LocalStack, see
/// ConveyorSQSTests' SQSFifoGroupTests.)
@Suite("conveyor queue create and enqueue options for FIFO groups and message sizes")
struct CLIQueueOptionsTests {
    /// An endpoint nothing listens on: a refusal must come before any request.
    static let unreachable = ["--provider", "sqs", "--endpoint", "http://127.0.0.1:9", "--region", "us-east-1"]
    static let credentials = ["AWS_ACCESS_KEY_ID": "AKIDTEST", "AWS_SECRET_ACCESS_KEY": "test-secret"]

    @Test("--high-throughput without --fifo is a usage error (exit 2) that names --fifo")
    func highThroughputNeedsFIFO() async throws {
        let refused = try await CLIProcess.run(["queue", "create", "orders", "--high-throughput"] + Self.unreachable, environment: Self.credentials)
        #expect(refused.status == 2, "\(refused)")
        #expect(refused.stderr.contains("--fifo"), "\(refused)")
        let fifoName = try await CLIProcess.run(["queue", "create", "orders.fifo", "--high-throughput"] + Self.unreachable, environment: Self.credentials)
        #expect(fifoName.status == 2, "\(fifoName)")
    }

    @Test("--max-message-size outside 1024...1048576 is a usage error (exit 2) that gives the range", arguments: ["0", "1023", "1048577", "-5", "99999999999999999999", "big"])
    func maxMessageSizeOutOfRange(_ value: String) async throws {
        let refused = try await CLIProcess.run(["queue", "create", "uploads", "--max-message-size", value] + Self.unreachable, environment: Self.credentials)
        #expect(refused.status == 2, "\(value): \(refused)")
        #expect(refused.stderr.contains("max-message-size"), "\(value): \(refused)")
    }

    @Test("--group must not be empty (exit 2); help documents --group, --high-throughput and --max-message-size")
    func groupAndHelp() async throws {
        let empty = try await CLIProcess.run(
            ["enqueue", "--queue", "orders.fifo", "--task", "echo", "--group", ""] + Self.unreachable, environment: Self.credentials)
        #expect(empty.status == 2, "\(empty)")
        #expect(empty.stderr.contains("--group"), "\(empty)")
        let enqueueHelp = try await CLIProcess.run(["enqueue", "--help"])
        #expect(enqueueHelp.stdout.contains("--group"), "\(enqueueHelp)")
        let createHelp = try await CLIProcess.run(["queue", "create", "--help"])
        #expect(createHelp.stdout.contains("--high-throughput") && createHelp.stdout.contains("--max-message-size"), "\(createHelp)")
    }
}
