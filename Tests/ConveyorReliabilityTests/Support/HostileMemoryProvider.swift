import Conveyor
import Foundation
import Synchronization

/// The memory provider, reporting absurd broker numbers (attempt, enqueue time) on the first receive of chosen
/// jobs, as a broker with hostile properties would: the in-process counterpart of the raw AMQP and SQS publishes.
struct HostileMemoryProvider: QueueProvider {
    /// What to report instead of the provider's own numbers, by job id; each is used once.
    struct Override: Sendable {
        var attempt: Int?
        var enqueuedAt: Date??
    }

    /// The overrides not used yet.
    final class Store: Sendable {
        let pending: Mutex<[String: Override]>
        init(_ overrides: [String: Override]) { pending = Mutex(overrides) }
    }

    let base: MemoryQueueProvider
    let overrides: Store

    init(base: MemoryQueueProvider, overrides: [String: Override]) {
        self.base = base
        self.overrides = Store(overrides)
    }

    var name: String { "hostile-memory" }
    var capabilities: ProviderCapabilities { base.capabilities }

    func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
        try await base.enqueue(messages, to: queue)
    }

    func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        try await base.receive(from: queue, max: max, wait: wait).map { message in
            guard let id = try? message.envelope.get().id.rawValue,
                let override = overrides.pending.withLock({ $0.removeValue(forKey: id) })
            else { return message }
            var changed = message
            if let attempt = override.attempt { changed.attempt = attempt }
            if let enqueuedAt = override.enqueuedAt { changed.enqueuedAt = enqueuedAt }
            return changed
        }
    }

    func acknowledge(_ messages: [ReceivedMessage]) async throws { try await base.acknowledge(messages) }

    func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
        try await base.fail(message, reason: reason, retryAfter: retryAfter)
    }

    func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {
        try await base.extendVisibility(message, by: duration)
    }

    func stats(of queue: String) async throws -> QueueStats { try await base.stats(of: queue) }

    func visibilityTimeout(of queue: String) async throws -> Duration? { try await base.visibilityTimeout(of: queue) }

    func close() async throws { try await base.close() }
}
