import Conveyor
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Faults {
    /// Bad messages published straight to the broker with another client (pika, boto3), between good jobs: each bad
    /// one ends in the dead-letter queue with a reason, and the worker runs every good job around them.
    @Suite("Bad input from other clients", .timeLimit(.minutes(4)))
    struct BadInputTests {
        @Test("RabbitMQ (pika): bad bodies are dead-lettered with a reason, good jobs run", .enabled(if: ReliabilityEnvironment.rabbitMQEnabled, ReliabilityEnvironment.rabbitMQMissing))
        func rabbitMQ() async throws {
            let url = try ReliabilityEnvironment.requireAMQPURL()
            // 17 MiB: over the envelope decoder's 16 MiB limit, under RabbitMQ's default maximum message size.
            try await Self.run(.rabbitMQ(url: url), kind: "rabbitmq", target: url, oversized: 17 << 20, modules: ["pika"], options: QueueOptions())
        }

        @Test("SQS (boto3): bad bodies are dead-lettered with a reason, good jobs run", .enabled(if: ReliabilityEnvironment.sqsEnabled, ReliabilityEnvironment.sqsMissing))
        func sqs() async throws {
            let endpoint = try ReliabilityEnvironment.requireSQSEndpoint()
            // SQS caps bodies at 256 KiB: the biggest body it takes, of garbage.
            try await Self.run(
                .sqs(endpoint: endpoint, visibility: 10), kind: "sqs", target: endpoint, oversized: 250_000, modules: ["boto3"],
                options: QueueOptions(maxReceiveCount: 100, visibilityTimeout: .seconds(10)))
        }

        static func badBodies(oversized: Int) -> [(name: String, body: [UInt8])] {
            var rng = SystemRandomNumberGenerator()
            let valid = EnvelopeCodec.encode(Envelope(task: "record", payload: Array(#"{"n":"truncated"}"#.utf8)))
            return [
                ("random bytes", (0..<300).map { _ in UInt8.random(in: 0...255, using: &rng) }),
                ("truncated envelope", Array(valid.prefix(valid.count / 2))),
                ("oversized body", Array(repeating: UInt8(ascii: "x"), count: oversized)),
                ("empty body", []),
                ("unknown envelope version", Array(#"{"v":99,"id":"bad-version","task":"record","payload":{}}"#.utf8)),
                ("unknown task", Array(#"{"v":1,"id":"bad-task","task":"no.such.task","payload":{}}"#.utf8)),
                ("payload that fails to decode", Array(#"{"v":1,"id":"bad-payload","task":"sleep","payload":{"ms":"soon"}}"#.utf8)),
                ("JSON that is not an object", Array(#"[1,2,3]"#.utf8)),
            ]
        }

        static func run(_ target: BrokerTarget, kind: String, target address: String, oversized: Int, modules: [String], options: QueueOptions) async throws {
            let python = try await PythonTools.python(needing: modules)
            let provider = try target.makeProvider()
            try await withTestQueue("badinput", provider: provider, options: options) { queue in
                let bad = badBodies(oversized: oversized)
                var good: [String] = []
                var bodies: [String] = []
                for (index, item) in bad.enumerated() {
                    for k in 0..<5 {
                        let envelope = Envelope(task: "record", payload: Array(#"{"n":\#(index * 10 + k)}"#.utf8))
                        good.append(envelope.id.rawValue)
                        bodies.append(Data(EnvelopeCodec.encode(envelope)).base64EncodedString())
                    }
                    bodies.append(Data(item.body).base64EncodedString())
                }
                let bodiesFile = temporaryFile("bodies")
                defer { try? FileManager.default.removeItem(atPath: bodiesFile) }
                try JSONSerialization.data(withJSONObject: bodies).write(to: URL(fileURLWithPath: bodiesFile))
                let published = try await ChildProcess.run(
                    python, [try ReliabilityEnvironment.resource("publish_raw.py"), kind, address, queue, bodiesFile], timeout: .seconds(120))
                #expect(published.status == 0, "publish_raw.py failed: \(published.stderr.suffix(1500))")

                let record = temporaryFile("badinput")
                defer { try? FileManager.default.removeItem(atPath: record) }
                let worker = try startRecordingWorker(target, queue: queue, record: record, extra: ["--max-attempts", "2", "--retry-delay", "100ms"])
                defer { worker.cleanUp() }
                let dlq = provider as? any DeadLetterQueueProvider
                var letters: [DeadLetter] = []
                let goodDone = try await eventually(timeout: .seconds(90)) {
                    Set(RecordLog(path: record).counts.keys).isSuperset(of: good)
                }
                let settled = try await eventually(timeout: .seconds(60), interval: .seconds(1)) {
                    letters = (try? await dlq?.deadLetters(of: queue, limit: 100)) ?? []
                    return goodDone && letters.count >= bad.count
                }
                #expect(worker.isRunning, "the worker stopped: \(worker.stderr.suffix(1500))")
                worker.signal(SIGTERM)
                try await worker.waitForExit(timeout: .seconds(30))
                checkAllRecorded(good, record: record, label: "\(target.name) bad input")
                print("\(target.name) dead letters:")
                for letter in letters {
                    let what: String
                    switch letter.envelope {
                    case .success(let envelope): what = "job \(envelope.id) task \(envelope.task)"
                    case .failure(let error): what = "undecodable (\(error.code)), \(letter.rawBody?.count ?? 0) bytes kept"
                    }
                    print("  \(what): \(letter.reason.code): \(letter.reason.message.prefix(160))")
                    #expect(!letter.reason.code.isEmpty && !letter.reason.message.isEmpty)
                }
                #expect(settled, "good jobs recorded: \(RecordLog(path: record).counts.count)/\(good.count); dead letters: \(letters.count)/\(bad.count)")
                #expect(letters.count == bad.count, "expected \(bad.count) dead letters (one per bad body), got \(letters.count)")
                let codes = Set(letters.map(\.reason.code))
                for code in ["malformed_envelope", "unsupported_envelope_version", "unknown_task", "payload_decoding_failed"] {
                    #expect(codes.contains(code), "no dead letter with reason \(code); got \(codes)")
                }
            }
            try await provider.close()
        }
    }
}
