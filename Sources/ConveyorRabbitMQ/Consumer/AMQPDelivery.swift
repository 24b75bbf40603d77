import CRabbitMQ
import Conveyor
import Foundation

/// Header names Conveyor writes on AMQP messages.
enum AMQPHeader {
    /// The task name.
    static let task = "x-conveyor-task"
    /// The attempt the copy is for (set on retry copies).
    static let attempt = "x-conveyor-attempt"
    /// Why a job was dead-lettered.
    static let deadLetterReason = "x-conveyor-dead-letter-reason"
    /// The error code that dead-lettered a job.
    static let deadLetterCode = "x-conveyor-dead-letter-code"
    /// W3C trace context.
    static let traceparent = "traceparent"
    static let tracestate = "tracestate"
    /// Redeliveries counted by quorum queues.
    static let deliveryCount = "x-delivery-count"
}

/// A message read from the broker, copied out of librabbitmq's buffers.
struct AMQPDelivery: Sendable {
    var deliveryTag: UInt64
    var redelivered: Bool
    var body: [UInt8]
    var headers: [String: AMQPHeaderValue]
    var messageID: String?
    var correlationID: String?
    var priority: UInt8?
    var timestamp: UInt64?
    /// `content_type`.
    var contentType: String?
    /// `delivery_mode` (2: persistent).
    var deliveryMode: UInt8?

    /// Copies `message` (thread only; before `amqp_destroy_message`).
    init(tag: UInt64, redelivered: Bool, message: amqp_message_t) {
        self.init(tag: tag, redelivered: redelivered, properties: message.properties, body: message.body.array)
    }

    /// Copies `properties` (thread only; while the memory they point to is alive).
    init(tag: UInt64, redelivered: Bool, properties p: amqp_basic_properties_t, body: [UInt8]) {
        self.deliveryTag = tag
        self.redelivered = redelivered
        self.body = body
        let flags = UInt32(p._flags)
        headers = (flags & conveyor_flag_headers) != 0 ? p.headers.decoded() : [:]
        messageID = (flags & conveyor_flag_message_id) != 0 ? p.message_id.string : nil
        correlationID = (flags & conveyor_flag_correlation_id) != 0 ? p.correlation_id.string : nil
        priority = (flags & conveyor_flag_priority) != 0 ? p.priority : nil
        timestamp = (flags & conveyor_flag_timestamp) != 0 ? p.timestamp : nil
        contentType = (flags & conveyor_flag_content_type) != 0 ? p.content_type.string : nil
        deliveryMode = (flags & conveyor_flag_delivery_mode) != 0 ? p.delivery_mode : nil
    }

    /// The W3C trace context of the message's own headers (`traceparent`, `tracestate`; string values only),
    /// for ``ReceivedMessage/brokerTraceContext``.
    var traceContext: [String: String] {
        var context: [String: String] = [:]
        for key in [AMQPHeader.traceparent, AMQPHeader.tracestate] {
            if case .string(let value) = headers[key], !value.isEmpty { context[key] = value }
        }
        return context
    }

    /// The highest attempt a delivery is given: 2^31 - 1. Every number that goes into an attempt comes from the
    /// producer or the broker (`x-conveyor-attempt`, `x-delivery-count`, `attempt_offset`), so each is clamped
    /// before it is added: an absurd value (e.g. `Int64.max`) yields this attempt, and the job dead-letters
    /// through the worker's normal max-attempts path the first time it fails. Nothing traps and no job is lost.
    static let maximumAttempt = Int(Int32.max)

    /// The latest `timestamp` property read as ``ReceivedMessage/enqueuedAt``: 9999-12-31T23:59:59Z (the end of
    /// RFC 3339's range). A later one is ignored (`nil`), so that no caller computes with an absurd date.
    static let maximumTimestamp: UInt64 = 253_402_300_799

    /// The delivery as a ``ReceivedMessage``, with ``traceContext`` as its broker trace context.
    ///
    /// The attempt is `max(x-conveyor-attempt ?? 1, attempt_offset + 1)` plus the redeliveries the broker
    /// reports: `x-delivery-count` on quorum queues, or 1 when a classic queue sets `redelivered` (classic
    /// queues do not count redeliveries, so repeated redeliveries of one copy count as one). See
    /// ``attempt(header:attemptOffset:deliveryCount:redelivered:)`` for how absurd values are clamped.
    func received(queue: String, generation: UInt64) -> ReceivedMessage {
        let envelope: Result<Envelope, ConveyorError>
        do throws(ConveyorError) {
            envelope = .success(try EnvelopeCodec.decode(body))
        } catch {
            envelope = .failure(error)
        }
        var rawBody: [UInt8]? = nil
        if case .failure = envelope { rawBody = body }
        let attempt = Self.attempt(
            header: headers[AMQPHeader.attempt]?.intValue,
            attemptOffset: try? envelope.get().attemptOffset,
            deliveryCount: headers[AMQPHeader.deliveryCount]?.intValue,
            redelivered: redelivered
        )
        return ReceivedMessage(
            queue: queue,
            receipt: Receipt(AMQPReceipt(deliveryTag: deliveryTag, generation: generation)),
            attempt: attempt,
            envelope: envelope,
            rawBody: rawBody,
            enqueuedAt: Self.date(timestamp: timestamp),
            brokerTraceContext: traceContext
        )
    }

    /// The attempt of a delivery, from 1 to ``maximumAttempt``, whatever the numbers: `header`
    /// (`x-conveyor-attempt`) is clamped to `1...maximumAttempt`, `attemptOffset` to `0...maximumAttempt - 1`,
    /// the redeliveries (`deliveryCount`, or 1 for `redelivered`) to `0...maximumAttempt`; their sum is capped
    /// at ``maximumAttempt``.
    static func attempt(header: Int?, attemptOffset: Int?, deliveryCount: Int?, redelivered: Bool) -> Int {
        var base = clamp(header ?? 1, 1, maximumAttempt)
        if let attemptOffset { base = max(base, clamp(attemptOffset, 0, maximumAttempt - 1) + 1) }
        let redeliveries = deliveryCount.map { clamp($0, 0, maximumAttempt) } ?? (redelivered ? 1 : 0)
        let (sum, overflow) = base.addingReportingOverflow(redeliveries)
        return overflow ? maximumAttempt : min(sum, maximumAttempt)
    }

    /// The attempt after `attempt` (for a retry copy), capped at ``maximumAttempt``.
    static func nextAttempt(after attempt: Int) -> Int {
        clamp(attempt, 0, maximumAttempt - 1) + 1
    }

    /// `timestamp` (seconds since 1970) as a date, or `nil` when absent or after ``maximumTimestamp``.
    static func date(timestamp: UInt64?) -> Date? {
        guard let timestamp, timestamp <= maximumTimestamp else { return nil }
        return Date(timeIntervalSince1970: TimeInterval(timestamp))
    }

    /// `date` as a `timestamp` property (whole seconds since 1970), clamped to `0...maximumTimestamp`; a
    /// non-finite date gives 0.
    static func timestamp(of date: Date) -> UInt64 {
        let seconds = date.timeIntervalSince1970
        guard seconds.isFinite, seconds > 0 else { return 0 }
        guard seconds < Double(maximumTimestamp) else { return maximumTimestamp }
        return UInt64(seconds)
    }

    private static func clamp(_ value: Int, _ low: Int, _ high: Int) -> Int {
        min(max(value, low), high)
    }
}
