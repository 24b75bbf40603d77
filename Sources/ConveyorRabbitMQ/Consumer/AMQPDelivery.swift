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
        self.deliveryTag = tag
        self.redelivered = redelivered
        self.body = message.body.array
        let p = message.properties
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

    /// The delivery as a ``ReceivedMessage``, with ``traceContext`` as its broker trace context.
    ///
    /// The attempt is `max(x-conveyor-attempt ?? 1, attempt_offset + 1)` plus the redeliveries the broker
    /// reports: `x-delivery-count` on quorum queues, or 1 when a classic queue sets `redelivered` (classic
    /// queues do not count redeliveries, so repeated redeliveries of one copy count as one).
    func received(queue: String, generation: UInt64) -> ReceivedMessage {
        let envelope: Result<Envelope, ConveyorError>
        do throws(ConveyorError) {
            envelope = .success(try EnvelopeCodec.decode(body))
        } catch {
            envelope = .failure(error)
        }
        var base = headers[AMQPHeader.attempt]?.intValue ?? 1
        if case .success(let e) = envelope { base = max(base, e.attemptOffset + 1) }
        let redeliveries: Int
        if let count = headers[AMQPHeader.deliveryCount]?.intValue {
            redeliveries = count
        } else {
            redeliveries = redelivered ? 1 : 0
        }
        var rawBody: [UInt8]? = nil
        if case .failure = envelope { rawBody = body }
        return ReceivedMessage(
            queue: queue,
            receipt: Receipt(token: "", sequence: deliveryTag, generation: generation),
            attempt: max(1, base + redeliveries),
            envelope: envelope,
            rawBody: rawBody,
            enqueuedAt: timestamp.map { Date(timeIntervalSince1970: TimeInterval($0)) },
            brokerTraceContext: traceContext
        )
    }
}
