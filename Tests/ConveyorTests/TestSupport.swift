import Conveyor
import Foundation
import Logging
import Synchronization
import Testing

/// The name and options of a ``Probe`` task.
protocol ProbeTag: Sendable {
    static var name: String { get }
    static var options: TaskOptions { get }
}

struct ProbeInput: Codable, Sendable, Equatable {
    var value: Int
    var note: String = ""
}

struct ProbeOutput: Codable, Sendable, Equatable {
    var doubled: Int
}

/// A task whose behaviour is a closure, so each test states what its jobs do.
struct Probe<Tag: ProbeTag>: ConveyorTask {
    typealias Input = ProbeInput
    typealias Output = ProbeOutput
    static var name: String { Tag.name }
    static var options: TaskOptions { Tag.options }

    let body: @Sendable (ProbeInput, JobContext) async throws -> ProbeOutput

    init(_ body: @escaping @Sendable (ProbeInput, JobContext) async throws -> ProbeOutput = { input, _ in
        ProbeOutput(doubled: input.value * 2)
    }) {
        self.body = body
    }

    func run(_ input: ProbeInput, context: JobContext) async throws -> ProbeOutput {
        try await body(input, context)
    }
}

/// Millisecond backoffs keep tests quick.
let quickBackoff = Backoff.fixed(.milliseconds(2))

enum Basic: ProbeTag {
    static let name = "basic"
    static var options: TaskOptions { TaskOptions(maxAttempts: 3, backoff: quickBackoff) }
}

enum Child: ProbeTag {
    static let name = "child"
    static var options: TaskOptions { TaskOptions(maxAttempts: 4, backoff: quickBackoff) }
}

/// A value shared between a test and its handlers.
final class Shared<Value: Sendable>: Sendable {
    private let storage: Mutex<Value>
    init(_ value: Value) { storage = Mutex(value) }
    func withLock<R: Sendable>(_ body: (inout Value) -> R) -> R { storage.withLock { body(&$0) } }
    var value: Value { storage.withLock { $0 } }
}

/// Tracks how many handlers run at once.
final class ConcurrencyMeter: Sendable {
    private let state = Mutex((current: 0, maximum: 0, total: 0))
    func enter() { state.withLock { $0.current += 1; $0.maximum = max($0.maximum, $0.current); $0.total += 1 } }
    func leave() { state.withLock { $0.current -= 1 } }
    var maximum: Int { state.withLock { $0.maximum } }
    var total: Int { state.withLock { $0.total } }
}

/// Reads a worker's event stream in the test's own task.
final class EventLog {
    private var iterator: AsyncStream<WorkerEvent>.Iterator
    private(set) var all: [WorkerEvent] = []

    init(_ stream: AsyncStream<WorkerEvent>) { iterator = stream.makeAsyncIterator() }

    /// Reads events until `done` holds for the events read so far; fails the test if the stream ends first.
    @discardableResult
    func wait(until done: ([WorkerEvent]) -> Bool, sourceLocation: SourceLocation = #_sourceLocation) async -> [WorkerEvent] {
        while !done(all) {
            guard let event = await iterator.next() else {
                Issue.record("the event stream ended before the expected events arrived: \(all)", sourceLocation: sourceLocation)
                return all
            }
            all.append(event)
        }
        return all
    }

    /// Reads every remaining event, until the stream finishes (the worker stopped).
    func drain() async -> [WorkerEvent] {
        while let event = await iterator.next() { all.append(event) }
        return all
    }

    /// Reads until `count` events of `kind` were seen.
    @discardableResult
    func wait(for kind: WorkerEvent.Kind, count: Int = 1, sourceLocation: SourceLocation = #_sourceLocation) async -> [WorkerEvent] {
        await wait(until: { $0.filter { $0.kind == kind }.count >= count }, sourceLocation: sourceLocation)
    }
}

extension Worker.Configuration {
    /// A configuration for tests: short long polls and grace period.
    static func test(
        concurrency: Int = 4,
        batchSize: Int = 10,
        shutdownGracePeriod: Duration = .seconds(5),
        clock: any Clock<Duration> = ContinuousClock()
    ) -> Self {
        Worker.Configuration(
            queues: ["default"],
            concurrency: concurrency,
            batchSize: batchSize,
            receiveWait: .seconds(2),
            shutdownGracePeriod: shutdownGracePeriod,
            clock: clock
        )
    }
}

/// Runs `worker` while `body` runs, then shuts it down gracefully and waits for it to stop.
@discardableResult
func withRunningWorker<R: Sendable>(
    _ worker: Worker,
    _ body: @Sendable () async throws -> R
) async throws -> R {
    try await withThrowingTaskGroup(of: Void.self) { group in
        group.addTask { try await worker.run() }
        do {
            let result = try await body()
            worker.triggerGracefulShutdown()
            try await group.waitForAll()
            return result
        } catch {
            worker.triggerGracefulShutdown()
            try? await group.waitForAll()
            throw error
        }
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "conveyor.tests")
    logger.logLevel = ProcessInfo.processInfo.environment["CONVEYOR_TEST_LOG"] != nil ? .trace : .critical
    return logger
}()

/// A deterministic random number generator (SplitMix64) for property tests and jitter samples.
struct SplitMix64: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// The memory provider, recording every message it is given to send, optionally reporting a maximum native delay
/// (like a broker with capped delays).
struct RecordingMemoryProvider: QueueProvider {
    let base = MemoryQueueProvider()
    let maximumNativeDelay: Duration?
    let sent = Shared<[OutgoingMessage]>([])
    /// When each receive that returned messages returned.
    let deliveries = Shared<[Date]>([])

    init(maximumNativeDelay: Duration? = nil) {
        self.maximumNativeDelay = maximumNativeDelay
    }

    /// How many messages were sent.
    var sends: Int { sent.value.count }
    /// The longest delay a message was sent with.
    var longestDelay: Duration { sent.value.map(\.delay).max() ?? .zero }
    /// The FIFO group of every message sent, in order.
    var groups: [String?] { sent.value.map(\.groupID) }

    var name: String { "recording-memory" }
    var capabilities: ProviderCapabilities {
        var capabilities = base.capabilities
        if let maximumNativeDelay { capabilities.maximumNativeDelay = maximumNativeDelay }
        return capabilities
    }
    func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
        sent.withLock { $0 += messages }
        return try await base.enqueue(messages, to: queue)
    }
    func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        let messages = try await base.receive(from: queue, max: max, wait: wait)
        if !messages.isEmpty { deliveries.withLock { $0.append(Date()) } }
        return messages
    }
    func acknowledge(_ messages: [ReceivedMessage]) async throws { try await base.acknowledge(messages) }
    func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
        try await base.fail(message, reason: reason, retryAfter: retryAfter)
    }
    func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {
        try await base.extendVisibility(message, by: duration)
    }
    func stats(of queue: String) async throws -> QueueStats { try await base.stats(of: queue) }
    func close() async throws { try await base.close() }
}
