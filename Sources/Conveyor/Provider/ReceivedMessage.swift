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
/// The core only carries receipts from ``QueueProvider/receive(from:max:wait:)`` back to the provider that issued
/// them; what is inside is the provider's business. A provider wraps its own token (SQS: the receipt handle;
/// RabbitMQ: the delivery tag and connection generation; memory: a delivery number and generation) with
/// ``init(_:)`` and reads it back with ``token(as:)``, treating a receipt whose token is of another type as stale.
public struct Receipt: Hashable, Sendable, CustomStringConvertible, CustomDebugStringConvertible {
    private let storage: any Hashable & Sendable

    /// Wraps a provider's token.
    public init(_ token: some Hashable & Sendable) {
        self.storage = token
    }

    /// The token, if it is a `Token` (the type the issuing provider wrapped); `nil` for another provider's receipt.
    public func token<Token: Hashable & Sendable>(as type: Token.Type = Token.self) -> Token? {
        storage as? Token
    }

    /// Receipts are equal when their tokens are of the same type and equal.
    public static func == (lhs: Receipt, rhs: Receipt) -> Bool {
        AnyHashable(lhs.storage) == AnyHashable(rhs.storage)
    }

    /// Hashes the token.
    public func hash(into hasher: inout Hasher) {
        hasher.combine(AnyHashable(storage))
    }

    /// The token as text, cut to its first 16 characters when longer (SQS receipt handles run to hundreds): enough to
    /// tell receipts apart in logs.
    public var description: String {
        let text = String(describing: storage)
        return text.count > 20 ? "\(text.prefix(16))…" : text
    }

    /// The whole token, with its type: distinct for distinct receipts.
    public var debugDescription: String {
        "Receipt(\(String(reflecting: storage)))"
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
