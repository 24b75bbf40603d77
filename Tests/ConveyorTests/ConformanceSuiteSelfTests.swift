import Conveyor
import ConveyorTesting
import Foundation
import Synchronization
import Testing

/// A memory provider with one deliberate defect, to check that the conformance suite notices it.
final class DefectiveProvider: QueueProvider, DeadLetterQueueProvider, QueueProvisioningProvider, ReleasingQueueProvider, ReplyingProvider {
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
        /// Release counts an attempt (it fails the message with no delay) while `releaseCountsAsAttempt` says it
        /// does not.
        case releaseCounted
        /// Replies other than final outcomes (started, progress, retrying) are dropped.
        case eventsDropped
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

    var releaseCountsAsAttempt: Bool { base.releaseCountsAsAttempt }

    func release(_ messages: [ReceivedMessage]) async throws {
        guard defect == .releaseCounted else { return try await base.release(messages) }
        for message in messages {
            try await base.fail(message, reason: FailureReason(code: "released", message: "released"), retryAfter: .zero)
        }
    }

    func stats(of queue: String) async throws -> QueueStats { try await base.stats(of: queue) }
    func close() async throws { try await base.close() }
    func deadLetters(of queue: String, limit: Int) async throws -> [DeadLetter] { try await base.deadLetters(of: queue, limit: limit) }
    func redrive(_ queue: String, ids: Set<JobID>?) async throws -> Int { try await base.redrive(queue, ids: ids) }
    func purgeDeadLetters(of queue: String) async throws -> Int { try await base.purgeDeadLetters(of: queue) }
    func createQueue(_ queue: String, options: QueueOptions) async throws { try await base.createQueue(queue, options: options) }
    func deleteQueue(_ queue: String) async throws { try await base.deleteQueue(queue) }
    func createReplyQueue(named name: String) async throws -> String { try await base.createReplyQueue(named: name) }
    func deleteReplyQueue(_ address: String) async throws { try await base.deleteReplyQueue(address) }

    func sendReply(_ message: OutgoingMessage, to address: String) async throws {
        if defect == .eventsDropped, let event = try? JobEvent(json: message.envelope.payload), !event.kind.isFinal { return }
        try await base.sendReply(message, to: address)
    }
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
        (.releaseCounted, "release hands a message back with the declared attempt"),
        (.eventsDropped, "results: one result after retries, progress from each attempt"),
    ]

    @Test(arguments: expectations.map { "\($0.0.rawValue) → \($0.1)" })
    func defectIsCaught(_ label: String) async throws {
        let (defect, caseName) = Self.expectations.first { "\($0.0.rawValue) → \($0.1)" == label }!
        let conformanceCase = try #require(ProviderConformance.cases.first { $0.name == caseName })
        let harness = ConformanceHarness.provisioning(DefectiveProvider(defect))
        await #expect(throws: ConformanceFailure.self) { _ = try await conformanceCase.run(harness) }
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
        await #expect(throws: ConformanceFailure.self) { _ = try await conformanceCase.run(harness) }
        #expect(removed.names.count == 1)
        #expect(removed.names.first?.hasPrefix("t-priority-") == true)
    }

    /// A provider without priorities, visibility timeouts, deduplication, a dead-letter queue, release or replies, on a harness that
    /// cannot make a second provider: the cases that need those report themselves not applicable, with the
    /// reason, check nothing (no queue is made for them), and the rest run.
    @Test func casesAProviderCannotSupportAreReportedNotApplicable() async throws {
        let provider = LimitedProvider()
        let made = RemovedQueues()
        let harness = ConformanceHarness(
            provider: provider,
            makeQueue: { hint in
                let name = TestQueueNames.unique(hint)
                made.add(name)
                try await provider.createQueue(name, options: QueueOptions())
                return name
            },
            removeQueue: { queue in try await provider.deleteQueue(queue) }
        )
        let report = try await ProviderConformance.run(harness)
        let expected = [
            "redelivery after visibility timeout": "capabilities.visibilityTimeout is false",
            "priority order": "capabilities.priorities is false",
            "deduplication": "capabilities.deduplication is false",
            "dead letters keep the job, reason and attempt": "the provider is not a DeadLetterQueueProvider",
            "redrive from the dead-letter queue": "the provider is not a DeadLetterQueueProvider",
            "dead-letter after max attempts": "the provider is not a DeadLetterQueueProvider",
            "release hands a message back with the declared attempt": "the provider is not a ReleasingQueueProvider",
            "close": "the harness has no makeProvider to make a provider to close",
            "results: one result after retries, progress from each attempt": "the provider is not a ReplyingProvider",
            "results: a dead-lettered job gives a typed failure": "the provider is not a ReplyingProvider",
            "results: two producers each get their own": "the provider is not a ReplyingProvider",
            "results: 1,000 concurrent awaits resolve": "the provider is not a ReplyingProvider",
            "results: a reply queue that is gone does not stop the job": "the provider is not a ReplyingProvider",
            "events: an observer sees the events of jobs it did not enqueue": "the provider is not an EventBroadcastingProvider",
            "pause: a paused queue's jobs wait until it is resumed": "the provider is not a PausingProvider",
            "cancel: waiting, delayed and running jobs end cancelled, not retried nor dead-lettered": "the provider is not a CancellingProvider",
        ]
        #expect(report.notApplicable == expected)
        #expect(report.ran == ProviderConformance.cases.map(\.name).filter { expected[$0] == nil })
        #expect(made.names.count == report.ran.count, "a case that does not apply made a queue: \(made.names)")
        #expect(report.description.contains("not applicable: priority order (capabilities.priorities is false)"))
    }

    @Test func everyCaseRunsOnTheMemoryProvider() async throws {
        let report = try await ProviderConformance.run(.provisioning(MemoryQueueProvider(), makeProvider: { MemoryQueueProvider() }))
        #expect(report.ran == ProviderConformance.cases.map(\.name))
        #expect(report.notApplicable.isEmpty)
    }

    /// The runner throws one failure that names every failed case, and only those.
    @Test func theRunnerNamesEveryFailedCase() async throws {
        let names = ["delayed enqueue", "round trip", "empty receive returns after the wait"]
        let cases = ProviderConformance.cases.filter { names.contains($0.name) }
        try #require(cases.count == names.count)
        let harness = ConformanceHarness.provisioning(DefectiveProvider(.delayIgnored))
        do {
            let report = try await ProviderConformance.run(harness, cases: cases)
            Issue.record("the runner passed a provider that ignores delays: \(report)")
        } catch let failure as ConformanceFailure {
            #expect(failure.message.hasPrefix("1 of 3 conformance case(s) failed:"), "\(failure)")
            #expect(failure.message.contains("- delayed enqueue: "), "\(failure)")
            #expect(!failure.message.contains("round trip"), "\(failure)")
        }
    }
}

/// A memory provider that claims no optional capability and adopts no optional protocol but provisioning (so not
/// ``ReleasingQueueProvider`` either).
final class LimitedProvider: QueueProvider, QueueProvisioningProvider {
    let base = MemoryQueueProvider()

    var name: String { "limited" }
    var capabilities: ProviderCapabilities {
        ProviderCapabilities(priorities: false, visibilityTimeout: false, maximumNativeDelay: nil, deduplication: false, maximumMessageBytes: nil)
    }

    func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] { try await base.enqueue(messages, to: queue) }
    func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        try await base.receive(from: queue, max: max, wait: wait)
    }
    func acknowledge(_ messages: [ReceivedMessage]) async throws { try await base.acknowledge(messages) }
    func fail(_ message: ReceivedMessage, reason: FailureReason, retryAfter: Duration?) async throws {
        try await base.fail(message, reason: reason, retryAfter: retryAfter)
    }
    func extendVisibility(_ message: ReceivedMessage, by duration: Duration) async throws { try await base.extendVisibility(message, by: duration) }
    func stats(of queue: String) async throws -> QueueStats { try await base.stats(of: queue) }
    func close() async throws { try await base.close() }
    func createQueue(_ queue: String, options: QueueOptions) async throws { try await base.createQueue(queue, options: options) }
    func deleteQueue(_ queue: String) async throws { try await base.deleteQueue(queue) }
}

private final class RemovedQueues: Sendable {
    private let storage = Mutex<[String]>([])
    func add(_ name: String) { storage.withLock { $0.append(name) } }
    var names: [String] { storage.withLock { $0 } }
}
