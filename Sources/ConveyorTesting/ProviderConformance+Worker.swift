import Conveyor
import Foundation

extension ProviderConformance {
    /// The error ``AlwaysFailing`` throws: its description carries a token unique to the run, to find it in the
    /// dead letter's reason.
    struct AlwaysFailingError: Error, CustomStringConvertible {
        let token: String
        var description: String { "conformance task failed on purpose (\(token))" }
    }

    /// A task that throws ``AlwaysFailingError`` on every attempt: three attempts, retried at once.
    struct AlwaysFailing: ConveyorTask {
        struct Input: Codable, Sendable {
            var index: Int
        }

        static let name = "conformance.always-fails"
        static var options: TaskOptions { TaskOptions(maxAttempts: 3, backoff: .immediate, timeout: .seconds(60)) }

        let token: String

        func run(_ input: Input, context: JobContext) async throws -> NoOutput {
            throw AlwaysFailingError(token: token)
        }
    }

    /// A real ``Worker`` runs a task that always throws (`maxAttempts` 3, immediate backoff): the job ends in the
    /// dead-letter queue after its third attempt, with the task's error as the reason. Needs a
    /// ``DeadLetterQueueProvider``; not applicable otherwise.
    static let deadLetterAfterMaxAttempts = ConformanceCase("dead-letter after max attempts", requires: [.deadLetterQueue]) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "max-attempts") { q in
            guard let dlq = q.provider.deadLetterQueues else {
                throw ConveyorError(.unsupported, "the provider is not a DeadLetterQueueProvider")
            }
            let token = UUID().uuidString.lowercased()
            let worker = Worker(
                provider: q.provider,
                registry: try TaskRegistry([AlwaysFailing(token: token)]),
                configuration: Worker.Configuration(
                    queues: [q.queue],
                    concurrency: 1,
                    batchSize: 1,
                    receiversPerQueue: 1,
                    receiveWait: .seconds(1),
                    shutdownGracePeriod: .seconds(5)
                )
            )
            let running = Task { try await worker.run() }
            let sent = q.envelope(AlwaysFailing.name)
            do {
                try await q.enqueue(sent)
                try await q.eventually(within: .seconds(30), "the job dead-lettered by the worker") {
                    let letters = try await dlq.deadLetters(of: q.queue, limit: 10)
                    return (letters.count == 1, "\(letters.count) dead letters")
                }
            } catch {
                worker.triggerGracefulShutdown()
                _ = await running.result
                throw error
            }
            worker.triggerGracefulShutdown()
            try await running.value

            let letter = try await q.onlyDeadLetter(in: dlq, is: sent, "after the worker stopped")
            try q.require(letter.attempts == 3, "dead letter attempts \(letter.attempts), expected 3 (maxAttempts)")
            try q.require(letter.reason.code == "task_error", "dead letter reason code \"\(letter.reason.code)\", expected task_error")
            try q.require(
                letter.reason.message.contains(token),
                "dead letter reason \"\(letter.reason)\" does not carry the task's error"
            )
            try await q.expectNothing(wait: .seconds(1), "a dead-lettered job must not be delivered again")
            try await q.eventuallyStats("stats.deadLettered == 1") { $0.deadLettered == 1 }
        }
    }
}
