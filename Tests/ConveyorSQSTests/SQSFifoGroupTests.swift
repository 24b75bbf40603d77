import Conveyor
import Foundation
import Synchronization
import Testing

@testable import ConveyorSQS

/// Records the order in which ``GroupStepTask`` jobs ran, per group.
final class GroupSteps: Sendable {
    private let steps = Mutex<[String: [Int]]>([:])
    func record(_ input: GroupStepTask.Input) { steps.withLock { $0[input.group, default: []].append(input.step) } }
    var all: [String: [Int]] { steps.withLock { $0 } }
}

/// One step of a group's sequence.
struct GroupStepTask: ConveyorTask {
    struct Input: Codable, Sendable {
        var group: String
        var step: Int
    }
    static let name = "test.group-step"
    let steps: GroupSteps
    func run(_ input: Input, context: JobContext) async throws {
        steps.record(input)
    }
}

/// A task whose jobs go to the message group of its options.
struct GroupedByTaskOptions: ConveyorTask {
    static let name = "test.grouped-by-task"
    static var options: TaskOptions { TaskOptions(groupID: "from-task-options") }
    func run(_ input: Int, context: JobContext) async throws {}
}

/// The `conveyor` binary, run against LocalStack.
enum ConveyorBinary {
    /// `CONVEYOR_BIN`, or `conveyor` beside the test bundle (built by `swift build --build-tests`).
    static let path: String = {
        if let path = ProcessInfo.processInfo.environment["CONVEYOR_BIN"] { return path }
        var directory = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent()
        while directory.path.contains(".xctest") { directory.deleteLastPathComponent() }
        return directory.appendingPathComponent("conveyor").path
    }()

    /// Runs `conveyor arguments --provider sqs --endpoint … --region …` to its end; its status and output.
    static func run(_ arguments: [String]) async throws -> (status: Int32, stdout: String, stderr: String) {
        let endpoint = try #require(SQSTestEnvironment.endpoint)
        let region = SQSTestEnvironment.environment["AWS_REGION"] ?? "us-east-1"
        let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("conveyor-sqs-cli-\(UUID().uuidString)")
        let outPath = scratch.path + ".out"
        let errPath = scratch.path + ".err"
        _ = FileManager.default.createFile(atPath: outPath, contents: nil)
        _ = FileManager.default.createFile(atPath: errPath, contents: nil)
        defer {
            try? FileManager.default.removeItem(atPath: outPath)
            try? FileManager.default.removeItem(atPath: errPath)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: path)
        process.arguments = arguments + ["--provider", "sqs", "--endpoint", endpoint, "--region", region]
        var environment = SQSTestEnvironment.environment
        environment["CONVEYOR_PROVIDER"] = nil
        environment["AWS_ENDPOINT_URL_SQS"] = endpoint
        process.environment = environment
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        process.standardOutput = FileHandle(forWritingAtPath: outPath)
        process.standardError = FileHandle(forWritingAtPath: errPath)
        let status = try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Int32, any Error>) in
            process.terminationHandler = { continuation.resume(returning: $0.terminationStatus) }
            do { try process.run() } catch { continuation.resume(throwing: error) }
        }
        return (
            status,
            (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? "",
            (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
        )
    }
}

/// FIFO high throughput and message groups on LocalStack.
@Suite(
    "SQS FIFO high throughput and message groups on LocalStack",
    .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT: eval \"$(scripts/sqs-test-env.sh)\" starts LocalStack and prints the exports"),
    .serialized
)
struct SQSFifoGroupTests {
    static func attributes(_ provider: SQSQueueProvider, _ queue: String, _ names: [String]) async throws -> [String: String] {
        let url = try await SQSTestEnvironment.queueURL(provider, queue)
        return try await provider.client.call(SQSAPI.GetQueueAttributes(queueURL: url, names: names))
    }

    /// Receives every message of `queue` (raw, with `MessageGroupId`), deleting each: job id → group.
    static func groupsOfMessages(_ provider: SQSQueueProvider, _ queue: String, count: Int) async throws -> [JobID: String] {
        let url = try await SQSTestEnvironment.queueURL(provider, queue)
        var groups: [JobID: String] = [:]
        var empty = 0
        while groups.count < count && empty < 5 {
            let messages = try await provider.client.call(SQSAPI.ReceiveMessage(
                queueURL: url, maxNumberOfMessages: 10, waitTimeSeconds: 1, visibilityTimeout: 30,
                systemAttributeNames: ["MessageGroupId"]
            ))
            if messages.isEmpty { empty += 1 }
            for message in messages {
                let envelope = try EnvelopeCodec.decode(Array(message.body.utf8))
                groups[envelope.id] = message.attributes["MessageGroupId"] ?? "(none)"
                _ = try await provider.client.call(SQSAPI.DeleteMessage(queueURL: url, receiptHandle: message.receiptHandle))
            }
        }
        return groups
    }

    @Test func aHighThroughputFIFOQueueReadsBackItsAttributes() async throws {
        try await SQSTestEnvironment.withQueue("ht", fifo: true, options: QueueOptions(highThroughput: true)) { provider, queue in
            let names = ["FifoQueue", "DeduplicationScope", "FifoThroughputLimit"]
            let attributes = try await Self.attributes(provider, queue, names)
            #expect(attributes["FifoQueue"] == "true", "\(attributes)")
            #expect(attributes["DeduplicationScope"] == "messageGroup", "\(attributes)")
            #expect(attributes["FifoThroughputLimit"] == "perMessageGroupId", "\(attributes)")
            // Idempotent: creating it again (the existing queue's attributes are set again) keeps them.
            try await provider.createQueue(queue, options: QueueOptions(fifo: true, highThroughput: true))
            #expect(try await Self.attributes(provider, queue, names) == attributes)
        }
    }

    @Test func jobsCarryTheirMessageGroupsAndEachGroupRunsInOrder() async throws {
        try await SQSTestEnvironment.withQueue("groups", fifo: true) { provider, queue in
            let client = ConveyorClient(provider: provider)
            // A group SQS would refuse as MessageGroupId (a space) is sent as its SHA-256 in hex.
            let groups = ["tenant-a", "tenant-b", "Acme Corp"]
            let hashed = SQSQueueProvider.deduplicationID("Acme Corp")
            #expect(hashed.count == 64 && hashed.allSatisfy(\.isHexDigit))
            let sentAs = ["tenant-a": "tenant-a", "tenant-b": "tenant-b", "Acme Corp": hashed]

            // The groups reach MessageGroupId, per call and from the task's options.
            var expected: [JobID: String] = [:]
            for step in 0..<2 {
                for group in groups {
                    let handle = try await client.enqueue(
                        GroupStepTask.self, .init(group: group, step: step), options: .init(queue: queue, groupID: group))
                    expected[handle.id] = sentAs[group]
                }
            }
            let batch = try await client.enqueueRaw(
                task: GroupStepTask.name, payloads: [Array(#"{"group":"tenant-a","step":9}"#.utf8)],
                options: .init(queue: queue, groupID: "tenant-a"))
            expected[batch[0].jobID] = "tenant-a"
            let byTask = try await client.enqueue(GroupedByTaskOptions.self, 1, options: .init(queue: queue))
            expected[byTask.id] = "from-task-options"
            let ungrouped = try await client.enqueueRaw(
                task: GroupStepTask.name, payload: Array(#"{"group":"none","step":0}"#.utf8), options: .init(queue: queue))
            expected[ungrouped.jobID] = "default"
            #expect(try await Self.groupsOfMessages(provider, queue, count: expected.count) == expected)

            // Each group's jobs run in the order they were enqueued (one worker slot: the order jobs start in is the
            // order SQS hands them out, which FIFO keeps per group).
            let steps = GroupSteps()
            for step in 0..<4 {
                for group in groups {
                    _ = try await client.enqueue(GroupStepTask.self, .init(group: group, step: step), options: .init(queue: queue, groupID: group))
                }
            }
            let worker = Worker(
                provider: provider, registry: try TaskRegistry([GroupStepTask(steps: steps)]),
                configuration: Worker.Configuration(queues: [queue], concurrency: 1, receiveWait: .seconds(1))
            )
            let running = Task { try await worker.run() }
            do {
                try await waitUntil("every group's four jobs to run") { steps.all.values.map(\.count).reduce(0, +) == 12 }
            } catch {
                worker.triggerGracefulShutdown()
                _ = await running.result
                throw error
            }
            worker.triggerGracefulShutdown()
            try await running.value
            for group in groups {
                #expect(steps.all[group] == [0, 1, 2, 3], "\(group): \(steps.all[group] ?? [])")
            }
        }
    }

    @Test func theCLICreatesHighThroughputAndLargeQueuesAndItsGroupReachesMessageGroupId() async throws {
        let provider = try SQSTestEnvironment.makeProvider()
        let queue = SQSTestEnvironment.uniqueName("cli-group") + ".fifo"
        do {
            let created = try await ConveyorBinary.run([
                "queue", "create", queue, "--fifo", "--high-throughput", "--max-message-size", "1048576",
            ])
            #expect(created.status == 0, "\(created)")
            let attributes = try await Self.attributes(provider, queue, ["DeduplicationScope", "FifoThroughputLimit", "MaximumMessageSize"])
            #expect(
                attributes == ["DeduplicationScope": "messageGroup", "FifoThroughputLimit": "perMessageGroupId", "MaximumMessageSize": "1048576"],
                "\(attributes)")

            let enqueued = try await ConveyorBinary.run([
                "enqueue", "--queue", queue, "--task", "echo", "--payload", "{}", "--group", "tenant-7", "--count", "3",
            ])
            #expect(enqueued.status == 0, "\(enqueued)")
            let ids = enqueued.stdout.split(separator: "\n").map { JobID(String($0)) }
            #expect(ids.count == 3, "\(enqueued)")
            let groups = try await Self.groupsOfMessages(provider, queue, count: 3)
            #expect(groups == Dictionary(uniqueKeysWithValues: ids.map { ($0, "tenant-7") }))
        } catch {
            _ = try? await ConveyorBinary.run(["queue", "delete", queue, "--yes"])
            try? await provider.deleteQueue(queue)
            try? await provider.close()
            throw error
        }
        let deleted = try await ConveyorBinary.run(["queue", "delete", queue, "--yes"])
        #expect(deleted.status == 0, "\(deleted)")
        try await provider.close()
    }
}
