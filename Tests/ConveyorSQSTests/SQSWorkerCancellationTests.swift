import Conveyor
import ConveyorSQS
import Foundation
import Synchronization
import Testing

/// Cancelling the task that runs a worker (a `ServiceGroup` escalating after its graceful deadline does this) must
/// not undo jobs that already ended. Before, their acknowledgements and failures were sent from the cancelled
/// task, so the SQS calls were cancelled too: a job that had succeeded ran again, and a failed job came back at
/// once instead of after its backoff.
@Suite(
    "SQS worker cancellation", .timeLimit(.minutes(1)), .serialized,
    .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT: eval \"$(scripts/sqs-test-env.sh)\" starts LocalStack and prints the exports")
)
struct SQSWorkerCancellationTests {
    /// Holds acknowledgements and failures until the test opens it (after cancelling the worker's task), so that
    /// they reach SQS only after the cancellation.
    final class SettleGate: Sendable {
        private let state = Mutex((open: false, arrived: 0, waiters: [UnsafeContinuation<Void, Never>](), watchers: [(Int, UnsafeContinuation<Void, Never>)]()))

        func pass() async {
            await withUnsafeContinuation { continuation in
                let (resume, ready) = state.withLock { state -> (Bool, [UnsafeContinuation<Void, Never>]) in
                    state.arrived += 1
                    let arrived = state.arrived
                    let ready = state.watchers.filter { $0.0 <= arrived }.map(\.1)
                    state.watchers.removeAll { $0.0 <= arrived }
                    if state.open { return (true, ready) }
                    state.waiters.append(continuation)
                    return (false, ready)
                }
                for watcher in ready { watcher.resume() }
                if resume { continuation.resume() }
            }
        }

        /// Returns once `count` calls wait at the gate.
        func waitForArrivals(_ count: Int) async {
            await withUnsafeContinuation { continuation in
                let now = state.withLock { state in
                    if state.arrived >= count { return true }
                    state.watchers.append((count, continuation))
                    return false
                }
                if now { continuation.resume() }
            }
        }

        func open() {
            let waiters = state.withLock { state in
                state.open = true
                defer { state.waiters = [] }
                return state.waiters
            }
            for waiter in waiters { waiter.resume() }
        }
    }

    struct GatedProvider: QueueProvider {
        let base: SQSQueueProvider
        let gate: SettleGate

        var name: String { base.name }
        var capabilities: ProviderCapabilities { base.capabilities }
        func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
            try await base.enqueue(messages, to: queue)
        }
        func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
            try await base.receive(from: queue, max: max, wait: wait)
        }
        func acknowledge(_ messages: [ReceivedMessage]) async throws {
            await gate.pass()
            try await base.acknowledge(messages)
        }
        func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
            await gate.pass()
            try await base.fail(message, reason: reason, retryAfter: retryAfter)
        }
        func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {
            try await base.extendVisibility(message, by: duration)
        }
        func extendVisibility(_ messages: [ReceivedMessage], by duration: Duration) async throws {
            try await base.extendVisibility(messages, by: duration)
        }
        func visibilityTimeout(of queue: String) async throws -> Duration? { try await base.visibilityTimeout(of: queue) }
        func stats(of queue: String) async throws -> QueueStats { try await base.stats(of: queue) }
        func close() async throws {}
    }

    struct Outcome: ConveyorTask {
        struct Input: Codable, Sendable { var fails: Bool }
        static let name = "cancellation.outcome"
        static let options = TaskOptions(maxAttempts: 3, backoff: .fixed(.seconds(60)), timeout: nil)
        func run(_ input: Input, context: JobContext) async throws -> NoOutput {
            if input.fails { throw ConveyorError(.invalidConfiguration, "this job fails on purpose") }
            return NoOutput()
        }
    }

    @Test func jobsThatEndedAreSettledAfterTheWorkersTaskIsCancelled() async throws {
        // The queue's own visibility timeout is 2 s: a message whose settlement was lost is back within the test.
        try await SQSTestEnvironment.withQueue(
            "cancel-settle", options: QueueOptions(visibilityTimeout: .seconds(2)), configure: { $0.visibilityTimeout = nil }
        ) { sqs, queue in
            let gate = SettleGate()
            let provider = GatedProvider(base: sqs, gate: gate)
            var registry = TaskRegistry()
            try registry.register(Outcome())
            let worker = Worker(
                provider: provider, registry: registry,
                configuration: Worker.Configuration(queues: [queue], concurrency: 2, batchSize: 2, receiveWait: .seconds(1))
            )
            let client = ConveyorClient(provider: sqs)
            _ = try await client.enqueue(Outcome.self, .init(fails: false), options: EnqueueOptions(queue: queue))
            _ = try await client.enqueue(Outcome.self, .init(fails: true), options: EnqueueOptions(queue: queue))
            let running = Task { try await worker.run() }
            // Both jobs ended: the acknowledgement of one and the failure (retry in 60 s) of the other are on their way.
            await gate.waitForArrivals(2)
            running.cancel()
            gate.open()
            try await running.value

            // Neither message comes back after the 2 s visibility timeout: the success was acknowledged and the
            // failure's 60 s backoff applied.
            var back: [ReceivedMessage] = []
            let until = ContinuousClock.now + .seconds(4)
            while ContinuousClock.now < until {
                back += try await sqs.receive(from: queue, max: 10, wait: .seconds(1))
            }
            let inputs = back.compactMap { try? $0.envelope.get() }.map { String(decoding: $0.payload, as: UTF8.self) }
            #expect(back.isEmpty, "settlements were lost to the cancellation; back in the queue: \(inputs)")
            let stats = try await sqs.stats(of: queue)
            #expect(stats.inFlight + stats.ready == 1, "the failed job waits for its retry: \(stats)")
        }
    }
}
