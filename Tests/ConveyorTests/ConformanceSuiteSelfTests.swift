import Conveyor
import ConveyorTesting
import Foundation
import Synchronization
import Testing

/// A memory provider with one deliberate defect, to check that the conformance suite notices it.
final class DefectiveProvider: QueueProvider, DeadLetterQueueProvider, QueueProvisioningProvider {
    enum Defect: String, CaseIterable, Sendable {
        /// Acknowledge does nothing: messages come back after their visibility timeout.
        case ackIgnored
        /// Receive never waits: it returns at once, empty-handed, when nothing is ready.
        case noLongPoll
        /// Priorities are ignored: FIFO only.
        case noPriorities
        /// fail(retryAfter:) redelivers at once.
        case retryWithoutDelay
        /// Delayed messages are delivered at once.
        case delayIgnored
        /// Redelivered messages keep attempt 1.
        case attemptNotCounted
    }

    let base = MemoryQueueProvider()
    let defect: Defect

    init(_ defect: Defect) { self.defect = defect }

    var name: String { "defective-\(defect.rawValue)" }
    var capabilities: ProviderCapabilities { base.capabilities }

    func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
        var messages = messages
        switch defect {
        case .noPriorities:
            for i in messages.indices { messages[i].envelope.priority = 0 }
        case .delayIgnored:
            for i in messages.indices { messages[i].delay = .zero }
        default: break
        }
        return try await base.enqueue(messages, to: queue)
    }

    func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        var messages = try await base.receive(from: queue, max: max, wait: defect == .noLongPoll ? .zero : wait)
        if defect == .attemptNotCounted {
            for i in messages.indices { messages[i].attempt = 1 }
        }
        return messages
    }

    func acknowledge(_ messages: [ReceivedMessage]) async throws {
        if defect != .ackIgnored { try await base.acknowledge(messages) }
    }

    func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
        try await base.fail(message, reason: reason, retryAfter: defect == .retryWithoutDelay ? retryAfter.map { _ in .zero } : retryAfter)
    }

    func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws {
        try await base.extendVisibility(message, by: duration)
    }

    func stats(of queue: String) async throws -> QueueStats { try await base.stats(of: queue) }
    func close() async throws { try await base.close() }
    func deadLetters(of queue: String, limit: Int) async throws -> [DeadLetter] { try await base.deadLetters(of: queue, limit: limit) }
    func redrive(_ queue: String, ids: Set<JobID>?) async throws -> Int { try await base.redrive(queue, ids: ids) }
    func purgeDeadLetters(of queue: String) async throws -> Int { try await base.purgeDeadLetters(of: queue) }
    func createQueue(_ queue: String, options: QueueOptions) async throws { try await base.createQueue(queue, options: options) }
    func deleteQueue(_ queue: String) async throws { try await base.deleteQueue(queue) }
}

@Suite("Conformance suite catches defects")
struct ConformanceSuiteSelfTests {
    /// Each defect and a case that must fail because of it.
    static let expectations: [(DefectiveProvider.Defect, String)] = [
        (.ackIgnored, "acknowledge is final"),
        (.noLongPoll, "receive wakes when a message arrives"),
        (.noPriorities, "priority order"),
        (.retryWithoutDelay, "fail with retryAfter redelivers later"),
        (.delayIgnored, "delayed enqueue"),
        (.attemptNotCounted, "redelivery after visibility timeout"),
    ]

    @Test(arguments: expectations.map { "\($0.0.rawValue) → \($0.1)" })
    func defectIsCaught(_ label: String) async throws {
        let (defect, caseName) = Self.expectations.first { "\($0.0.rawValue) → \($0.1)" == label }!
        let conformanceCase = try #require(ProviderConformance.cases.first { $0.name == caseName })
        let harness = ConformanceHarness.provisioning(DefectiveProvider(defect))
        await #expect(throws: ConformanceFailure.self) { try await conformanceCase.run(harness) }
    }

    @Test func queuesAreRemovedAfterAFailure() async throws {
        let provider = DefectiveProvider(.noPriorities)
        let removed = RemovedQueues()
        let harness = ConformanceHarness(
            provider: provider,
            makeQueue: { hint in
                let name = TestQueueNames.unique(hint)
                try await provider.createQueue(name, options: QueueOptions())
                return name
            },
            removeQueue: { queue in
                removed.add(queue)
                try await provider.deleteQueue(queue)
            }
        )
        let conformanceCase = try #require(ProviderConformance.cases.first { $0.name == "priority order" })
        await #expect(throws: ConformanceFailure.self) { try await conformanceCase.run(harness) }
        #expect(removed.names.count == 1)
        #expect(removed.names.first?.hasPrefix("t-priority-") == true)
    }
}

private final class RemovedQueues: Sendable {
    private let storage = Mutex<[String]>([])
    func add(_ name: String) { storage.withLock { $0.append(name) } }
    var names: [String] { storage.withLock { $0 } }
}
