import Foundation
import Testing

/// A broker the CLI can be pointed at, from the test environment.
///
/// A test that needs one carries `.needs(.rabbitMQ)` or `.needs(.sqs)` and gets it with `CLIBroker.rabbitMQ()` or
/// `CLIBroker.sqs()`. Without the broker's variable, the test is skipped (shown as skipped, with the line that
/// says what to set) outside CI; in CI (`CI` set) it runs and fails on that line, so it never passes unchecked.
struct CLIBroker: Sendable {
    /// The `--provider` name.
    var provider: String
    /// Arguments that point a command at the broker.
    var arguments: [String]
    /// Environment added to the command's.
    var environment: [String: String]

    /// Whether the tests run in CI, where a missing broker fails instead of skipping.
    static let inCI = ProcessInfo.processInfo.environment["CI"] != nil

    /// RabbitMQ at `CONVEYOR_AMQP_URL`, given with `--provider rabbitmq --url`.
    static func rabbitMQ() throws -> CLIBroker {
        CLIBroker(provider: "rabbitmq", arguments: ["--provider", "rabbitmq", "--url", try TestBroker.rabbitMQ.value()], environment: [:])
    }

    /// SQS at `CONVEYOR_SQS_ENDPOINT` (LocalStack), given with `--provider sqs --endpoint --region`.
    static func sqs() throws -> CLIBroker {
        let region = ProcessInfo.processInfo.environment["AWS_REGION"] ?? "us-east-1"
        return CLIBroker(
            provider: "sqs",
            arguments: ["--provider", "sqs", "--endpoint", try TestBroker.sqs.value(), "--region", region],
            environment: [:]
        )
    }

    /// Runs `conveyor command <broker arguments> extra`.
    func run(_ command: [String], _ extra: [String] = [], stdin: String? = nil) async throws -> CLIResult {
        try await CLIProcess.run(command + arguments + extra, environment: environment, stdin: stdin)
    }

    /// `stats --json` of `queue`, expecting exit 0.
    func stats(_ queue: String) async throws -> [String: Any] {
        let result = try await run(["stats"], ["--queue", queue, "--json"])
        #expect(result.status == 0, "\(result)")
        return jsonObject(result.lines.last ?? "") ?? [:]
    }
}

/// A broker the tests use, by the environment variable that points at it and the script that starts it.
enum TestBroker: Sendable {
    case rabbitMQ
    case sqs

    /// The environment variable that points the tests at the broker.
    var variable: String {
        switch self {
        case .rabbitMQ: "CONVEYOR_AMQP_URL"
        case .sqs: "CONVEYOR_SQS_ENDPOINT"
        }
    }

    /// One line: which variable to set and which script starts the broker.
    var missing: String {
        switch self {
        case .rabbitMQ:
            "CONVEYOR_AMQP_URL is not set: start RabbitMQ with scripts/rabbitmq-start.sh and set CONVEYOR_AMQP_URL=amqp://guest:guest@127.0.0.1:5672/"
        case .sqs:
            #"CONVEYOR_SQS_ENDPOINT is not set: start LocalStack with scripts/localstack-start.sh and set CONVEYOR_SQS_ENDPOINT=http://127.0.0.1:4566 (eval "$(scripts/sqs-test-env.sh)" sets it and the AWS test credentials)"#
        }
    }

    /// Whether the variable is set (non-empty).
    var isSet: Bool { (try? value()) != nil }

    /// The variable's value; throws ``MissingBroker`` (one line) when it is not set.
    func value() throws -> String {
        guard let value = ProcessInfo.processInfo.environment[variable], !value.isEmpty else {
            throw MissingBroker(description: missing)
        }
        return value
    }
}

/// A broker's variable is missing: what to set and which script starts it, in one line.
struct MissingBroker: Error, CustomStringConvertible {
    var description: String
}

extension Trait where Self == ConditionTrait {
    /// Runs the test when `broker`'s variable is set, or in CI (where `CLIBroker.rabbitMQ()`/`.sqs()` then fails
    /// the test on ``TestBroker/missing``); otherwise skips it with that line as the reason.
    static func needs(_ broker: TestBroker) -> Self {
        .enabled(if: broker.isSet || CLIBroker.inCI, Comment(rawValue: broker.missing))
    }
}
