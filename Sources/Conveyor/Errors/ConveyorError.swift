/// An error raised by Conveyor or one of its providers.
///
/// Errors are a struct with an extensible ``Code`` rather than a public enum, so that new codes can be added
/// without breaking source compatibility. The ``message`` says what went wrong and, where possible, what to fix.
/// Messages never contain secrets (credentials, signed headers) or full job payloads.
public struct ConveyorError: Error, Sendable, Hashable, CustomStringConvertible {
    /// A category of error. Compare with the static members, e.g. `error.code == .queueNotFound`.
    public struct Code: Hashable, Sendable, CustomStringConvertible {
        /// The code's stable identifier, e.g. `"queue_not_found"`.
        public let rawValue: String
        /// Creates a code; providers may define their own codes in extensions.
        public init(_ rawValue: String) { self.rawValue = rawValue }
        /// The ``rawValue``, e.g. `queue_not_found`.
        public var description: String { rawValue }

        /// The configuration is invalid or incomplete.
        public static let invalidConfiguration = Code("invalid_configuration")
        /// The named queue does not exist.
        public static let queueNotFound = Code("queue_not_found")
        /// A queue of that name already exists with other attributes (creating it again with these failed).
        public static let queueAlreadyExists = Code("queue_already_exists")
        /// The broker could not be reached or the connection was lost.
        public static let connectionFailed = Code("connection_failed")
        /// The broker refused the credentials or the operation.
        public static let accessDenied = Code("access_denied")
        /// The broker throttled the request.
        public static let throttled = Code("throttled")
        /// The broker rejected a parameter.
        public static let invalidParameter = Code("invalid_parameter")
        /// The broker answered with an error that has no more specific code.
        public static let brokerError = Code("broker_error")
        /// A message body is not a valid Conveyor envelope.
        public static let malformedEnvelope = Code("malformed_envelope")
        /// A message envelope carries a version this build does not understand.
        public static let unsupportedEnvelopeVersion = Code("unsupported_envelope_version")
        /// A job names a task that no handler is registered for.
        public static let unknownTask = Code("unknown_task")
        /// A job's payload could not be decoded into the task's input type.
        public static let payloadDecodingFailed = Code("payload_decoding_failed")
        /// A task's input or output could not be encoded.
        public static let payloadEncodingFailed = Code("payload_encoding_failed")
        /// A message exceeds the broker's size limit.
        public static let messageTooLarge = Code("message_too_large")
        /// A task with this name is already registered.
        public static let duplicateTask = Code("duplicate_task")
        /// A job ran longer than its timeout.
        public static let timeout = Code("timeout")
        /// The receipt is unknown or expired (the message was redelivered or already settled).
        public static let invalidReceipt = Code("invalid_receipt")
        /// The provider has been closed.
        public static let closed = Code("closed")
        /// The operation was cancelled.
        public static let cancelled = Code("cancelled")
        /// The provider does not support the operation.
        public static let unsupported = Code("unsupported")
        /// The broker did not confirm a published message (nack, return, or connection lost before confirm).
        public static let notConfirmed = Code("not_confirmed")
        /// The broker holds no more of what was asked for (SQS: at most 50 tags per queue, which hold cancellations).
        public static let limitExceeded = Code("limit_exceeded")
    }

    /// The error's category.
    public var code: Code
    /// A human-readable explanation that says what to fix. Never contains secrets.
    public var message: String
    /// Whether retrying the same operation may succeed.
    public var isRetryable: Bool
    /// For an `enqueue` of several messages that did not fully succeed: which jobs were sent, which were not, and
    /// which may have been sent. `nil` for every other error.
    public var enqueueReport: EnqueueReport?

    /// Creates an error.
    public init(_ code: Code, _ message: String, retryable: Bool = false) {
        self.code = code
        self.message = message
        self.isRetryable = retryable
        self.enqueueReport = nil
    }

    /// Creates the error of an enqueue that did not fully succeed, with what became of each job.
    public init(_ code: Code, _ message: String, retryable: Bool = false, enqueueReport: EnqueueReport) {
        self.init(code, message, retryable: retryable)
        self.enqueueReport = enqueueReport
    }

    /// What became of each job of an ``QueueProvider/enqueue(_:to:)`` call that threw: every job of the call is in
    /// exactly one of the three lists.
    public struct EnqueueReport: Sendable, Hashable {
        /// Jobs the broker accepted (confirmed).
        public var sent: [JobID]
        /// Jobs the broker did not accept, with the reason for each. Sending them again does not duplicate them.
        public var failed: [JobID: String]
        /// Jobs whose outcome is unknown (a timeout, a dropped connection, a server error or a cancellation after the
        /// request left): they may be stored once already, so sending them again may run them twice.
        public var uncertain: [JobID]

        /// Creates a report.
        public init(sent: [JobID] = [], failed: [JobID: String] = [:], uncertain: [JobID] = []) {
            self.sent = sent
            self.failed = failed
            self.uncertain = uncertain
        }
    }

    /// `code: message`, e.g. `queue_not_found: ...`; never contains a secret.
    public var description: String { "\(code): \(message)" }
}
