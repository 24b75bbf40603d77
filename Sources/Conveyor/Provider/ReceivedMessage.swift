import Foundation

/// A message handed out by ``QueueProvider/receive(from:max:wait:)``, to be settled with `acknowledge`, `fail`
/// or left to time out.
public struct ReceivedMessage: Sendable {
    /// The queue it came from.
    public var queue: String
    /// The broker's handle for settling this delivery.
    public var receipt: Receipt
    /// The delivery attempt, from 1, as counted by the broker (SQS `ApproximateReceiveCount`, AMQP headers,
    /// the memory provider's receive count) plus the envelope's ``Envelope/attemptOffset``.
    public var attempt: Int
    /// The decoded envelope, or why the body could not be decoded (such messages are dead-lettered by the
    /// worker with that reason).
    public var envelope: Result<Envelope, ConveyorError>
    /// The raw body when decoding failed, kept so that the dead-lettered copy is byte-identical.
    public var rawBody: [UInt8]?
    /// When the broker first accepted the message, if it tells (for queue-wait metrics).
    public var enqueuedAt: Date?
    /// Trace context carried by the broker message itself (SQS message attributes, AMQP headers: `traceparent`,
    /// `tracestate`). The worker uses it when the envelope carries none, e.g. for a producer in another
    /// language that set only the broker attributes.
    public var brokerTraceContext: [String: String]

    /// Creates a received message.
    public init(
        queue: String,
        receipt: Receipt,
        attempt: Int,
        envelope: Result<Envelope, ConveyorError>,
        rawBody: [UInt8]? = nil,
        enqueuedAt: Date? = nil,
        brokerTraceContext: [String: String] = [:]
    ) {
        self.queue = queue
        self.receipt = receipt
        self.attempt = attempt
        self.envelope = envelope
        self.rawBody = rawBody
        self.enqueuedAt = enqueuedAt
        self.brokerTraceContext = brokerTraceContext
    }
}

/// A provider's opaque handle for one delivery of a message.
///
/// Providers fill whichever fields they need: SQS keeps its receipt handle in ``token``; RabbitMQ keeps the
/// delivery tag in ``sequence`` and the connection generation in ``generation``; the memory provider keeps a
/// delivery number.
public struct Receipt: Hashable, Sendable, CustomStringConvertible {
    /// A textual handle (SQS receipt handle).
    public var token: String
    /// A numeric handle (AMQP delivery tag, memory delivery number).
    public var sequence: UInt64
    /// Which connection or epoch issued the handle; a receipt from an older generation is stale.
    public var generation: UInt64

    /// Creates a receipt.
    public init(token: String = "", sequence: UInt64 = 0, generation: UInt64 = 0) {
        self.token = token
        self.sequence = sequence
        self.generation = generation
    }

    /// `generation.sequence`, or the first 16 characters of the token: enough to tell receipts apart in logs.
    public var description: String {
        token.isEmpty ? "\(generation).\(sequence)" : "\(token.prefix(16))…"
    }
}

/// Why a message failed, as stored with a retried or dead-lettered message.
public struct FailureReason: Sendable, Hashable, CustomStringConvertible {
    /// The error code (``ConveyorError/Code/rawValue`` or `"task_error"` for errors thrown by handlers).
    public var code: String
    /// A one-line explanation. Never contains secrets or the full payload.
    public var message: String

    /// Creates a reason.
    public init(code: String, message: String) {
        self.code = code
        self.message = message
    }

    /// A reason for a Conveyor error.
    public init(_ error: ConveyorError) {
        self.init(code: error.code.rawValue, message: error.message)
    }

    /// `code: message`.
    public var description: String { "\(code): \(message)" }
}
