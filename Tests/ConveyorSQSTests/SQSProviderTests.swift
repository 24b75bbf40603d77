import Conveyor
import ConveyorSQS
import Foundation
import Testing

/// The wake-up tests (a long poll ended by a message or by a cancellation) wait 20 s, the SQS maximum, and check that
/// the poll returned long before that; the suite's time limit ends any test that hangs.
@Suite(
    "SQS provider on LocalStack",
    .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT: eval \"$(scripts/sqs-test-env.sh)\" starts LocalStack and prints the exports"),
    .serialized, .timeLimit(.minutes(1))
)
struct SQSProviderTests {
    @Test func batchedSendReceiveAcknowledge() async throws {
        try await SQSTestEnvironment.withQueue("roundtrip") { provider, queue in
            let messages = (0..<25).map { i in OutgoingMessage(envelope: SQSTestEnvironment.envelope(payload: #"{"n":\#(i)}"#)) }
            let results = try await provider.enqueue(messages, to: queue)
            #expect(results.map(\.jobID) == messages.map(\.envelope.id))
            #expect(results.allSatisfy { $0.brokerMessageID != nil })
            let received = try await SQSTestEnvironment.drain(provider, queue, count: 25)
            #expect(Set(received.compactMap { try? $0.envelope.get().id }) == Set(messages.map(\.envelope.id)))
            #expect(received.allSatisfy { $0.attempt == 1 })
            let first = try #require(try received.first?.envelope.get())
            #expect(first.task == "test.echo")
            #expect(first.correlationID == "corr-1")
            #expect(first.traceContext["traceparent"] != nil)
            try await provider.acknowledge(received)
            #expect(try await provider.receive(from: queue, max: 10, wait: .seconds(1)).isEmpty)
        }
    }

    @Test func longPollReturnsWhenAMessageArrives() async throws {
        try await SQSTestEnvironment.withQueue("longpoll") { provider, queue in
            let start = ContinuousClock.now
            async let polled = provider.receive(from: queue, max: 10, wait: .seconds(20))
            try await Task.sleep(for: .milliseconds(500))
            let sent = SQSTestEnvironment.envelope()
            try await provider.enqueue(OutgoingMessage(envelope: sent), to: queue)
            let received = try await polled
            // Woken by the message, not by the end of its 20 s wait (a behaviour check, not a benchmark).
            let elapsed = ContinuousClock.now - start
            #expect(elapsed < .seconds(10), "the 20 s poll returned after \(elapsed): the message did not wake it")
            #expect(received.count == 1)
            #expect(try received.first?.envelope.get().id == sent.id)
            try await provider.acknowledge(received)
        }
    }

    @Test func cancellingALongPollEndsIt() async throws {
        try await SQSTestEnvironment.withQueue("cancel") { provider, queue in
            let start = ContinuousClock.now
            let poll = Task { try await provider.receive(from: queue, max: 10, wait: .seconds(20)) }
            try await Task.sleep(for: .milliseconds(300))
            poll.cancel()
            let result = await poll.result
            // Woken by the cancellation, not by the end of its 20 s wait (which would also end in an error if the
            // provider only checked for cancellation after the answer).
            let elapsed = ContinuousClock.now - start
            #expect(elapsed < .seconds(10), "the cancelled 20 s poll returned after \(elapsed): the cancellation did not wake it")
            #expect(throws: CancellationError.self) { try result.get() }
            // The provider still works afterwards. (The server may still hold the abandoned poll for a while, so a
            // message sent now could go to it: only check that new requests succeed.)
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready == 0)
        }
    }

    @Test func manyConcurrentLongPolls() async throws {
        try await SQSTestEnvironment.withQueue("concurrent") { provider, queue in
            let count = 8
            try await withThrowingTaskGroup(of: Int.self) { group in
                for _ in 0..<count {
                    group.addTask {
                        let messages = try await provider.receive(from: queue, max: 1, wait: .seconds(10))
                        try await provider.acknowledge(messages)
                        return messages.count
                    }
                }
                try await Task.sleep(for: .milliseconds(500))
                let outgoing = (0..<count).map { _ in OutgoingMessage(envelope: SQSTestEnvironment.envelope()) }
                _ = try await provider.enqueue(outgoing, to: queue)
                var total = 0
                for try await n in group { total += n }
                let rest = try await SQSTestEnvironment.drain(provider, queue, count: count - total, rounds: 2)
                try await provider.acknowledge(rest)
                #expect(total + rest.count == count)
            }
        }
    }

    @Test func extendVisibilityKeepsAMessageInvisible() async throws {
        try await SQSTestEnvironment.withQueue(
            "heartbeat",
            options: QueueOptions(visibilityTimeout: .seconds(2)),
            configure: { $0.visibilityTimeout = nil }  // the queue's 2 s
        ) { provider, queue in
            try await provider.enqueue(OutgoingMessage(envelope: SQSTestEnvironment.envelope()), to: queue)
            let received = try await SQSTestEnvironment.drain(provider, queue, count: 1)
            let message = try #require(received.first)
            // Heartbeat twice; the original 2 s timeout passes meanwhile.
            try await provider.extendVisibility(message, by: .seconds(3))
            try await Task.sleep(for: .seconds(1.5))
            try await provider.extendVisibility(message, by: .seconds(3))
            try await Task.sleep(for: .seconds(1.5))
            #expect(try await provider.receive(from: queue, max: 10, wait: .seconds(1)).isEmpty)
            try await provider.acknowledge(message)
        }
    }

    @Test func failWithDelayRedeliversWithAHigherAttempt() async throws {
        try await SQSTestEnvironment.withQueue("retry") { provider, queue in
            try await provider.enqueue(OutgoingMessage(envelope: SQSTestEnvironment.envelope()), to: queue)
            let first = try #require(try await SQSTestEnvironment.drain(provider, queue, count: 1).first)
            try await provider.fail(first, reason: FailureReason(code: "task_error", message: "boom"), retryAfter: .seconds(1))
            let again = try #require(try await SQSTestEnvironment.drain(provider, queue, count: 1).first)
            #expect(again.attempt == 2)
            try await provider.acknowledge(again)
        }
    }

    @Test func redrivePolicyMovesToTheDeadLetterQueue() async throws {
        let options = QueueOptions(maxReceiveCount: 1, visibilityTimeout: .seconds(1))
        try await SQSTestEnvironment.withQueue("redrive", options: options, configure: { $0.visibilityTimeout = nil }) { provider, queue in
            let sent = SQSTestEnvironment.envelope()
            try await provider.enqueue(OutgoingMessage(envelope: sent), to: queue)
            _ = try await SQSTestEnvironment.drain(provider, queue, count: 1)  // receive 1, never settled
            var letters: [DeadLetter] = []
            for _ in 0..<15 where letters.isEmpty {
                // A receive after the visibility timeout makes SQS apply the redrive policy.
                let again = try await provider.receive(from: queue, max: 10, wait: .seconds(1))
                #expect(again.isEmpty)
                letters = try await provider.deadLetters(of: queue, limit: 10)
            }
            #expect(letters.count == 1)
            #expect(try letters.first?.envelope.get().id == sent.id)
            #expect(try await provider.stats(of: queue).deadLettered == 1)
            #expect(try await provider.purgeDeadLetters(of: queue) == 1)
        }
    }

    @Test func explicitDeadLetterKeepsTheReasonAndRedrives() async throws {
        try await SQSTestEnvironment.withQueue("dlq") { provider, queue in
            let sent = SQSTestEnvironment.envelope()
            try await provider.enqueue(OutgoingMessage(envelope: sent), to: queue)
            let message = try #require(try await SQSTestEnvironment.drain(provider, queue, count: 1).first)
            try await provider.fail(message, reason: FailureReason(code: "unknown_task", message: "no handler for test.echo"), retryAfter: nil)
            let letters = try await provider.deadLetters(of: queue, limit: 10)
            #expect(letters.count == 1)
            #expect(letters.first?.reason == FailureReason(code: "unknown_task", message: "no handler for test.echo"))
            #expect(letters.first?.attempts == 1)
            // Listing leaves them in place.
            #expect(try await provider.deadLetters(of: queue, limit: 10).count == 1)
            #expect(try await provider.redrive(queue, ids: nil) == 1)
            let back = try #require(try await SQSTestEnvironment.drain(provider, queue, count: 1).first)
            let envelope = try back.envelope.get()
            #expect(envelope.id == sent.id)
            #expect(back.attempt == 1)
            #expect(envelope.headers[Envelope.HeaderKey.deadLetterReason] == nil)
            try await provider.acknowledge(back)
        }
    }

    @Test func malformedBodiesReachTheWorkerAndDeadLetterByteIdentical() async throws {
        try await SQSTestEnvironment.withQueue("malformed") { provider, queue in
            // A foreign producer's body, sent through a raw URL-addressed path of the same provider.
            var bad = SQSTestEnvironment.envelope()
            bad.version = 99
            try await provider.enqueue(OutgoingMessage(envelope: bad), to: queue)
            let message = try #require(try await SQSTestEnvironment.drain(provider, queue, count: 1).first)
            let error = try #require(throws: ConveyorError.self) { try message.envelope.get() }
            #expect(error.code == .unsupportedEnvelopeVersion)
            try await provider.fail(message, reason: FailureReason(error), retryAfter: nil)
            let letters = try await provider.deadLetters(of: queue, limit: 10)
            #expect(letters.first?.rawBody == message.rawBody)
            #expect(letters.first?.reason.code == "unsupported_envelope_version")
        }
    }

    @Test func oversizedMessagesAreRejectedBeforeSending() async throws {
        try await SQSTestEnvironment.withQueue("oversized") { provider, queue in
            let big = String(repeating: "x", count: 1_100_000)  // over both the classic 256 KiB and the newer 1 MiB limit
            let messages = [
                OutgoingMessage(envelope: SQSTestEnvironment.envelope()),
                OutgoingMessage(envelope: SQSTestEnvironment.envelope(payload: "\"\(big)\"")),
            ]
            await #expect {
                _ = try await provider.enqueue(messages, to: queue)
            } throws: { error in
                (error as? ConveyorError)?.code == .messageTooLarge && "\(error)".contains(messages[1].envelope.id.rawValue)
            }
            let leftover = try await provider.receive(from: queue, max: 10, wait: .seconds(1))
            #expect(leftover.count == 0)
        }
    }

    @Test func batchPartialFailureIsReportedNotDropped() async throws {
        try await SQSTestEnvironment.withQueue("partial") { provider, queue in
            // U+FFFE is not allowed in SQS message bodies: that one entry fails, the others are sent. (The codec writes
            // it escaped in the envelope's own strings; a payload is sent as the bytes it was given.)
            let good = (0..<3).map { _ in OutgoingMessage(envelope: SQSTestEnvironment.envelope()) }
            let bad = OutgoingMessage(envelope: SQSTestEnvironment.envelope("bad.task", payload: "\"\u{FFFE}\""))
            var thrown: ConveyorError?
            do {
                _ = try await provider.enqueue(good + [bad], to: queue)
            } catch let error as ConveyorError {
                thrown = error
            }
            let error = try #require(thrown)
            #expect(error.message.contains(bad.envelope.id.rawValue))
            #expect(error.message.contains("1 of 4"))
            #expect(error.code == .notConfirmed)
            let report = try #require(error.enqueueReport)
            #expect(Set(report.sent) == Set(good.map(\.envelope.id)))
            #expect(Array(report.failed.keys) == [bad.envelope.id])
            #expect(report.uncertain.isEmpty)
            let received = try await SQSTestEnvironment.drain(provider, queue, count: 3)
            #expect(Set(received.compactMap { try? $0.envelope.get().id }) == Set(good.map(\.envelope.id)))
            try await provider.acknowledge(received)
        }
    }

    @Test func queuesCanBeAddressedByURL() async throws {
        try await SQSTestEnvironment.withQueue("by-url") { provider, queue in
            let url = try await SQSTestEnvironment.queueURL(provider, queue)
            #expect(url.hasPrefix("http"))
            let sent = SQSTestEnvironment.envelope()
            try await provider.enqueue(OutgoingMessage(envelope: sent), to: url)
            let received = try await SQSTestEnvironment.drain(provider, url, count: 1)
            #expect(received.count == 1)
            let message = try #require(received.first)
            #expect(try message.envelope.get().id == sent.id)
            #expect(message.queue == url)
            try await provider.acknowledge(message)
            // The same queue by name: the message is gone.
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready + stats.inFlight == 0)
        }
    }

    @Test func batchAcknowledgeDeletesTheValidReceiptsAndIgnoresAStaleOne() async throws {
        try await SQSTestEnvironment.withQueue("ack-partial") { provider, queue in
            let (_, received) = try await SQSTestEnvironment.sendAndReceive(provider, queue, count: 4)
            #expect(received.count == 4)
            let stale = SQSTestEnvironment.messageWithBogusReceipt(in: queue)
            try await provider.acknowledge(Array(received.prefix(2)) + [stale] + Array(received.dropFirst(2)))
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready + stats.inFlight + stats.delayed == 0)
        }
    }

    @Test func fifoQueuesDeduplicate() async throws {
        try await SQSTestEnvironment.withQueue("dedup", fifo: true) { provider, queue in
            let first = OutgoingMessage(envelope: SQSTestEnvironment.envelope(dedup: "order-42"), groupID: "g1")
            let second = OutgoingMessage(envelope: SQSTestEnvironment.envelope(dedup: "order-42"), groupID: "g1")
            let third = OutgoingMessage(envelope: SQSTestEnvironment.envelope(dedup: "order-43"), groupID: "g1")
            try await provider.enqueue(first, to: queue)
            try await provider.enqueue(second, to: queue)
            try await provider.enqueue(third, to: queue)
            var received: [ReceivedMessage] = []
            for _ in 0..<4 {
                let batch = try await provider.receive(from: queue, max: 10, wait: .seconds(1))
                received += batch
                try await provider.acknowledge(batch)
            }
            #expect(received.compactMap { try? $0.envelope.get().id } == [first.envelope.id, third.envelope.id])
        }
    }

    @Test func missingQueueIsATypedError() async throws {
        let provider = try SQSTestEnvironment.makeProvider()
        await #expect {
            _ = try await provider.receive(from: SQSTestEnvironment.uniqueName("missing"), max: 1, wait: .zero)
        } throws: { error in
            (error as? ConveyorError)?.code == .queueNotFound
        }
        try await provider.close()
    }

    @Test func closedProviderRefusesCalls() async throws {
        let provider = try SQSTestEnvironment.makeProvider()
        try await provider.close()
        await #expect {
            _ = try await provider.receive(from: "default", max: 1, wait: .zero)
        } throws: { error in
            (error as? ConveyorError)?.code == .closed
        }
    }

    @Test(.enabled(if: SQSTestEnvironment.verifiesSignatures, "needs a signature-checking endpoint: eval \"$(scripts/sqs-test-env.sh ../shared/tools/sigv4_proxy.py)\""))
    func badCredentialsAreRefusedWithoutLeakingTheSecret() async throws {
        let secret = "NotTheRightSecretKeyConveyorTest0123456789"
        let provider = try SQSTestEnvironment.makeProvider(
            credentials: StaticCredentialsProvider(AWSCredentials(accessKeyID: "AKIDCONVEYORBADKEY", secretAccessKey: secret))
        )
        await #expect {
            _ = try await provider.stats(of: "default")
        } throws: { error in
            guard let error = error as? ConveyorError else { return false }
            return (error.code == .signatureMismatch || error.code == .accessDenied) && !"\(error)".contains(secret)
        }
        try await provider.close()
    }
}
