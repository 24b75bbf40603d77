import Conveyor
import Foundation

extension SQSQueueProvider {
    /// The copy of a failed message sent to its dead-letter queue: body and message attributes, fitted to the
    /// dead-letter queue's size limit.
    package struct DeadLetterCopy: Sendable {
        /// How much of the added failure information had to go for the copy to fit.
        package enum Fit: String, Sendable {
            /// Reason headers and attributes, the reason at most 1000 bytes.
            case complete
            /// The reason text was shortened (in headers and attributes).
            case reasonTruncated = "reason_truncated"
            /// The envelope keeps only its own headers; the reason is in message attributes only.
            case headersDropped = "headers_dropped"
            /// The envelope as received with only the (shortened) reason and the code in attributes.
            case minimal
        }

        /// The message body: the envelope with the reason headers, or as received.
        package var body: String
        /// The `MessageAttributes` (String attributes).
        package var attributes: [String: SQSAPI.MessageAttribute]
        /// Body and attribute bytes as SQS counts them against `MaximumMessageSize`.
        package var size: Int
        /// What had to go for the copy to fit.
        package var fit: Fit
    }

    /// Longest reason text kept (bytes of UTF-8).
    static let maximumDeadLetterReasonBytes = 1000

    /// Builds the dead-letter copy of `message` within `limit` bytes (body plus message attributes).
    ///
    /// The failure is recorded in message attributes (`conveyor.dead_letter_*`) and, for a decodable envelope, in its
    /// headers (``Envelope/HeaderKey``). When that is too large the reason text is shortened first (down to 200
    /// bytes); then the added envelope headers are dropped (the reason stays in the attributes); then the task and
    /// trace attributes, the source and the attempt are dropped and the reason shortened as far as needed, the body
    /// being the envelope as received. Throws ``ConveyorError/Code/messageTooLarge`` when even that body with the
    /// failure code does not fit.
    package static func deadLetterCopy(
        of message: ReceivedMessage, reason: FailureReason, limit: Int, now: Date = Date()
    ) throws -> DeadLetterCopy {
        let reasonText = reason.message.isEmpty ? "-" : reason.message
        let code = reason.code.isEmpty ? "-" : reason.code.truncated(toUTF8Bytes: 256)
        let original: Envelope? = try? message.envelope.get()
        let originalBody: String
        if let original {
            originalBody = String(decoding: EnvelopeCodec.encode(original), as: UTF8.self)
        } else {
            let raw = String(decoding: message.rawBody ?? [], as: UTF8.self)
            originalBody = raw.isEmpty ? " " : raw
        }

        func build(reasonBytes: Int, headers: Bool, optionalAttributes: Bool, fit: DeadLetterCopy.Fit) -> DeadLetterCopy {
            let shortReason = reasonText.truncated(toUTF8Bytes: reasonBytes)
            var attributes: [String: SQSAPI.MessageAttribute] = [:]
            var size = 0
            func attribute(_ name: String, _ value: String?) {
                guard let value = value.map(sqsSafe), !value.isEmpty else { return }
                attributes[name] = .string(value)
                size += name.utf8.count + value.utf8.count + "String".utf8.count
            }
            attribute("conveyor.dead_letter_reason", shortReason.isEmpty ? "-" : shortReason)
            attribute("conveyor.dead_letter_code", code)
            var body = originalBody
            if optionalAttributes {
                attribute("conveyor.dead_letter_source", message.queue)
                attribute("conveyor.dead_letter_attempt", String(message.attempt))
            }
            if let original {
                if optionalAttributes {
                    attribute("conveyor.task", original.task)
                    attribute("conveyor.correlation_id", original.correlationID)
                    attribute("traceparent", original.traceContext["traceparent"])
                }
                if headers {
                    let envelope = original.deadLettered(
                        FailureReason(code: reason.code, message: shortReason), from: message.queue, attempt: message.attempt, at: now
                    )
                    body = String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self)
                }
            }
            size += body.utf8.count
            return DeadLetterCopy(body: body, attributes: attributes, size: size, fit: fit)
        }

        // Each stage shortens the reason by the excess until the copy fits or the stage's shortest reason is reached.
        let stages: [(headers: Bool, optional: Bool, minimumReason: Int, fit: DeadLetterCopy.Fit)] = [
            (true, true, 200, .reasonTruncated),
            (false, true, 200, .headersDropped),
            (false, false, 0, .minimal),
        ]
        var best: DeadLetterCopy?
        for (number, stage) in stages.enumerated() {
            var reasonBytes = maximumDeadLetterReasonBytes
            for _ in 0..<12 {
                let complete = reasonBytes == maximumDeadLetterReasonBytes
                let fit: DeadLetterCopy.Fit = number == 0 && complete ? .complete : stage.fit
                let copy = build(reasonBytes: reasonBytes, headers: stage.headers, optionalAttributes: stage.optional, fit: fit)
                if copy.size <= limit { return copy }
                best = copy
                if reasonBytes <= stage.minimumReason { break }
                reasonBytes = max(stage.minimumReason, min(reasonBytes, reasonText.utf8.count) - (copy.size - limit))
            }
        }
        throw ConveyorError(
            .messageTooLarge,
            "the dead-letter copy of \(original.map { "job \($0.id)" } ?? "a message") from \(message.queue) is \(best?.size ?? 0) bytes with only the failure code, over the dead-letter queue's \(limit)-byte limit; raise the dead-letter queue's MaximumMessageSize"
        )
    }
}
