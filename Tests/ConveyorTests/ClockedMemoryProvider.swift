import Clocks
import Conveyor
import Foundation
import Synchronization

/// The memory provider on a `TestClock`, which moves only when a test advances it, and which knows (in the test
/// clock's time) when each received message's visibility ends. ``advance(until:step:limit:)`` moves the clock
/// in steps, each only once every message it received is visible past the step (or acknowledged): so a heartbeat
/// that is due gets sent before its deadline passes, however slowly the machine runs. Heartbeats that are never
/// sent are waited for up to 2 s of real time in all, and then the clock goes on: the message's visibility lapses
/// and it is delivered again, which the test sees.
final class ClockedMemoryProvider: QueueProvider {
    let clock = TestClock<Duration>()
    let base: MemoryQueueProvider
    private let visibility: Duration
    private let invisibleUntil = Mutex<[String: TestClock<Duration>.Instant]>([:])

    /// Runs before every visibility extension (a test may hold some of them back).
    private let beforeExtending: @Sendable ([ReceivedMessage]) async -> Void

    init(visibilityTimeout: Duration, beforeExtending: @escaping @Sendable ([ReceivedMessage]) async -> Void = { _ in }) {
        visibility = visibilityTimeout
        self.beforeExtending = beforeExtending
        base = MemoryQueueProvider(configuration: .init(visibilityTimeout: visibilityTimeout, clock: clock))
    }

    /// Advances the clock by `step` until `done()` holds or `limit` has passed on it; returns whether `done()` held.
    /// Only messages of `watched` queues (all when nil) are waited for.
    func advance(
        until done: () -> Bool, step: Duration = .milliseconds(100), limit: Duration = .seconds(120), watched: Set<String>? = nil
    ) async -> Bool {
        let end = clock.now.advanced(by: limit)
        // Real time spent waiting for heartbeats, over the whole call: once it is used up (heartbeats are not
        // being sent), the clock goes on without waiting.
        var patience = Duration.seconds(2)
        while !done() {
            guard clock.now < end else { return false }
            let next = clock.now.advanced(by: step)
            while patience > .zero, invisibleUntil.withLock({ map in
                map.contains { key, until in until <= next && watched.map { $0.contains(Self.queue(of: key)) } ?? true }
            }) {
                try? await Task.sleep(for: .milliseconds(1))
                patience -= .milliseconds(1)
            }
            await clock.advance(by: step)
        }
        return true
    }

    private static func key(_ message: ReceivedMessage) -> String {
        message.queue + "\n" + String(reflecting: message.receipt)
    }

    private static func queue(of key: String) -> String {
        String(key.prefix { $0 != "\n" })
    }

    private func settled(_ messages: [ReceivedMessage]) {
        invisibleUntil.withLock { map in for message in messages { map[Self.key(message)] = nil } }
    }

    var name: String { "clocked-memory" }
    var capabilities: ProviderCapabilities { base.capabilities }
    func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
        try await base.enqueue(messages, to: queue)
    }
    func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        let messages = try await base.receive(from: queue, max: max, wait: wait)
        let until = clock.now.advanced(by: visibility)
        invisibleUntil.withLock { map in for message in messages { map[Self.key(message)] = until } }
        return messages
    }
    func acknowledge(_ messages: [ReceivedMessage]) async throws {
        try await base.acknowledge(messages)
        settled(messages)
    }
    func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
        try await base.fail(message, reason: reason, retryAfter: retryAfter)
        settled([message])
    }
    func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {
        try await extendVisibility([message], by: duration)
    }
    func extendVisibility(_ messages: [ReceivedMessage], by duration: Duration) async throws {
        await beforeExtending(messages)
        let until = clock.now.advanced(by: duration)
        try await base.extendVisibility(messages, by: duration)
        invisibleUntil.withLock { map in
            for message in messages where map[Self.key(message)] != nil { map[Self.key(message)] = until }
        }
    }
    func visibilityTimeout(of queue: String) async throws -> Duration? { visibility }
    func stats(of queue: String) async throws -> QueueStats { try await base.stats(of: queue) }
    func close() async throws { try await base.close() }
}

/// Calendar time that follows `clock`: `start` at the clock's current instant, moving as the clock is advanced
/// (for ``JobScheduler/Configuration/now``).
func calendar(of clock: TestClock<Duration>, from start: Date) -> @Sendable () -> Date {
    let origin = clock.now
    return {
        let elapsed = origin.duration(to: clock.now)
        return start.addingTimeInterval(Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18)
    }
}
