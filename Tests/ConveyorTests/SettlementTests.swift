import Clocks
import Conveyor
import Foundation
import Logging
import Synchronization
import Testing

/// Broker calls that settle jobs go out from the worker's own task: a slow call holds back neither other
/// heartbeats nor a job's timeout. Before, the first executor to submit a heartbeat flushed every round itself,
/// so one hung call stopped all heartbeats (jobs ran twice) and kept that executor from cancelling its job at its
/// timeout.
@Suite("Settlement calls", .timeLimit(.minutes(1)))
struct SettlementTests {
    /// Until opened, holds every call that waits on it.
    final class Gate: Sendable {
        private let state = Mutex((open: false, waiters: [UnsafeContinuation<Void, Never>]()))
        func wait() async {
            await withUnsafeContinuation { continuation in
                let resume = state.withLock { state in
                    if state.open { return true }
                    state.waiters.append(continuation)
                    return false
                }
                if resume { continuation.resume() }
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

    /// The memory provider, whose visibility extensions of messages in `slowQueue` hang until `gate` opens.
    struct SlowHeartbeatProvider: QueueProvider {
        let base: MemoryQueueProvider
        let slowQueue: String
        let gate: Gate

        var name: String { "slow-heartbeat-memory" }
        var capabilities: ProviderCapabilities { base.capabilities }
        func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
            try await base.enqueue(messages, to: queue)
        }
        func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
            try await base.receive(from: queue, max: max, wait: wait)
        }
        func acknowledge(_ messages: [ReceivedMessage]) async throws { try await base.acknowledge(messages) }
        func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
            try await base.fail(message, reason: reason, retryAfter: retryAfter)
        }
        func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {
            try await extendVisibility([message], by: duration)
        }
        func extendVisibility(_ messages: [ReceivedMessage], by duration: Duration) async throws {
            if messages.contains(where: { $0.queue == slowQueue }) { await gate.wait() }
            try await base.extendVisibility(messages, by: duration)
        }
        func visibilityTimeout(of queue: String) async throws -> Duration? { try await base.visibilityTimeout(of: queue) }
        func stats(of queue: String) async throws -> QueueStats { try await base.stats(of: queue) }
        func close() async throws { try await base.close() }
    }

    struct Sleeper: ConveyorTask {
        struct Input: Codable, Sendable { var seconds: Double }
        static let name = "settlement.sleep"
        static let options = TaskOptions(maxAttempts: 1, timeout: nil)
        let runs: Shared<[String: Int]>
        func run(_ input: Input, context: JobContext) async throws -> NoOutput {
            runs.withLock { $0[context.queue, default: 0] += 1 }
            try await Task.sleep(for: .milliseconds(Int(input.seconds * 1000)))
            return NoOutput()
        }
    }

    static func provider(gate: Gate) -> SlowHeartbeatProvider {
        SlowHeartbeatProvider(
            base: MemoryQueueProvider(configuration: .init(visibilityTimeout: .seconds(1))), slowQueue: "slow", gate: gate
        )
    }

    @Test("a hung heartbeat call holds back no other job's heartbeat")
    func hungHeartbeatDelaysNoOther() async throws {
        let gate = Gate()
        defer { gate.open() }
        // On a test clock, so that a loaded machine cannot let a visibility lapse: the clock only moves once the fast
        // queue's due heartbeats have landed (or 2 s of real time have passed waiting for them: then they were held
        // back behind the hung call, and the fast job's visibility lapses).
        let provider = ClockedMemoryProvider(visibilityTimeout: .seconds(1)) { messages in
            if messages.contains(where: { $0.queue == "slow" }) { await gate.wait() }
        }
        let clock = provider.clock
        let runs = Shared<[String: Int]>([:])
        let finished = Shared<[String: Int]>([:])
        var registry = TaskRegistry()
        try registry.register(ClockedSleeper(clock: clock, runs: runs, finished: finished))
        // Spare executors: a copy of the fast job delivered again while it runs would start at once.
        let worker = Worker(
            provider: provider, registry: registry,
            configuration: Worker.Configuration(
                queues: ["slow", "fast"], concurrency: 4, batchSize: 1, receiveWait: .milliseconds(200),
                shutdownGracePeriod: .milliseconds(100), clock: clock
            ),
            logger: testLogger
        )
        let client = ConveyorClient(provider: provider)
        try await withRunningWorker(worker) {
            _ = try await client.enqueue(ClockedSleeper.self, .init(seconds: 5), options: EnqueueOptions(queue: "slow"))
            #expect(await provider.advance(until: { runs.value["slow"] == 1 }, watched: ["fast"]))
            _ = await provider.advance(until: { false }, limit: .milliseconds(300), watched: ["fast"])  // rounds of their own
            _ = try await client.enqueue(ClockedSleeper.self, .init(seconds: 3.5), options: EnqueueOptions(queue: "fast"))
            #expect(await provider.advance(until: { finished.value["fast"] == 1 }, watched: ["fast"]))
            gate.open()
            _ = await provider.advance(until: { (finished.value["slow"] ?? 0) >= 1 })
        }
        // The fast job was kept invisible for its 3.5 s (five heartbeats) although every call for the slow queue hung.
        #expect(runs.value["fast"] == 1, "the fast job's visibility lapsed while another heartbeat hung: it ran \(runs.value["fast"] ?? 0) times")
    }

    struct ClockedSleeper: ConveyorTask {
        struct Input: Codable, Sendable { var seconds: Double }
        static let name = "settlement.clocked-sleep"
        static let options = TaskOptions(maxAttempts: 1, timeout: nil)
        let clock: TestClock<Duration>
        let runs: Shared<[String: Int]>
        let finished: Shared<[String: Int]>
        func run(_ input: Input, context: JobContext) async throws -> NoOutput {
            runs.withLock { $0[context.queue, default: 0] += 1 }
            try await clock.sleep(for: .milliseconds(Int(input.seconds * 1000)))
            finished.withLock { $0[context.queue, default: 0] += 1 }
            return NoOutput()
        }
    }

    @Test("a job's timeout does not wait for its hung heartbeat")
    func timeoutDoesNotWaitForHeartbeat() async throws {
        let gate = Gate()
        defer { gate.open() }
        let provider = Self.provider(gate: gate)
        var registry = TaskRegistry()
        try registry.register(Sleeper(runs: Shared([:])))
        let worker = Worker(
            provider: provider, registry: registry,
            configuration: Worker.Configuration(
                queues: ["slow"], concurrency: 1, batchSize: 1, receiveWait: .milliseconds(200),
                taskOptionOverrides: [Sleeper.name: TaskOptions(maxAttempts: 1, timeout: .milliseconds(1500))]
            ),
            logger: testLogger
        )
        let stream = worker.events()
        let client = ConveyorClient(provider: provider)
        let ended = try await withRunningWorker(worker) {
            // The first heartbeat (after 0.7 s) hangs; the timeout (1.5 s) must still cancel the 4 s job.
            _ = try await client.enqueue(Sleeper.self, .init(seconds: 4), options: EnqueueOptions(queue: "slow"))
            let all = await EventLog(stream).wait(until: { $0.contains { [.succeeded, .deadLettered, .retried].contains($0.kind) } })
            gate.open()
            return all.first { [.succeeded, .deadLettered, .retried].contains($0.kind) }
        }
        #expect(ended?.kind == .deadLettered)
        #expect(ended?.error?.contains("timeout") == true, "the job ended as \(String(describing: ended))")
    }

    /// The memory provider, whose acknowledgements always fail.
    struct FailingAckProvider: QueueProvider {
        struct AckRefused: Error {}
        let base = MemoryQueueProvider(configuration: .init(visibilityTimeout: .seconds(1)))

        var name: String { "failing-ack-memory" }
        var capabilities: ProviderCapabilities { base.capabilities }
        func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
            try await base.enqueue(messages, to: queue)
        }
        func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
            try await base.receive(from: queue, max: max, wait: wait)
        }
        func acknowledge(_ messages: [ReceivedMessage]) async throws { throw AckRefused() }
        func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
            try await base.fail(message, reason: reason, retryAfter: retryAfter)
        }
        func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {
            try await base.extendVisibility(message, by: duration)
        }
        func visibilityTimeout(of queue: String) async throws -> Duration? { try await base.visibilityTimeout(of: queue) }
        func stats(of queue: String) async throws -> QueueStats { try await base.stats(of: queue) }
        func close() async throws { try await base.close() }
    }

    @Test("a job that keeps failing to settle shows at warning once")
    func settleFailureWarnsOncePerJob() async throws {
        let provider = FailingAckProvider()
        let logs = CapturedLogs()
        let runs = Shared<[String: Int]>([:])
        var registry = TaskRegistry()
        try registry.register(Sleeper(runs: runs))
        let worker = Worker(
            provider: provider, registry: registry,
            configuration: Worker.Configuration(queues: ["stuck"], concurrency: 1, batchSize: 1, receiveWait: .milliseconds(200)),
            logger: logs.logger()
        )
        let stream = worker.events()
        let client = ConveyorClient(provider: provider)
        let id = try await withRunningWorker(worker) {
            let id = try await client.enqueue(Sleeper.self, .init(seconds: 0), options: EnqueueOptions(queue: "stuck")).id
            // Every acknowledgement fails, so the message comes back after its visibility timeout and runs again.
            _ = await EventLog(stream).wait(for: .succeeded, count: 3)
            return id
        }
        let forJob = logs.entries.filter { $0.metadata["job.id"] == id.rawValue }
        let warnings = forJob.filter { $0.level == .warning }
        #expect(warnings.count == 1, "warnings for the job: \(warnings.map(\.message))")
        #expect(warnings.first?.message.contains("acknowledging") == true, "\(warnings.map(\.message))")
        #expect(logs.entries.contains { $0.level == .debug && $0.message.contains("failed again") })
    }
}
