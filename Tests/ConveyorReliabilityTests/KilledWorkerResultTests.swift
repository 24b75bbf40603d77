import Conveyor
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

extension Faults {
    /// A tracked job whose worker is killed with SIGKILL while it runs is redelivered to another worker, and its
    /// producer still gets exactly one outcome: that of the attempt that finished.
    @Suite("A killed worker's tracked job", .timeLimit(.minutes(3)))
    struct KilledWorkerResultTests {
        @Test("RabbitMQ: SIGKILL mid-job, redelivered, one result", .enabled(if: ReliabilityEnvironment.rabbitMQEnabled, ReliabilityEnvironment.rabbitMQMissing))
        func rabbitMQ() async throws {
            try await Self.run(.rabbitMQ(url: try ReliabilityEnvironment.requireAMQPURL()))
        }

        @Test("SQS: SIGKILL mid-job, redelivered after the visibility timeout, one result", .enabled(if: ReliabilityEnvironment.sqsEnabled, ReliabilityEnvironment.sqsMissing))
        func sqs() async throws {
            try await Self.run(.sqs(endpoint: try ReliabilityEnvironment.requireSQSEndpoint(), visibility: 3))
        }

        static func run(_ target: BrokerTarget) async throws {
            let provider = try target.makeProvider()
            let client = ConveyorClient(provider: provider)
            try await withTestQueue("killed-result", provider: provider) { queue in
                let record = temporaryFile("killed-result")
                defer { try? FileManager.default.removeItem(atPath: record) }
                let first = try startRecordingWorker(target, queue: queue, record: record)
                defer { first.cleanUp() }
                // 30 steps of 100 ms: long enough to be killed in the middle.
                let job = try #require(try await client.enqueueRaw(
                    task: "progress", payloads: [Array(#"{"steps":30,"ms":100}"#.utf8)], options: .init(queue: queue), tracking: .events
                ).first)
                var events = job.events.makeAsyncIterator()
                var seen: [JobEvent] = []
                while let event = await events.next() {
                    seen.append(event)
                    if event.kind == .progress && event.attempt == 1 { break }
                }
                #expect(seen.last?.kind == .progress, "the job ended before it could be killed: \(seen.map(\.kind))")
                first.signal(SIGKILL)

                let second = try startRecordingWorker(target, queue: queue, record: record)
                defer { second.cleanUp() }
                let outcome = try await job.outcome(timeout: .seconds(90))
                #expect(outcome.kind == .succeeded, "outcome \(outcome)")
                // RabbitMQ redelivers at once (attempt 2); SQS counts every receive, so the attempt may be higher.
                #expect(outcome.attempt >= 2, "the finished attempt is \(outcome.attempt), expected a redelivery")
                #expect(outcome.output.map { String(decoding: $0, as: UTF8.self) } == #"{"steps":30}"#)
                while let event = await events.next() { seen.append(event) }
                let finals = seen.filter(\.kind.isFinal)
                #expect(finals.count == 1, "final events seen: \(finals)")
                let progressed = Set(seen.filter { $0.kind == .progress }.map(\.attempt))
                #expect(progressed.contains(1) && progressed.contains(outcome.attempt), "progress of attempts \(progressed)")
                second.signal(SIGTERM)
            }
            await client.results.close()
            try await provider.close()
        }
    }
}
