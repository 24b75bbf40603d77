import Conveyor
import Foundation

/// The provider conformance suite: the behaviour every ``QueueProvider`` (memory, SQS, RabbitMQ) must show, so
/// that code tested on one behaves the same on the others.
///
/// Each case runs on its own fresh queue from ``ConformanceHarness/makeQueue`` and finishes within about ten
/// seconds on a real broker (delays and visibility timeouts are whole seconds, as SQS has 1-second
/// granularity). A case whose requirement the provider lacks checks nothing and reports itself not applicable
/// (``ConformanceOutcome/notApplicable(reason:)``), with the reason:
///
/// - "redelivery after visibility timeout": ``ProviderCapabilities/visibilityTimeout``;
/// - "priority order": ``ProviderCapabilities/priorities``;
/// - "deduplication": ``ProviderCapabilities/deduplication``;
/// - "dead letters keep the job, reason and attempt", "redrive from the dead-letter queue" and "dead-letter after
///   max attempts" (a real ``Worker``): a ``DeadLetterQueueProvider``;
/// - "release hands a message back with the declared attempt": a ``ReleasingQueueProvider``;
/// - "close": ``ConformanceHarness/makeProvider``;
/// - the "results: …" cases (a real ``Worker`` and ``ConveyorClient/enqueue(_:_:options:tracking:)-(_,T.Input,_,_)``):
///   a ``ReplyingProvider``;
/// - "events: an observer sees the events of jobs it did not enqueue": an ``EventBroadcastingProvider``;
/// - "pause: …": a ``PausingProvider``; "cancel: …": a ``CancellingProvider`` and a ``ReplyingProvider``.
///
/// Every other case applies to every provider. ``run(_:cases:)`` runs them all and returns a ``ConformanceReport``
/// of what ran and what did not apply.
public enum ProviderConformance {
    /// Every case, in a stable order.
    public static let cases: [ConformanceCase] = [
        roundTrip,
        emptyReceive,
        receiveWakesEarly,
        redeliveryAfterVisibilityTimeout,
        failWithRetryAfter,
        failWithoutRetryDeadLetters,
        deadLettersKeepTheReason,
        delayedEnqueue,
        priorityOrder,
        deduplication,
        batchEnqueue,
        acknowledgeIsFinal,
        release,
        stats,
        redrive,
        deadLetterAfterMaxAttempts,
        resultsAfterRetries,
        resultOfADeadLetteredJob,
        resultsOfTwoProducers,
        thousandConcurrentResults,
        replyToAMissingQueue,
        observerSeesOthersJobs,
        pauseAndResume,
        cancellation,
        globalConcurrency,
        globalRate,
        close,
    ]

    // MARK: Enqueue, receive, acknowledge

    /// Every envelope field survives the broker byte for byte; an unsettled message is not delivered twice.
    static let roundTrip = ConformanceCase("round trip") { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "round-trip") { q in
            let sent = Envelope(
                task: "conformance.round-trip",
                payload: Array(
                    #"{"to": "ada@example.com", "amounts": [1, 2.5, -3e2], "nested": {"ok": true, "none": null}, "text": "h\u00e9llo \"quoted\" \\ ü ✓"}"#.utf8
                ),
                createdAt: Date(timeIntervalSince1970: 1_764_086_663.25),
                correlationID: "corr-\(UUID().uuidString.lowercased())",
                deduplicationKey: "rt-\(UUID().uuidString.lowercased())",
                priority: 3,
                maxAttempts: 7,
                attemptOffset: 2,
                notBefore: Date(timeIntervalSince1970: 1_764_086_600.5),
                traceContext: [
                    "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
                    "tracestate": "congo=t61rcWkgMzE",
                ],
                headers: ["x-tenant": "acme", "x-unicode": "ü ✓ \"q\"", "x-empty": ""]
            )
            let result = try await q.enqueue(sent)
            try q.require(!result.deduplicated, "a first enqueue was reported as deduplicated")

            let message = try await q.receiveOne()
            let got = try q.envelope(of: message)
            try q.require(got.id == sent.id, "job id \(got.id) != \(sent.id)")
            try q.require(got.version == sent.version, "version \(got.version) != \(sent.version)")
            try q.require(got.task == sent.task, "task \"\(got.task)\" != \"\(sent.task)\"")
            try q.require(
                got.payload == sent.payload,
                "payload not byte-exact: got \(String(decoding: got.payload, as: UTF8.self))"
            )
            try q.require(
                abs(got.createdAt.timeIntervalSince(sent.createdAt)) < 0.001,
                "created_at \(RFC3339.format(got.createdAt)) != \(RFC3339.format(sent.createdAt))"
            )
            try q.require(got.correlationID == sent.correlationID, "correlation id \(got.correlationID ?? "nil") != \(sent.correlationID!)")
            try q.require(got.deduplicationKey == sent.deduplicationKey, "dedup key \(got.deduplicationKey ?? "nil") != \(sent.deduplicationKey!)")
            try q.require(got.priority == sent.priority, "priority \(got.priority) != \(sent.priority)")
            try q.require(got.maxAttempts == sent.maxAttempts, "max attempts \(String(describing: got.maxAttempts)) != 7")
            try q.require(got.attemptOffset == sent.attemptOffset, "attempt offset \(got.attemptOffset) != \(sent.attemptOffset)")
            try q.require(
                got.notBefore.map { abs($0.timeIntervalSince(sent.notBefore!)) < 0.001 } ?? false,
                "not_before \(got.notBefore.map(RFC3339.format) ?? "nil") != \(RFC3339.format(sent.notBefore!))"
            )
            try q.require(got.traceContext == sent.traceContext, "trace context \(got.traceContext) != \(sent.traceContext)")
            try q.require(got.headers == sent.headers, "headers \(got.headers) != \(sent.headers)")
            try q.require(
                message.attempt == 1 + sent.attemptOffset,
                "attempt \(message.attempt), expected \(1 + sent.attemptOffset) (first delivery + attempt_offset \(sent.attemptOffset))"
            )

            try await q.expectNothing(wait: .seconds(1), "a received, unsettled message must not be delivered again at once")
            try await q.provider.acknowledge([message])
        }
    }

    /// A receive on an empty queue returns nothing, without an error, once its wait has passed.
    static let emptyReceive = ConformanceCase("empty receive returns after the wait") { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "empty") { q in
            try await q.expectNothing(wait: .seconds(1), "the queue is empty")
            try await q.expectNothing(wait: .zero, "the queue is empty")
        }
    }

    /// A waiting receive returns a message that arrives during its wait (no polling interval to sit out): a
    /// receive waiting 20 s (the longest SQS allows) must return the message long before its wait runs out.
    static let receiveWakesEarly = ConformanceCase("receive wakes when a message arrives") { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "wake") { q in
            let queue = q.queue
            let provider = q.provider
            let receiver = Task { try await provider.receive(from: queue, max: 10, wait: .seconds(20)) }
            try await Task.sleep(for: .milliseconds(500))
            let sent = q.envelope()
            do {
                try await q.enqueue(sent)
            } catch {
                receiver.cancel()
                throw error
            }
            // A guard against a wake-up that never comes, not a timing assertion: half the wait.
            guard let result = await ConformanceContext.result(of: receiver, within: .seconds(10)) else {
                throw q.failure("a receive waiting 20 s had not returned 10 s after a message was enqueued: the message did not wake it")
            }
            let received = try result.get()
            try q.require(
                received.count == 1,
                "a receive waiting 20 s returned \(received.count) messages; the message enqueued 0.5 s into the wait must wake it"
            )
            try q.require(try q.envelope(of: received[0]).id == sent.id, "received another job")
            try await provider.acknowledge(received)
        }
    }

    /// An unacknowledged message comes back when its visibility timeout passes, with the next attempt number.
    static let redeliveryAfterVisibilityTimeout = ConformanceCase("redelivery after visibility timeout", requires: [.visibilityTimeout]) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "visibility") { q in
            let sent = q.envelope()
            try await q.enqueue(sent)
            let first = try await q.receiveOne()
            // Long enough that a loaded machine does not reach its end before the next receive (1 s was not, on CI).
            try await q.provider.extendVisibility(first, by: .seconds(3))
            try q.require(first.attempt == 1, "first delivery has attempt \(first.attempt)")
            try await q.expectNothing(wait: .zero, "the message is in flight")
            let second = try await q.receiveOne()
            try q.require(try q.envelope(of: second).id == sent.id, "redelivered another job")
            try q.require(second.attempt == 2, "redelivery has attempt \(second.attempt), expected 2")
            try await q.provider.acknowledge([second])
            // The first delivery's receipt is stale now: acknowledging it is ignored, not an error.
            try await q.provider.acknowledge([first])
        }
    }

    /// `fail(retryAfter:)` hides the message for the delay, then delivers it again with the next attempt number.
    static let failWithRetryAfter = ConformanceCase("fail with retryAfter redelivers later") { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "retry") { q in
            let sent = q.envelope()
            try await q.enqueue(sent)
            let first = try await q.receiveOne()
            try await q.provider.fail(first, reason: FailureReason(code: "task_error", message: "conformance retry"), retryAfter: .seconds(1))
            try await q.expectNothing(wait: .zero, "a message failed with retryAfter 1 s must not be visible at once")
            let second = try await q.receiveOne()
            try q.require(try q.envelope(of: second).id == sent.id, "redelivered another job")
            try q.require(second.attempt == 2, "retried delivery has attempt \(second.attempt), expected 2")
            try await q.provider.acknowledge([second])
        }
    }

    /// `fail(retryAfter: nil)` takes the message off the queue for good and counts it as dead-lettered.
    static let failWithoutRetryDeadLetters = ConformanceCase("fail without retry dead-letters") { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "dead-letter") { q in
            try await q.enqueue(q.envelope())
            let message = try await q.receiveOne()
            try await q.provider.fail(message, reason: FailureReason(code: "conformance_poison", message: "poisoned on purpose"), retryAfter: nil)
            try await q.expectNothing(wait: .seconds(1), "a dead-lettered message must leave the queue")
            try await q.eventuallyStats("stats.deadLettered == 1") { $0.deadLettered == 1 && $0.ready == 0 && $0.inFlight == 0 }
        }
    }

    /// A dead letter lists the job with the reason it failed with and its attempt; purging empties the dead-letter
    /// queue.
    static let deadLettersKeepTheReason = ConformanceCase("dead letters keep the job, reason and attempt", requires: [.deadLetterQueue]) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "dead-letter-reason") { q in
            guard let dlq = q.provider.deadLetterQueues else {
                throw ConveyorError(.unsupported, "the provider is not a DeadLetterQueueProvider")
            }
            let sent = q.envelope()
            try await q.enqueue(sent)
            let message = try await q.receiveOne()
            let reason = FailureReason(code: "conformance_poison", message: "poisoned on purpose: ü ✓")
            try await q.provider.fail(message, reason: reason, retryAfter: nil)
            try await q.eventually("the dead letter listed") {
                let letters = try await dlq.deadLetters(of: q.queue, limit: 10)
                return (letters.count == 1, "\(letters.count) dead letters")
            }
            let letter = try await q.onlyDeadLetter(in: dlq, is: sent, "listed")
            try q.require(letter.reason == reason, "dead letter reason \(letter.reason), expected \(reason)")
            try q.require(letter.attempts == 1, "dead letter attempts \(letter.attempts), expected 1")

            _ = try await dlq.purgeDeadLetters(of: q.queue)
            try await q.eventually("the dead-letter queue purged") {
                let letters = try await dlq.deadLetters(of: q.queue, limit: 10)
                return (letters.isEmpty, "\(letters.count) dead letters")
            }
            try await q.eventuallyStats("stats.deadLettered == 0 after purge") { $0.deadLettered == 0 }
        }
    }

    // MARK: Delivery order and timing

    /// A delayed message is not delivered before its delay and is delivered after it.
    static let delayedEnqueue = ConformanceCase("delayed enqueue") { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "delay") { q in
            let sent = q.envelope()
            try await q.enqueue(sent, delay: .seconds(2))
            try await q.expectNothing(wait: .seconds(1), "a message delayed by 2 s must not be delivered in the first second")
            let message = try await q.receiveOne()
            try q.require(try q.envelope(of: message).id == sent.id, "received another job")
            try q.require(message.attempt == 1, "a delayed message's first delivery has attempt \(message.attempt)")
            try await q.provider.acknowledge([message])
        }
    }

    /// Higher priorities are delivered first, FIFO within a priority.
    static let priorityOrder = ConformanceCase("priority order", requires: [.priorities]) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "priority") { q in
            let priorities = [0, 5, 9, 1, 9, 5]
            let sent = priorities.enumerated().map { q.envelope(priority: $0.element, index: $0.offset) }
            for envelope in sent { try await q.enqueue(envelope) }
            let received = try await q.receive(count: sent.count)
            let ids = try received.map { try q.envelope(of: $0).id }
            let expected = [2, 4, 1, 5, 3, 0].map { sent[$0].id }
            let order = received.map { message in
                (try? message.envelope.get()).map { "p\($0.priority)#\(String(decoding: $0.payload, as: UTF8.self))" } ?? "?"
            }
            try q.require(
                ids == expected,
                "delivery order was \(order), expected priorities [9, 9, 5, 5, 1, 0] with enqueue order (index) kept within a priority"
            )
            try await q.provider.acknowledge(received)
        }
    }

    /// A second enqueue with the same deduplication key is reported and dropped.
    static let deduplication = ConformanceCase("deduplication", requires: [.deduplication]) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "dedup") { q in
            let key = "dedup-\(UUID().uuidString.lowercased())"
            let first = q.envelope(dedup: key, index: 1)
            let second = q.envelope(dedup: key, index: 2)
            let firstResult = try await q.enqueue(first)
            try q.require(!firstResult.deduplicated, "the first enqueue with a key was reported as deduplicated")
            let secondResult = try await q.enqueue(second)
            try q.require(secondResult.deduplicated, "the second enqueue with the same key was not reported as deduplicated")
            let message = try await q.receiveOne()
            try q.require(try q.envelope(of: message).id == first.id, "received \(q.describe(message)), expected the first job")
            try await q.expectNothing(wait: .seconds(1), "the duplicate must have been dropped")
            try await q.provider.acknowledge([message])
        }
    }

    /// 25 messages enqueued in one call are each delivered exactly once, at most `max` per receive; an empty
    /// batch is accepted and returns no results.
    static let batchEnqueue = ConformanceCase("batch enqueue") { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "batch") { q in
            let sent = (0..<25).map { q.envelope(index: $0) }
            let results = try await q.provider.enqueue(sent.map { OutgoingMessage(envelope: $0) }, to: q.queue)
            try q.require(results.count == sent.count, "batch enqueue of 25 returned \(results.count) results")
            try q.require(results.map(\.jobID) == sent.map(\.id), "batch enqueue results are not in message order")
            try q.require(!results.contains(where: \.deduplicated), "a batch message was reported as deduplicated")
            let none = try await q.provider.enqueue([], to: q.queue)
            try q.require(none.isEmpty, "enqueue of no messages returned \(none.count) results")

            var seen: [JobID: Int] = [:]
            let deadline = ContinuousClock.now + .seconds(15)
            while seen.count < sent.count, ContinuousClock.now < deadline {
                let batch = try await q.receive(max: 10, wait: .seconds(2))
                for message in batch { seen[try q.envelope(of: message).id, default: 0] += 1 }
                if !batch.isEmpty { try await q.provider.acknowledge(batch) }
            }
            try q.require(Set(seen.keys) == Set(sent.map(\.id)), "received \(seen.count) of the 25 jobs")
            let repeated = seen.filter { $0.value > 1 }
            try q.require(repeated.isEmpty, "jobs delivered more than once: \(repeated.keys.sorted { $0.rawValue < $1.rawValue })")
            try await q.expectNothing(wait: .seconds(1), "all 25 messages were acknowledged")
        }
    }

    /// An acknowledged message is gone for good: it does not come back after the visibility timeout.
    static let acknowledgeIsFinal = ConformanceCase("acknowledge is final") { harness in
        let visibility = harness.provider.capabilities.visibilityTimeout
        try await ConformanceContext.onFreshQueue(harness, hint: "ack") { q in
            try await q.enqueue(q.envelope())
            let message = try await q.receiveOne()
            if visibility { try await q.provider.extendVisibility(message, by: .seconds(1)) }
            try await q.provider.acknowledge([message])
            try await q.expectNothing(wait: .seconds(3), "an acknowledged message must not be delivered again")
            try await q.eventuallyStats("an empty queue after acknowledge") { $0.ready == 0 && $0.inFlight == 0 && $0.delayed == 0 }
        }
    }

    /// A released message is delivered again at once (no visibility timeout to sit out), with attempt 1 when the
    /// provider declares that a release does not count as an attempt
    /// (``ReleasingQueueProvider/releaseCountsAsAttempt``), and 2 when it declares that it does.
    static let release = ConformanceCase("release hands a message back with the declared attempt", requires: [.releasing]) { harness in
        guard let releasing = harness.provider.releasing else {
            throw ConveyorError(.unsupported, "the provider is not a ReleasingQueueProvider")
        }
        let counts = releasing.releaseCountsAsAttempt
        try await ConformanceContext.onFreshQueue(harness, hint: "release") { q in
            let sent = q.envelope()
            try await q.enqueue(sent)
            let first = try await q.receiveOne()
            try q.require(first.attempt == 1, "first delivery has attempt \(first.attempt)")
            // Extended first where the broker has a visibility timeout, so that only the release can bring it back
            // within the receive below.
            if harness.provider.capabilities.visibilityTimeout {
                try await q.provider.extendVisibility(first, by: .seconds(60))
            }
            try await releasing.release([first])
            let second = try await q.receiveOne()
            try q.require(try q.envelope(of: second).id == sent.id, "received \(q.describe(second)) after the release, expected \(sent.id)")
            let expected = counts ? 2 : 1
            try q.require(
                second.attempt == expected,
                "the released message came back with attempt \(second.attempt), expected \(expected): the provider declares "
                    + "releaseCountsAsAttempt = \(counts)"
            )
            try await q.provider.acknowledge([second])
            try await q.expectNothing(wait: .seconds(1), "the released message was delivered again and acknowledged")
        }
    }

    /// `stats` counts ready and in-flight messages (brokers may report them with a lag).
    static let stats = ConformanceCase("stats counts ready and in-flight messages") { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "stats") { q in
            try await q.eventuallyStats("an empty queue") { $0 == QueueStats() }
            let sent = (0..<3).map { q.envelope(index: $0) }
            _ = try await q.provider.enqueue(sent.map { OutgoingMessage(envelope: $0) }, to: q.queue)
            try await q.eventuallyStats("ready 3, in flight 0") { $0.ready == 3 && $0.inFlight == 0 }
            let message = try await q.receiveOne()
            try await q.eventuallyStats("ready 2, in flight 1") { $0.ready == 2 && $0.inFlight == 1 }
            try await q.provider.acknowledge([message])
            try await q.eventuallyStats("ready 2, in flight 0") { $0.ready == 2 && $0.inFlight == 0 && $0.deadLettered == 0 }
        }
    }

    // MARK: Dead letters, close

    /// Redrive moves dead letters (selected by id, or all) back to the queue with a fresh attempt count.
    static let redrive = ConformanceCase("redrive from the dead-letter queue", requires: [.deadLetterQueue]) { harness in
        try await ConformanceContext.onFreshQueue(harness, hint: "redrive") { q in
            guard let dlq = q.provider.deadLetterQueues else {
                throw ConveyorError(.unsupported, "the provider is not a DeadLetterQueueProvider")
            }
            let a = q.envelope(index: 1), b = q.envelope(index: 2)
            _ = try await q.provider.enqueue([OutgoingMessage(envelope: a), OutgoingMessage(envelope: b)], to: q.queue)
            for message in try await q.receive(count: 2) {
                try await q.provider.fail(message, reason: FailureReason(code: "conformance_poison", message: "redrive me"), retryAfter: nil)
            }
            try await q.eventually("both jobs dead-lettered") {
                let letters = try await dlq.deadLetters(of: q.queue, limit: 10)
                return (letters.count == 2, "\(letters.count) dead letters")
            }

            let movedA = try await dlq.redrive(q.queue, ids: [a.id])
            try q.require(movedA == 1, "redrive of one id moved \(movedA) messages")
            let again = try await q.receiveOne()
            try q.require(try q.envelope(of: again).id == a.id, "redrive by id delivered \(q.describe(again)), expected \(a.id)")
            try q.require(again.attempt == 1, "a redriven job starts over at attempt 1, got \(again.attempt)")
            try await q.provider.acknowledge([again])
            try await q.eventually("only the other job left in the dead-letter queue") {
                let ids = try await dlq.deadLetters(of: q.queue, limit: 10).map { try? $0.envelope.get().id }
                return (ids == [b.id], "\(ids)")
            }

            let movedAll = try await dlq.redrive(q.queue, ids: nil)
            try q.require(movedAll == 1, "redrive of all moved \(movedAll) messages, expected 1")
            let last = try await q.receiveOne()
            try q.require(try q.envelope(of: last).id == b.id, "redrive delivered \(q.describe(last)), expected \(b.id)")
            try q.require(last.attempt == 1, "a redriven job starts over at attempt 1, got \(last.attempt)")
            try await q.provider.acknowledge([last])
            try await q.eventuallyStats("an empty dead-letter queue") { $0.deadLettered == 0 }
        }
    }

    /// `close()` wakes a pending receive; afterwards calls throw ``ConveyorError/Code/closed``. Needs
    /// ``ConformanceHarness/makeProvider``.
    static let close = ConformanceCase("close", requires: [.separateProvider]) { harness in
        let makeProvider = harness.makeProvider!
        try await ConformanceContext.onFreshQueue(harness, hint: "close") { q in
            let provider = try await makeProvider()
            let queue = q.queue
            do {
                // The fresh provider works before it is closed.
                let sent = q.envelope()
                _ = try await provider.enqueue([OutgoingMessage(envelope: sent)], to: queue)
                var received: [ReceivedMessage] = []
                let deadline = ContinuousClock.now + .seconds(8)
                while received.isEmpty, ContinuousClock.now < deadline {
                    received = try await provider.receive(from: queue, max: 1, wait: .seconds(2))
                }
                try q.require(received.count == 1, "the fresh provider did not receive its message")
                try await provider.acknowledge(received)
            } catch {
                try? await provider.close()
                throw error
            }

            let receiver = Task { try await provider.receive(from: queue, max: 1, wait: .seconds(20)) }
            try await Task.sleep(for: .milliseconds(300))
            try await provider.close()
            // A guard against a wake-up that never comes, not a timing assertion: half the 20 s wait.
            guard let result = await ConformanceContext.result(of: receiver, within: .seconds(10)) else {
                throw q.failure("a receive waiting 20 s had not returned 10 s after close(): close() did not wake it")
            }
            switch result {
            case .success(let messages):
                try q.require(messages.isEmpty, "a receive pending at close returned \(messages.count) messages from an empty queue")
            case .failure(let error as ConveyorError):
                try q.require(error.code == .closed, "a receive pending at close threw \(error), expected code closed")
            case .failure(is CancellationError):
                break
            case .failure(let error):
                throw q.failure("a receive pending at close threw \(error)")
            }

            func expectClosed(_ operation: String, _ body: () async throws -> Void) async throws {
                do {
                    try await body()
                    throw q.failure("\(operation) after close() did not throw")
                } catch let error as ConveyorError {
                    try q.require(error.code == .closed, "\(operation) after close() threw \(error), expected code closed")
                }
            }
            try await expectClosed("enqueue") {
                _ = try await provider.enqueue([OutgoingMessage(envelope: q.envelope())], to: queue)
            }
            try await expectClosed("receive") { _ = try await provider.receive(from: queue, max: 1, wait: .seconds(1)) }
            try await expectClosed("stats") { _ = try await provider.stats(of: queue) }
        }
    }
}
