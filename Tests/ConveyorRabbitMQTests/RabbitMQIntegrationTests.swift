import Conveyor
import ConveyorRabbitMQ
import Foundation
import Synchronization
import Testing

/// The tests that talk to the shared broker, serialized (they share the vhost's delay levels). Tests that cut
/// connections, restart the broker or raise an alarm are in ``RabbitMQFaultTests``, on a private node.
@Suite(.serialized, .timeLimit(.minutes(3)), .enabled(if: RabbitMQTestEnvironment.enabled, "set CONVEYOR_AMQP_URL (see scripts/rabbitmq-start.sh)"))
struct RabbitMQIntegrationTests {
    typealias Env = RabbitMQTestEnvironment

    /// Runs `body` with a provider and a fresh queue, deleting the queue and closing the provider afterwards.
    func withQueue(
        _ hint: String,
        configure: (inout RabbitMQQueueProvider.Configuration) -> Void = { _ in },
        _ body: (RabbitMQQueueProvider, String) async throws -> Void
    ) async throws {
        try await withTestQueue(hint, provider: try Env.provider(configure), body)
    }

    @Test func roundTripWithPropertiesAndAttempt() async throws {
        try await withQueue("roundtrip") { provider, queue in
            let envelopes = (0..<3).map { testEnvelope($0) }
            let results = try await provider.enqueue(envelopes.map { OutgoingMessage(envelope: $0) }, to: queue)
            #expect(results.map(\.jobID) == envelopes.map(\.id))
            let received = try await provider.receive(from: queue, count: 3)
            #expect(received.count == 3)
            #expect(Set(received.compactMap { try? $0.envelope.get().id }) == Set(envelopes.map(\.id)))
            for m in received {
                #expect(m.attempt == 1)
                #expect(m.queue == queue)
                let e = try m.envelope.get()
                #expect(e.traceContext["traceparent"] != nil)
                #expect(e.correlationID?.hasPrefix("corr-") == true)
            }
            var stats = try await provider.stats(of: queue)
            #expect(stats.inFlight == 3)
            #expect(stats.ready == 0)
            try await provider.acknowledge(received)
            stats = try await provider.stats(of: queue)
            #expect(stats.inFlight == 0)
            #expect(stats.ready == 0)
            #expect(try await provider.receive(from: queue, max: 10, wait: .milliseconds(300)).isEmpty)
        }
    }

    @Test func unroutablePublishIsAnError() async throws {
        let provider = try Env.provider { $0.declaresQueuesOnFirstUse = false }
        let queue = Env.queueName("missing")
        await #expect {
            try await provider.enqueue(OutgoingMessage(envelope: testEnvelope()), to: queue)
        } throws: { error in
            (error as? ConveyorError)?.code == .notConfirmed
        }
        // The publisher stays usable.
        try await provider.createQueue(queue, options: QueueOptions())
        try await provider.enqueue(OutgoingMessage(envelope: testEnvelope()), to: queue)
        #expect(try await provider.stats(of: queue).ready == 1)
        try await provider.deleteQueue(queue)
        try await provider.close()
    }

    /// A keyed enqueue whose publish fails releases its deduplication claim: the caller's retry with the same key is
    /// published, not dropped as a duplicate of a message that never reached the queue.
    @Test func failedPublishReleasesItsDeduplicationClaim() async throws {
        let provider = try Env.provider { $0.declaresQueuesOnFirstUse = false }
        let queue = Env.queueName("dedup-release")
        var envelope = testEnvelope()
        envelope.deduplicationKey = "order-\(UInt32.random(in: 0...UInt32.max))"
        await #expect {
            try await provider.enqueue(OutgoingMessage(envelope: envelope), to: queue)
        } throws: { error in
            (error as? ConveyorError)?.code == .notConfirmed
        }
        try await provider.createQueue(queue, options: QueueOptions())
        let retry = try await provider.enqueue(OutgoingMessage(envelope: envelope), to: queue)
        #expect(!retry.deduplicated)
        let received = try await provider.receive(from: queue, count: 1)
        #expect(received.count == 1)
        try await provider.acknowledge(received)
        // The key is claimed again by the message that did go through.
        let duplicate = try await provider.enqueue(OutgoingMessage(envelope: envelope), to: queue)
        #expect(duplicate.deduplicated)
        try await provider.deleteQueue(queue)
        try await provider.close()
    }

    @Test func confirmedMessagesAreCountedBeforeEnqueueReturns() async throws {
        try await withQueue("confirm") { provider, queue in
            try await provider.createQueue(queue, options: QueueOptions())
            _ = try await provider.enqueue((0..<500).map { OutgoingMessage(envelope: testEnvelope($0)) }, to: queue)
            #expect(try await provider.stats(of: queue).ready == 500)
            // Concurrent calls are pipelined together.
            try await withThrowingTaskGroup(of: Void.self) { group in
                for i in 0..<10 {
                    group.addTask { _ = try await provider.enqueue((0..<50).map { OutgoingMessage(envelope: testEnvelope(i * 50 + $0)) }, to: queue) }
                }
                try await group.waitForAll()
            }
            #expect(try await provider.stats(of: queue).ready == 1000)
        }
    }

    @Test func prefetchBoundsUnackedDeliveries() async throws {
        try await withQueue("prefetch", configure: { $0.prefetch = 5 }) { provider, queue in
            _ = try await provider.enqueue((0..<20).map { OutgoingMessage(envelope: testEnvelope($0)) }, to: queue)
            var held: [ReceivedMessage] = []
            let deadline = ContinuousClock.now + .seconds(2)
            while ContinuousClock.now < deadline {
                held += try await provider.receive(from: queue, max: 20, wait: .milliseconds(200))
            }
            #expect(held.count == 5)
            #expect(try await provider.stats(of: queue).ready == 15)
            try await provider.acknowledge(held)
            let rest = try await provider.receive(from: queue, count: 5)
            #expect(rest.count == 5)
            try await provider.acknowledge(rest)
        }
    }

    @Test func retryGoesThroughDelayAndCountsAttempts() async throws {
        try await withQueue("retry") { provider, queue in
            try await provider.enqueue(OutgoingMessage(envelope: testEnvelope(1)), to: queue)
            let first = try #require(try await provider.receive(from: queue, count: 1).first)
            #expect(first.attempt == 1)
            let start = ContinuousClock.now
            try await provider.fail(first, reason: FailureReason(code: "task_error", message: "boom"), retryAfter: .seconds(1))
            let second = try #require(try await provider.receive(from: queue, count: 1, timeout: .seconds(15)).first)
            #expect(ContinuousClock.now - start >= .milliseconds(900))
            #expect(second.attempt == 2)
            #expect(try second.envelope.get().id == first.envelope.get().id)
            try await provider.fail(second, reason: FailureReason(code: "task_error", message: "boom"), retryAfter: .zero)
            let third = try #require(try await provider.receive(from: queue, count: 1).first)
            #expect(third.attempt == 3)
            try await provider.acknowledge(third)
        }
    }

    @Test func delaysArriveInDueOrder() async throws {
        try await withQueue("delay") { provider, queue in
            for seconds in [5, 3, 1] {
                try await provider.enqueue(OutgoingMessage(envelope: testEnvelope(seconds), delay: .seconds(seconds)), to: queue)
            }
            let start = ContinuousClock.now
            #expect(try await provider.receive(from: queue, max: 10, wait: .milliseconds(500)).isEmpty)
            #expect(try await provider.stats(of: queue).delayed >= 3)
            var order: [Int] = []
            var arrivals: [Duration] = []
            while order.count < 3, ContinuousClock.now - start < .seconds(20) {
                for m in try await provider.receive(from: queue, max: 10, wait: .seconds(1)) {
                    let payload = String(decoding: try m.envelope.get().payload, as: UTF8.self)
                    order.append(Int(payload.filter(\.isNumber))!)
                    arrivals.append(ContinuousClock.now - start)
                    try await provider.acknowledge(m)
                }
            }
            #expect(order == [1, 3, 5])
            for (seconds, arrival) in zip(order, arrivals) {
                #expect(arrival >= .seconds(seconds) - .milliseconds(600))
            }
        }
    }

    @Test func prioritiesOnClassicQueue() async throws {
        try await withQueue("priority", configure: { $0.maxPriority = 9; $0.prefetch = 1 }) { provider, queue in
            try await provider.createQueue(queue, options: QueueOptions())
            _ = try await provider.enqueue((0..<5).map { OutgoingMessage(envelope: testEnvelope($0, priority: 0)) }, to: queue)
            try await provider.enqueue(OutgoingMessage(envelope: testEnvelope(99, priority: 9)), to: queue)
            let first = try #require(try await provider.receive(from: queue, count: 1).first)
            #expect(try first.envelope.get().priority == 9)
            try await provider.acknowledge(first)
        }
    }

    @Test func quorumQueueRoundTripAndRedeliveryCount() async throws {
        try await withQueue("quorum", configure: { $0.queueType = .quorum }) { provider, queue in
            try await provider.enqueue(OutgoingMessage(envelope: testEnvelope(1)), to: queue)
            let first = try #require(try await provider.receive(from: queue, count: 1).first)
            #expect(first.attempt == 1)
            try await provider.acknowledge(first)
        }
    }

    @Test func deadLettersCarryReasonsAndRedrive() async throws {
        try await withQueue("dlq") { provider, queue in
            let envelope = testEnvelope(7)
            try await provider.enqueue(OutgoingMessage(envelope: envelope), to: queue)
            let m = try #require(try await provider.receive(from: queue, count: 1).first)
            try await provider.fail(m, reason: FailureReason(code: "unknown_task", message: "no handler for test.echo"), retryAfter: nil)
            var stats = try await provider.stats(of: queue)
            #expect(stats.deadLettered == 1)
            #expect(stats.inFlight == 0)
            let letters = try await provider.deadLetters(of: queue, limit: 10)
            #expect(letters.count == 1)
            #expect(letters.first?.reason == FailureReason(code: "unknown_task", message: "no handler for test.echo"))
            #expect(letters.first?.attempts == 1)
            #expect(try letters.first?.envelope.get().id == envelope.id)
            // Listing does not remove.
            #expect(try await provider.stats(of: queue).deadLettered == 1)
            #expect(try await provider.redrive(queue, ids: nil) == 1)
            stats = try await provider.stats(of: queue)
            #expect(stats.deadLettered == 0)
            let again = try #require(try await provider.receive(from: queue, count: 1).first)
            #expect(again.attempt == 1)
            try await provider.fail(again, reason: FailureReason(code: "task_error", message: "again"), retryAfter: nil)
            #expect(try await provider.purgeDeadLetters(of: queue) == 1)
        }
    }

    @Test func undecodableBodyReachesTheWorkerAndIsDeadLetteredByteIdentical() async throws {
        // A foreign producer's message, published by the broker itself (rabbitmqctl eval).
        try await withQueue("malformed") { provider, queue in
            try await provider.createQueue(queue, options: QueueOptions())
            try Env.rabbitmqctl(
                "eval",
                #"rabbit_basic:publish(rabbit_misc:r(<<"/">>, exchange, <<>>), <<"\#(queue)">>, rabbit_basic:properties([{delivery_mode, 2}]), <<"not json">>)."#
            )
            let m = try #require(try await provider.receive(from: queue, count: 1).first)
            guard case .failure(let error) = m.envelope else {
                Issue.record("a non-JSON body decoded")
                return
            }
            #expect(error.code == .malformedEnvelope)
            #expect(m.rawBody == Array("not json".utf8))
            #expect(m.attempt == 1)
            try await provider.fail(m, reason: FailureReason(error), retryAfter: nil)
            let letters = try await provider.deadLetters(of: queue, limit: 10)
            #expect(letters.count == 1)
            #expect(letters.first?.rawBody == Array("not json".utf8))
            #expect(letters.first?.reason.code == ConveyorError.Code.malformedEnvelope.rawValue)
        }
    }

    /// A waiting receive returns the delivery that arrives meanwhile. The wait (600 s) is far longer than the time
    /// limit, so the test fails if only the deadline would end it (the time limit then stops waiting for it).
    @Test(.timeLimit(.minutes(1))) func receiveWaitsAndIsWokenByADelivery() async throws {
        try await withQueue("wake") { provider, queue in
            #expect(try await provider.receive(from: queue, max: 1, wait: .milliseconds(200)).isEmpty)
            let got = Task { try await provider.receive(from: queue, max: 1, wait: .seconds(600)) }
            try await Task.sleep(for: .milliseconds(200))
            try await provider.enqueue(OutgoingMessage(envelope: testEnvelope()), to: queue)
            let messages = try await valueOrCancellation(of: got)
            #expect(messages.count == 1)
            try await provider.acknowledge(messages)
        }
    }

    /// Cancelling a receive ends its wait at once. The wait (600 s) is far longer than the time limit, so the test
    /// fails if only the deadline would end it; on that failure, cancellation of the test stops waiting for the
    /// receive, and closing the provider on the way out ends it.
    @Test(.timeLimit(.minutes(1))) func cancellationEndsAWait() async throws {
        try await withQueue("cancel") { provider, queue in
            let task = Task { try await provider.receive(from: queue, max: 1, wait: .seconds(600)) }
            try await Task.sleep(for: .milliseconds(300))
            task.cancel()
            let result = try await valueOrCancellation(of: task)
            #expect(result.isEmpty)
        }
    }

    /// `close()` wakes a waiting receive. The wait (600 s) is far longer than the time limit, so the test fails if
    /// only the deadline would end it (the time limit then cancels the receive).
    @Test(.timeLimit(.minutes(1))) func closeWakesReceiversAndLaterCallsThrow() async throws {
        let provider = try Env.provider()
        let queue = Env.queueName("close")
        _ = try await provider.receive(from: queue, max: 1, wait: .zero)
        async let pending = provider.receive(from: queue, max: 1, wait: .seconds(600))
        try await Task.sleep(for: .milliseconds(300))
        let closer = try Env.provider()
        try await provider.close()
        #expect(try await pending.isEmpty)
        await #expect(throws: ConveyorError.self) { try await provider.enqueue(OutgoingMessage(envelope: testEnvelope()), to: queue) }
        try await closer.deleteQueue(queue)
        try await closer.close()
    }

    @Test(arguments: ["classic", "quorum"])
    func unackedMessageIsRedeliveredWithTheNextAttempt(_ type: String) async throws {
        let configure: (inout RabbitMQQueueProvider.Configuration) -> Void = { if type == "quorum" { $0.queueType = .quorum } }
        let queue = Env.queueName("redeliver-\(type)")
        let first = try Env.provider(configure)
        try await first.enqueue(OutgoingMessage(envelope: testEnvelope(1)), to: queue)
        let m = try #require(try await first.receive(from: queue, count: 1).first)
        #expect(m.attempt == 1)
        try await first.close()  // the unacknowledged delivery goes back to the queue
        let second = try Env.provider(configure)
        let again = try #require(try await second.receive(from: queue, count: 1).first)
        #expect(again.attempt == 2)
        #expect(try again.envelope.get().id == m.envelope.get().id)
        try await second.acknowledge(again)
        try await second.deleteQueue(queue)
        try await second.close()
    }

    @Test func badCredentialsAreAccessDenied() async throws {
        var components = try #require(URLComponents(string: try Env.requireURL()))
        components.password = "wrong-sekrit"
        let provider = try RabbitMQQueueProvider(configuration: .init(url: try #require(components.string)))
        await #expect {
            try await provider.stats(of: "anything")
        } throws: { error in
            guard let e = error as? ConveyorError else { return false }
            return e.code == .accessDenied && !e.message.contains("wrong-sekrit")
        }
        try await provider.close()
    }
}
