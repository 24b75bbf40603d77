import Conveyor
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// A broker as the tests and the `conveyor` CLI see it.
struct BrokerTarget: Sendable {
    var name: String
    /// Arguments selecting the provider for `conveyor` (`--provider ... --url/--endpoint ...`).
    var cliArguments: [String]
    /// Extra `conveyor worker` arguments (e.g. the visibility timeout on SQS).
    var workerArguments: [String] = []
    var makeProvider: @Sendable () throws -> any QueueProvider

    static func rabbitMQ(url: String) -> BrokerTarget {
        BrokerTarget(name: "rabbitmq", cliArguments: ["--provider", "rabbitmq", "--url", url]) {
            try ReliabilityEnvironment.rabbitMQProvider(url: url)
        }
    }

    static func sqs(endpoint: String, visibility: Int = 5) -> BrokerTarget {
        BrokerTarget(
            name: "sqs", cliArguments: ["--provider", "sqs", "--endpoint", endpoint],
            workerArguments: ["--visibility-timeout", "\(visibility)s"]
        ) {
            try ReliabilityEnvironment.sqsProvider(endpoint: endpoint)
        }
    }
}

/// Jobs for the `record` task, enqueued through a provider.
enum RecordJobs {
    static func envelopes(_ range: Range<Int>, task: String = "record") -> [OutgoingMessage] {
        range.map { OutgoingMessage(envelope: Envelope(task: task, payload: Array(#"{"n":\#($0)}"#.utf8))) }
    }

    /// Enqueues `count` record jobs in batches; returns their ids.
    static func enqueue(_ count: Int, start: Int = 0, batch: Int = 50, to queue: String, with provider: any QueueProvider, pause: Duration = .zero) async throws -> [String] {
        var ids: [String] = []
        var n = start
        while n < start + count {
            let chunk = envelopes(n..<min(start + count, n + batch))
            let results = try await provider.enqueue(chunk, to: queue)
            ids += results.map(\.jobID.rawValue)
            n += chunk.count
            if pause > .zero { try await Task.sleep(for: pause) }
        }
        return ids
    }
}

/// Creates a queue for a test and deletes it afterwards.
func withTestQueue<T>(_ hint: String, provider: any QueueProvider, options: QueueOptions = QueueOptions(), _ body: (String) async throws -> T) async throws -> T {
    let queue = ReliabilityEnvironment.queueName(hint)
    if let provisioning = provider as? any QueueProvisioningProvider {
        try await provisioning.createQueue(queue, options: options)
    }
    do {
        let result = try await body(queue)
        if let provisioning = provider as? any QueueProvisioningProvider { try? await provisioning.deleteQueue(queue) }
        return result
    } catch {
        if let provisioning = provider as? any QueueProvisioningProvider { try? await provisioning.deleteQueue(queue) }
        throw error
    }
}

/// Runs `conveyor worker` with the record task on `queue`.
func startRecordingWorker(_ target: BrokerTarget, queue: String, record: String, extra: [String] = []) throws -> ChildProcess {
    try ChildProcess.conveyor(
        ["worker"] + target.cliArguments + target.workerArguments
            + ["--queue", queue, "--record", record, "--concurrency", "16", "--max-attempts", "50", "--shutdown-grace", "5s"] + extra)
}

func temporaryFile(_ hint: String) -> String {
    let path = NSTemporaryDirectory() + "conveyor-rel-\(hint)-\(UUID().uuidString.prefix(8)).log"
    _ = FileManager.default.createFile(atPath: path, contents: nil)
    return path
}

/// Checks that every id ran at least once; prints the duplicates (never asserted away).
func checkAllRecorded(_ ids: [String], record: String, label: String) {
    #expect(!ids.isEmpty, "\(label): no job was enqueued, so there was nothing to check")
    let log = RecordLog(path: record)
    let missing = ids.filter { log.counts[$0] == nil }
    let duplicated = log.counts.filter { $0.value > 1 }
    print("\(label): \(ids.count) jobs enqueued, \(log.lines) runs recorded, \(log.counts.count) distinct, \(log.duplicates) duplicate runs over \(duplicated.count) jobs")
    if !duplicated.isEmpty {
        print("\(label): duplicated job ids (first 20): \(duplicated.keys.sorted().prefix(20).joined(separator: " "))")
    }
    #expect(missing.isEmpty, "\(label): \(missing.count) jobs never ran, e.g. \(missing.prefix(5))")
}
