import Conveyor
import ConveyorSQS
import Foundation
import Testing

/// A message whose SQS size (body plus the attributes the provider sends) is `bytes`.
private func envelope(sqsSize bytes: Int, task: String = "test.big") -> Envelope {
    var envelope = Envelope(task: task, payload: Array(#""""#.utf8))
    let overhead = EnvelopeCodec.encode(envelope).count + "conveyor.task".utf8.count + task.utf8.count + "String".utf8.count
    envelope.payload = Array("\"\(String(repeating: "p", count: max(0, bytes - overhead)))\"".utf8)
    return envelope
}

private func received(_ envelope: Envelope, queue: String = "orders") -> ReceivedMessage {
    ReceivedMessage(queue: queue, receipt: Receipt("r"), attempt: 3, envelope: .success(envelope))
}

private let longReason = (0..<200).map { "step \($0) failed: the downstream service answered 503;" }.joined(separator: " ")

/// Building the dead-letter copy within the dead-letter queue's size limit (no broker).
@Suite("SQS dead-letter copies fit the size limit")
struct SQSDeadLetterCopyTests {
    private func reason(of copy: SQSQueueProvider.DeadLetterCopy) -> String? {
        copy.attributes["conveyor.dead_letter_reason"]?.stringValue
    }

    @Test func smallMessagesKeepTheWholeReasonInHeadersAndAttributes() throws {
        let message = received(envelope(sqsSize: 300))
        let copy = try SQSQueueProvider.deadLetterCopy(
            of: message, reason: FailureReason(code: "task_error", message: "boom"), limit: SQSQueueProvider.defaultMaximumMessageBytes
        )
        #expect(copy.fit == .complete)
        #expect(reason(of: copy) == "boom")
        let decoded = try EnvelopeCodec.decode(Array(copy.body.utf8))
        #expect(decoded.headers[Envelope.HeaderKey.deadLetterReason] == "boom")
        #expect(decoded.headers[Envelope.HeaderKey.deadLetterAttempt] == "3")
    }

    @Test func aLongReasonIsShortenedFirst() throws {
        let message = received(envelope(sqsSize: 200))
        let copy = try SQSQueueProvider.deadLetterCopy(of: message, reason: FailureReason(code: "task_error", message: longReason), limit: 1024)
        #expect(copy.size <= 1024)
        #expect(copy.fit == .reasonTruncated)
        let kept = try #require(reason(of: copy))
        #expect(kept.hasSuffix("…"))
        #expect(longReason.hasPrefix(String(kept.dropLast())))
        let decoded = try EnvelopeCodec.decode(Array(copy.body.utf8))
        #expect(decoded.headers[Envelope.HeaderKey.deadLetterReason] == kept)
    }

    @Test func nearTheLimitTheHeadersGoAndTheReasonStaysInAttributes() throws {
        let original = envelope(sqsSize: 1024 - 90)
        let message = received(original)
        let copy = try SQSQueueProvider.deadLetterCopy(of: message, reason: FailureReason(code: "task_error", message: longReason), limit: 1024)
        #expect(copy.size <= 1024)
        #expect(copy.fit == .minimal || copy.fit == .headersDropped)
        // The envelope goes as it was received; the failure is in the attributes.
        #expect(copy.body == String(decoding: EnvelopeCodec.encode(original), as: UTF8.self))
        let kept = try #require(reason(of: copy))
        #expect(!kept.isEmpty && longReason.hasPrefix(String(kept.dropLast())))
        #expect(copy.attributes["conveyor.dead_letter_code"]?.stringValue == "task_error")
    }

    @Test func undecodableBodiesStayByteIdentical() throws {
        let raw = Array(String(repeating: "z", count: 940).utf8)
        let message = ReceivedMessage(
            queue: "orders", receipt: Receipt("r"), attempt: 1,
            envelope: .failure(ConveyorError(.malformedEnvelope, "not JSON")), rawBody: raw
        )
        let copy = try SQSQueueProvider.deadLetterCopy(of: message, reason: FailureReason(code: "malformed_envelope", message: longReason), limit: 1024)
        #expect(copy.size <= 1024)
        #expect(Array(copy.body.utf8) == raw)
        #expect(reason(of: copy)?.isEmpty == false)
    }

    /// Task names, correlation ids, trace values and reasons come from the job, which may hold characters SQS refuses
    /// in a message attribute (controls, U+FFFE, U+FFFF): the copy's attributes carry U+FFFD instead, so SQS
    /// accepts the copy, and the body keeps them (escaped). Found by WorkerFuzzTests (SQS, seed 20251125).
    @Test func attributesHoldNoCharacterSQSRefuses() throws {
        var odd = envelope(sqsSize: 300, task: "test.\u{0}task\u{FFFF}")
        odd.correlationID = "corr\u{1}\u{FFFE}"
        odd.traceContext = ["traceparent": "00-\u{7F}\u{1F}"]
        let message = received(odd)
        let copy = try SQSQueueProvider.deadLetterCopy(
            of: message, reason: FailureReason(code: "unknown\u{0}", message: "no task named \"\(odd.task)\""),
            limit: SQSQueueProvider.defaultMaximumMessageBytes
        )
        func refused(_ scalar: Unicode.Scalar) -> Bool {
            switch scalar.value {
            case 0x9, 0xA, 0xD, 0x20...0xD7FF, 0xE000...0xFFFD, 0x10000...0x10FFFF: false
            default: true
            }
        }
        #expect(copy.attributes.count >= 5)
        for (name, attribute) in copy.attributes {
            let value = try #require(attribute.stringValue, "\(name)")
            #expect(!value.unicodeScalars.contains(where: refused), "\(name): \(value.unicodeScalars.map { String($0.value, radix: 16) })")
        }
        #expect(copy.attributes["conveyor.task"]?.stringValue == "test.\u{FFFD}task\u{FFFD}")
        #expect(!copy.body.unicodeScalars.contains(where: refused))
        #expect(try EnvelopeCodec.decode(Array(copy.body.utf8)).task == odd.task)
    }

    @Test func aCopyThatCannotFitIsRefusedNotTruncated() {
        let message = received(envelope(sqsSize: 1100))
        #expect {
            _ = try SQSQueueProvider.deadLetterCopy(of: message, reason: FailureReason(code: "task_error", message: "boom"), limit: 1024)
        } throws: { error in
            (error as? ConveyorError)?.code == .messageTooLarge
        }
    }
}

/// On LocalStack, with queues whose `MaximumMessageSize` is 1024 bytes.
@Suite("SQS dead-lettering near the size limit on LocalStack", .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT: eval \"$(scripts/sqs-test-env.sh)\" starts LocalStack and prints the exports"), .serialized)
struct SQSDeadLetterSizeTests {
    @Test func aMessageNearTheLimitReachesTheDeadLetterQueueWithItsReason() async throws {
        try await SQSTestEnvironment.withQueue("dlq-size") { provider, queue in
            for name in [queue, queue + "-dlq"] {
                let url = try await SQSTestEnvironment.queueURL(provider, name)
                _ = try await provider.client.call(SQSAPI.SetQueueAttributes(queueURL: url, attributes: ["MaximumMessageSize": "1024"]))
            }
            let sent = envelope(sqsSize: 1024 - 90)
            try await provider.enqueue(OutgoingMessage(envelope: sent), to: queue)
            let message = try #require(try await SQSTestEnvironment.drain(provider, queue, count: 1).first)
            #expect(try message.envelope.get().id == sent.id)

            try await provider.fail(message, reason: FailureReason(code: "task_error", message: longReason), retryAfter: nil)

            let letters = try await provider.deadLetters(of: queue, limit: 10)
            #expect(letters.count == 1)
            let letter = try #require(letters.first)
            #expect(try letter.envelope.get().id == sent.id)
            #expect(try letter.envelope.get().payload == sent.payload)
            #expect(letter.reason.code == "task_error")
            #expect(letter.reason.message.count > 1 && longReason.hasPrefix(String(letter.reason.message.dropLast())))
            // The original was deleted.
            #expect(try await provider.receive(from: queue, max: 10, wait: .seconds(1)).isEmpty)
        }
    }
}
