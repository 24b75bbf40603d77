import Conveyor
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// The Python examples of docs/wire-format.md ("Awaiting a job's outcome from Python") run as written against the
/// real brokers and a `conveyor worker`: each enqueues an `echo` job with `reply_to`, reads the worker's reply and
/// prints the job's output.
@Suite("Documented Python producers await a Swift worker's result", .timeLimit(.minutes(4)))
struct DocumentedPythonResultTests {
    @Test("pika: the documented example gets the echo job's output", .enabled(if: ReliabilityEnvironment.rabbitMQEnabled, ReliabilityEnvironment.rabbitMQMissing))
    func pika() async throws {
        let url = try ReliabilityEnvironment.requireAMQPURL()
        try await Self.run(example: "await-result-pika", target: .rabbitMQ(url: url), modules: ["pika"], environment: ["AMQP_URL": url])
    }

    @Test("boto3: the documented example gets the echo job's output", .enabled(if: ReliabilityEnvironment.sqsEnabled, ReliabilityEnvironment.sqsMissing))
    func boto3() async throws {
        let endpoint = try ReliabilityEnvironment.requireSQSEndpoint()
        var environment = ["AWS_ENDPOINT_URL": endpoint, "AWS_REGION": "us-east-1"]
        for key in ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"] where ReliabilityEnvironment.environment[key] == nil {
            environment[key] = "test"
        }
        try await Self.run(example: "await-result-boto3", target: .sqs(endpoint: endpoint, visibility: 30), modules: ["boto3"], environment: environment)
    }

    /// The Python blocks of the wire-format document: the `conveyor_envelope` helper and the block marked
    /// `# example: <name>`.
    static func script(_ name: String) throws -> String {
        let document = try String(contentsOf: ReliabilityEnvironment.packageRoot.appendingPathComponent("docs/wire-format.md"), encoding: .utf8)
        let blocks = document.components(separatedBy: "```python\n").dropFirst().map { $0.components(separatedBy: "\n```")[0] }
        let helper = try #require(blocks.first { $0.contains("def conveyor_envelope(") }, "the wire format lost its Python helper")
        let example = try #require(blocks.first { $0.hasPrefix("# example: \(name)\n") }, "the wire format has no example \(name)")
        return helper + "\n\n" + example + "\n"
    }

    static func run(example: String, target: BrokerTarget, modules: [String], environment: [String: String]) async throws {
        let python = try await PythonTools.python(needing: modules)
        let script = temporaryFile("example-\(example)") + ".py"
        try Self.script(example).write(toFile: script, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: script) }
        let provider = try target.makeProvider()
        try await withTestQueue("pyresult", provider: provider) { queue in
            let record = temporaryFile("pyresult")
            defer { try? FileManager.default.removeItem(atPath: record) }
            let worker = try startRecordingWorker(target, queue: queue, record: record)
            defer { worker.cleanUp() }
            let ran = try await ChildProcess.run(
                python, [script], environment: ReliabilityEnvironment.childEnvironment(environment.merging(["CONVEYOR_QUEUE": queue]) { $1 }),
                timeout: .seconds(120))
            #expect(ran.status == 0, "\(example) failed: \(ran.stderr.suffix(2000))\nworker: \(worker.stderr.suffix(1500))")
            #expect(ran.stdout.contains(#"output {"width": 640}"#), "\(example) printed: \(ran.stdout.suffix(1000))")
            worker.signal(SIGTERM)
        }
        try await provider.close()
    }
}
