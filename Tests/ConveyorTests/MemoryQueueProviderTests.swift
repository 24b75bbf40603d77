import Conveyor
import Foundation
import Synchronization
import Testing

private func envelope(
    _ task: String = "test.task",
    payload: String = #"{"n":1}"#,
    priority: Int = 0,
    dedup: String? = nil,
    attemptOffset: Int = 0
) -> Envelope {
    Envelope(task: task, payload: Array(payload.utf8), deduplicationKey: dedup, priority: priority, attemptOffset: attemptOffset)
}

private func jobID(_ message: ReceivedMessage) -> JobID? {
    try? message.envelope.get().id
}

private func expectClosed(_ body: () async throws -> Void, sourceLocation: SourceLocation = #_sourceLocation) async {
    do {
        try await body()
        Issue.record("expected ConveyorError.closed", sourceLocation: sourceLocation)
    } catch let error as ConveyorError {
        #expect(error.code == .closed, sourceLocation: sourceLocation)
    } catch {
        Issue.record("unexpected error \(error)", sourceLocation: sourceLocation)
    }
}

/// A receive of `queue` waiting far longer than any test runs (600 s), started now.
private func waitingReceive(_ provider: MemoryQueueProvider, _ queue: String = "q", max: Int = 1) -> Task<[ReceivedMessage], any Error> {
    Task { try await provider.receive(from: queue, max: max, wait: .seconds(600)) }
}

/// The time limit fails a test within a minute when a wake-up under test never comes: every receive expected to
/// be woken waits 600 s (``waitingReceive(_:_:max:)``), and ``woken(_:_:sourceLocation:)`` gives up on it after 20 s.
@Suite("Memory provider", .timeLimit(.minutes(1)))
struct MemoryQueueProviderTests {
    @Test func roundTripKeepsTheEnvelope() async throws {
        let provider = MemoryQueueProvider()
        let sent = envelope(payload: #"{"a": [1, 2.5], "s": "é"}"#)
        let result = try await provider.enqueue(OutgoingMessage(envelope: sent), to: "q")
        #expect(result.jobID == sent.id)
        #expect(!result.deduplicated)
        let received = try await provider.receive(from: "q", max: 10, wait: .zero)
        #expect(received.count == 1)
        #expect(try received.first?.envelope.get() == sent)
        #expect(received.first?.attempt == 1)
        #expect(received.first?.rawBody == nil)
        #expect(received.first?.queue == "q")
        try await provider.acknowledge(received)
        #expect(try await provider.stats(of: "q") == QueueStats())
    }

    @Test func attemptIncludesTheEnvelopeOffset() async throws {
        let provider = MemoryQueueProvider()
        try await provider.enqueue(OutgoingMessage(envelope: envelope(attemptOffset: 3)), to: "q")
        let received = try await provider.receive(from: "q", max: 1, wait: .zero)
        #expect(received.first?.attempt == 4)
    }

    @Test func receiveRejectsANonPositiveMax() async throws {
        let provider = MemoryQueueProvider()
        await #expect(throws: ConveyorError.self) { try await provider.receive(from: "q", max: 0, wait: .zero) }
    }

    @Test func waitingReceiveWakesOnEnqueue() async throws {
        let provider = MemoryQueueProvider()
        let receiver = waitingReceive(provider, max: 5)
        try await Task.sleep(for: .milliseconds(50))
        let sent = envelope()
        try await provider.enqueue(OutgoingMessage(envelope: sent), to: "q")
        let received = try await woken(receiver, "the enqueue did not wake the waiting receive")
        #expect(received.map(jobID) == [sent.id])
    }

    @Test func waitingReceiveWakesWhenADelayedMessageBecomesDue() async throws {
        let provider = MemoryQueueProvider()
        let sent = envelope()
        try await provider.enqueue(OutgoingMessage(envelope: sent, delay: .seconds(1)), to: "q")
        #expect(try await provider.stats(of: "q") == QueueStats(delayed: 1))
        #expect(try await provider.receive(from: "q", max: 1, wait: .zero).isEmpty)
        let received = try await woken(waitingReceive(provider), "the delayed message falling due did not wake the receive")
        #expect(received.map(jobID) == [sent.id])
    }

    @Test func aWaiterIsWokenByAnEarlierDelayedMessageThanItsTimer() async throws {
        let provider = MemoryQueueProvider()
        // The first waiter arms the queue's timer for a far deadline; a later, shorter delay must re-arm it.
        try await provider.enqueue(OutgoingMessage(envelope: envelope(), delay: .seconds(600)), to: "q")
        let receiver = waitingReceive(provider)
        try await Task.sleep(for: .milliseconds(50))
        let soon = envelope()
        try await provider.enqueue(OutgoingMessage(envelope: soon, delay: .milliseconds(100)), to: "q")
        #expect(try await woken(receiver, "the timer was not re-armed for the earlier message").map(jobID) == [soon.id])
    }

    @Test func emptyReceiveReturnsAfterTheWait() async throws {
        let provider = MemoryQueueProvider()
        let received = try await provider.receive(from: "q", max: 1, wait: .milliseconds(100))
        #expect(received.isEmpty)
    }

    @Test func priorityThenFIFO() async throws {
        let provider = MemoryQueueProvider()
        let envelopes = [0, 5, 9, 1, 9, 5].map { envelope(priority: $0) }
        _ = try await provider.enqueue(envelopes.map { OutgoingMessage(envelope: $0) }, to: "q")
        let received = try await provider.receive(from: "q", max: 10, wait: .zero)
        let expected = [envelopes[2], envelopes[4], envelopes[1], envelopes[5], envelopes[3], envelopes[0]].map(\.id)
        #expect(received.map(jobID) == expected)
    }

    @Test func redeliveryAfterVisibilityTimeout() async throws {
        let provider = MemoryQueueProvider(configuration: .init(visibilityTimeout: .seconds(1)))
        let sent = envelope()
        try await provider.enqueue(OutgoingMessage(envelope: sent), to: "q")
        let first = try await provider.receive(from: "q", max: 1, wait: .zero)
        #expect(first.first?.attempt == 1)
        #expect(try await provider.stats(of: "q").inFlight == 1)
        let second = try await woken(waitingReceive(provider), "the visibility timeout did not wake the receive")
        #expect(second.map(jobID) == [sent.id])
        #expect(second.first?.attempt == 2)
        // Keep the second delivery in flight however slow this machine is.
        try await provider.extendVisibility(second[0], by: .seconds(600))
        // The stale receipt is ignored; the current one still settles the message.
        try await provider.acknowledge(first)
        #expect(try await provider.stats(of: "q").inFlight == 1)
        try await provider.acknowledge(second)
        #expect(try await provider.stats(of: "q") == QueueStats())
    }

    @Test func extendVisibilityToZeroMakesTheMessageVisibleAtOnce() async throws {
        let provider = MemoryQueueProvider()
        try await provider.enqueue(OutgoingMessage(envelope: envelope()), to: "q")
        let first = try await provider.receive(from: "q", max: 1, wait: .zero)
        let waiting = waitingReceive(provider)
        try await Task.sleep(for: .milliseconds(50))
        try await provider.extendVisibility(first[0], by: .zero)
        let second = try await woken(waiting, "extendVisibility(by: .zero) did not wake the receive")
        #expect(second.first?.attempt == 2)
    }

    @Test func extendVisibilityKeepsTheMessageInvisible() async throws {
        let provider = MemoryQueueProvider(configuration: .init(visibilityTimeout: .seconds(1)))
        try await provider.enqueue(OutgoingMessage(envelope: envelope()), to: "q")
        let first = try await provider.receive(from: "q", max: 1, wait: .zero)
        try await provider.extendVisibility(first[0], by: .seconds(600))
        #expect(try await provider.receive(from: "q", max: 1, wait: .milliseconds(1_500)).isEmpty)
        #expect(try await provider.stats(of: "q").inFlight == 1)
    }

    @Test func failWithRetryAfterRedeliversLater() async throws {
        let provider = MemoryQueueProvider()
        try await provider.enqueue(OutgoingMessage(envelope: envelope()), to: "q")
        let first = try await provider.receive(from: "q", max: 1, wait: .zero)
        try await provider.fail(first[0], reason: FailureReason(code: "task_error", message: "boom"), retryAfter: .seconds(1))
        #expect(try await provider.receive(from: "q", max: 1, wait: .zero).isEmpty)
        #expect(try await provider.stats(of: "q") == QueueStats(delayed: 1))
        let second = try await woken(waitingReceive(provider), "the retry falling due did not wake the receive")
        #expect(second.first?.attempt == 2)
        // Failing with a stale receipt is ignored.
        try await provider.fail(first[0], reason: FailureReason(code: "task_error", message: "boom"), retryAfter: nil)
        #expect(try await provider.stats(of: "q") == QueueStats(inFlight: 1))
    }

    @Test func failWithoutRetryDeadLettersAndRedriveResetsAttempts() async throws {
        let provider = MemoryQueueProvider()
        let sent = envelope(attemptOffset: 2)
        try await provider.enqueue(OutgoingMessage(envelope: sent), to: "q")
        let first = try await provider.receive(from: "q", max: 1, wait: .zero)
        #expect(first.first?.attempt == 3)
        let reason = FailureReason(code: "task_error", message: "poison")
        try await provider.fail(first[0], reason: reason, retryAfter: nil)
        #expect(try await provider.stats(of: "q") == QueueStats(deadLettered: 1))
        let dead = try await provider.deadLetters(of: "q", limit: 10)
        #expect(dead.count == 1)
        #expect(dead.first?.reason == reason)
        #expect(dead.first?.attempts == 3)
        #expect(try dead.first?.envelope.get().id == sent.id)
        #expect(try await provider.redrive("q", ids: nil) == 1)
        let again = try await provider.receive(from: "q", max: 1, wait: .zero)
        #expect(again.map(jobID) == [sent.id])
        #expect(again.first?.attempt == 1)
        #expect(try await provider.stats(of: "q").deadLettered == 0)
    }

    @Test func deadLettersHonoursTheLimitAndKeepsOrder() async throws {
        let provider = MemoryQueueProvider()
        let sent = (0..<5).map { _ in envelope() }
        _ = try await provider.enqueue(sent.map { OutgoingMessage(envelope: $0) }, to: "q")
        for message in try await provider.receive(from: "q", max: 10, wait: .zero) {
            try await provider.fail(message, reason: FailureReason(code: "x", message: "y"), retryAfter: nil)
        }
        let listed = try await provider.deadLetters(of: "q", limit: 3)
        #expect(listed.map { try? $0.envelope.get().id } == sent.prefix(3).map(\.id))
        #expect(try await provider.deadLetters(of: "q", limit: 0).isEmpty)
        #expect(try await provider.deadLetters(of: "unknown", limit: 10).isEmpty)
    }

    @Test func staleReceiptsAreIgnoredEverywhere() async throws {
        let provider = MemoryQueueProvider()
        try await provider.enqueue(OutgoingMessage(envelope: envelope()), to: "q")
        let first = try await provider.receive(from: "q", max: 1, wait: .zero)
        try await provider.extendVisibility(first[0], by: .zero)  // visible again at once
        let second = try await woken(waitingReceive(provider), "the message made visible again was not received")
        #expect(second.first?.attempt == 2)
        try await provider.extendVisibility(first[0], by: .zero)
        try await provider.fail(first[0], reason: FailureReason(code: "x", message: "y"), retryAfter: .zero)
        try await provider.acknowledge(first)
        #expect(try await provider.stats(of: "q") == QueueStats(inFlight: 1))
        // A receipt from another provider instance is not this provider's.
        let other = MemoryQueueProvider()
        try await other.enqueue(OutgoingMessage(envelope: envelope()), to: "q")
        let foreign = try await other.receive(from: "q", max: 1, wait: .zero)
        try await provider.acknowledge(foreign)
        #expect(try await provider.stats(of: "q") == QueueStats(inFlight: 1))
        try await provider.acknowledge(second)
        #expect(try await provider.stats(of: "q") == QueueStats())
    }

    @Test func absurdDurationsAreClampedNotACrash() async throws {
        let provider = MemoryQueueProvider(configuration: .init(visibilityTimeout: .seconds(Int64.max)))
        try await provider.enqueue(OutgoingMessage(envelope: envelope(), delay: .seconds(Int64.max)), to: "q")
        try await provider.enqueue(OutgoingMessage(envelope: envelope()), to: "q")
        let received = try await provider.receive(from: "q", max: 1, wait: .seconds(Int64.max))
        try await provider.extendVisibility(received[0], by: .seconds(Int64.max))
        #expect(try await provider.stats(of: "q") == QueueStats(inFlight: 1, delayed: 1))
        let waiting = Task { try await provider.receive(from: "q", max: 1, wait: .seconds(Int64.max)) }
        try await Task.sleep(for: .milliseconds(50))
        waiting.cancel()
        #expect(try await woken(waiting, "cancelling did not end a wait of Int64.max seconds").isEmpty)
    }

    @Test func emptyEnqueueReturnsNoResults() async throws {
        let provider = MemoryQueueProvider()
        #expect(try await provider.enqueue([], to: "q").isEmpty)
    }

    @Test func redriveByIDAndPurge() async throws {
        let provider = MemoryQueueProvider()
        let a = envelope(), b = envelope()
        _ = try await provider.enqueue([OutgoingMessage(envelope: a), OutgoingMessage(envelope: b)], to: "q")
        for message in try await provider.receive(from: "q", max: 10, wait: .zero) {
            try await provider.fail(message, reason: FailureReason(code: "x", message: "y"), retryAfter: nil)
        }
        #expect(try await provider.redrive("q", ids: [b.id]) == 1)
        #expect(try await provider.deadLetters(of: "q", limit: 10).map { try? $0.envelope.get().id } == [a.id])
        #expect(try await provider.purgeDeadLetters(of: "q") == 1)
        #expect(try await provider.stats(of: "q") == QueueStats(ready: 1))
    }

    @Test func maxReceiveCountDeadLettersOnTheBrokerSide() async throws {
        let provider = MemoryQueueProvider(configuration: .init(visibilityTimeout: .milliseconds(50), maxReceiveCount: 2))
        let sent = envelope()
        try await provider.enqueue(OutgoingMessage(envelope: sent), to: "q")
        let first = try await woken(waitingReceive(provider), "the enqueued message was not received")
        #expect(first.first?.attempt == 1)
        let second = try await woken(waitingReceive(provider), "the visibility timeout did not wake the receive")
        #expect(second.first?.attempt == 2)
        // The third delivery would exceed the limit: the message goes to the dead-letter queue instead.
        try await Task.sleep(for: .milliseconds(100))
        let third = try await provider.receive(from: "q", max: 1, wait: .zero)
        #expect(third.isEmpty)
        let dead = try await provider.deadLetters(of: "q", limit: 10)
        #expect(dead.count == 1)
        #expect(dead.first?.reason.code == "max_receive_count_exceeded")
        #expect(dead.first?.attempts == 2)
        #expect(try await provider.stats(of: "q") == QueueStats(deadLettered: 1))
    }

    @Test func createQueueOptionsOverrideTheConfiguration() async throws {
        let provider = MemoryQueueProvider(configuration: .init(autoCreateQueues: false))
        do {
            _ = try await provider.receive(from: "missing", max: 1, wait: .zero)
            Issue.record("expected queueNotFound")
        } catch let error as ConveyorError {
            #expect(error.code == .queueNotFound)
        }
        try await provider.createQueue("q", options: QueueOptions(maxReceiveCount: 1, visibilityTimeout: .milliseconds(50)))
        try await provider.createQueue("q", options: QueueOptions())  // idempotent: keeps the first options
        try await provider.enqueue(OutgoingMessage(envelope: envelope()), to: "q")
        #expect(try await provider.receive(from: "q", max: 1, wait: .zero).count == 1)
        try await Task.sleep(for: .milliseconds(100))
        #expect(try await provider.receive(from: "q", max: 1, wait: .zero).isEmpty)
        #expect(try await provider.stats(of: "q").deadLettered == 1)
        try await provider.deleteQueue("q")
        try await provider.deleteQueue("q")
        await #expect(throws: ConveyorError.self) { try await provider.stats(of: "q") }
    }

    @Test func deleteQueueWakesItsReceivers() async throws {
        let provider = MemoryQueueProvider()
        try await provider.createQueue("q", options: QueueOptions())
        let receiver = waitingReceive(provider)
        try await Task.sleep(for: .milliseconds(50))
        try await provider.deleteQueue("q")
        #expect(try await woken(receiver, "deleteQueue did not wake its receiver").isEmpty)
    }

    @Test func deduplicationWithinTheWindowAndAfterIt() async throws {
        let provider = MemoryQueueProvider(configuration: .init(deduplicationWindow: .seconds(1)))
        let a = envelope(dedup: "k"), b = envelope(dedup: "k"), c = envelope(dedup: "k")
        let results = try await provider.enqueue([OutgoingMessage(envelope: a), OutgoingMessage(envelope: b)], to: "q")
        #expect(results.map(\.deduplicated) == [false, true])
        #expect(results.map(\.jobID) == [a.id, b.id])
        // Consuming the message does not forget the key.
        try await provider.acknowledge(try await provider.receive(from: "q", max: 10, wait: .zero))
        #expect(try await provider.enqueue(OutgoingMessage(envelope: b), to: "q").deduplicated)
        // Another queue has its own keys.
        #expect(try await !provider.enqueue(OutgoingMessage(envelope: b), to: "other").deduplicated)
        try await Task.sleep(for: .milliseconds(1_200))
        #expect(try await !provider.enqueue(OutgoingMessage(envelope: c), to: "q").deduplicated)
        #expect(try await provider.receive(from: "q", max: 10, wait: .zero).map(jobID) == [c.id])
    }

    @Test func cancellingAWaitingReceiveReturnsPromptly() async throws {
        let provider = MemoryQueueProvider()
        let receiver = waitingReceive(provider)
        try await Task.sleep(for: .milliseconds(50))
        receiver.cancel()
        let received = try await woken(receiver, "cancelling did not end the waiting receive")
        #expect(received.isEmpty)
        // A message enqueued afterwards is not handed to the cancelled receiver.
        try await provider.enqueue(OutgoingMessage(envelope: envelope()), to: "q")
        #expect(try await provider.stats(of: "q").ready == 1)
    }

    @Test func receiveInAnAlreadyCancelledTaskDoesNotWait() async throws {
        let provider = MemoryQueueProvider()
        let receiver = Task {
            withUnsafeCurrentTask { $0?.cancel() }
            return try await provider.receive(from: "q", max: 1, wait: .seconds(600))
        }
        #expect(try await woken(receiver, "a receive in a cancelled task waited").isEmpty)
    }

    @Test func closeWakesReceiversAndLaterCallsThrowClosed() async throws {
        let provider = MemoryQueueProvider()
        let receivers = (0..<3).map { i in waitingReceive(provider, "q\(i % 2)") }
        try await Task.sleep(for: .milliseconds(50))
        try await provider.close()
        let all = Task {
            var results: [Result<[ReceivedMessage], any Error>] = []
            for receiver in receivers { results.append(await receiver.result) }
            return results
        }
        let results = try await woken(all, "close did not wake every waiting receive")
        #expect(results.count == receivers.count)
        for result in results {
            await expectClosed { _ = try result.get() }
        }
        await expectClosed { try await provider.enqueue(OutgoingMessage(envelope: envelope()), to: "q") }
        await expectClosed { _ = try await provider.receive(from: "q", max: 1, wait: .seconds(1)) }
        await expectClosed { _ = try await provider.stats(of: "q") }
        await expectClosed { _ = try await provider.deadLetters(of: "q", limit: 1) }
        try await provider.close()
    }

    @Test func malformedRawBodyIsDeliveredAsAFailure() async throws {
        let provider = MemoryQueueProvider()
        let body = Array(#"{"v":1,"task":"#.utf8)
        try await provider.enqueueRaw(body, to: "q")
        try await provider.enqueueRaw(Array(#"{"v":7,"id":"x","task":"t","payload":null}"#.utf8), to: "q")
        let received = try await provider.receive(from: "q", max: 10, wait: .zero)
        try #require(received.count == 2)
        #expect(received[0].rawBody == body)
        #expect(received[0].attempt == 1)
        switch received[0].envelope {
        case .success: Issue.record("a truncated body decoded")
        case .failure(let error): #expect(error.code == .malformedEnvelope)
        }
        switch received[1].envelope {
        case .success: Issue.record("an unknown version decoded")
        case .failure(let error): #expect(error.code == .unsupportedEnvelopeVersion)
        }
        try await provider.fail(received[0], reason: FailureReason(code: "malformed_envelope", message: "bad"), retryAfter: nil)
        let dead = try await provider.deadLetters(of: "q", limit: 10)
        #expect(dead.first?.rawBody == body)
    }

    @Test func validRawBodyDecodes() async throws {
        let provider = MemoryQueueProvider()
        let sent = envelope()
        try await provider.enqueueRaw(EnvelopeCodec.encode(sent), to: "q")
        let received = try await provider.receive(from: "q", max: 1, wait: .zero)
        #expect(received.first?.rawBody == nil)
        #expect(try received.first?.envelope.get().id == sent.id)
    }

    @Test func manyWaitersAreEachServedOnce() async throws {
        let provider = MemoryQueueProvider()
        let receivers = (0..<6).map { _ in waitingReceive(provider, max: 3) }
        try await Task.sleep(for: .milliseconds(50))
        let sent = (0..<20).map { _ in envelope() }
        _ = try await provider.enqueue(sent.map { OutgoingMessage(envelope: $0) }, to: "q")
        var ids: [JobID] = []
        for receiver in receivers {
            let batch = try await woken(receiver, "the enqueue did not wake every waiting receive")
            #expect(batch.count <= 3)
            ids += batch.compactMap(jobID)
        }
        ids += try await provider.receive(from: "q", max: 100, wait: .zero).compactMap(jobID)
        #expect(Set(ids) == Set(sent.map(\.id)))
        #expect(ids.count == sent.count)
    }
}
