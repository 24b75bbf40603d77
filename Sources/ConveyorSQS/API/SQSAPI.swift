import Conveyor
import Logging

/// The SQS actions the provider calls, as typed requests and responses of the AWS JSON 1.0 protocol.
///
/// A request writes its JSON object with the package's one writer (`JSONText`); a response is read with its one
/// reader (`JSONReader`, limits ``SQSClient/responseLimits``) and then checked field by field, so that a missing or
/// mistyped field is a typed error or a documented default, never a trap. Hand-written rather than `Codable`: the
/// measured cost per job on LocalStack was 442 µs against 649 µs with Foundation's `JSONEncoder`/`JSONDecoder`.
package enum SQSAPI {
    /// The answer of an action whose response carries nothing the provider uses.
    package struct Empty: Sendable, Equatable {
        package init() {}
    }
}

/// One SQS action: its typed request, and how its JSON answer becomes the typed ``Response``.
package protocol SQSRequest: Sendable {
    /// What the action answers.
    associatedtype Response: Sendable
    /// The action's name (`X-Amz-Target: AmazonSQS.<action>`).
    static var action: String { get }
    /// The request's JSON object.
    var json: JSONValue { get }
    /// How many messages a send carries (for reports of possible duplicates); 1 by default.
    var messageCount: Int { get }
    /// The typed answer read from the response's JSON object (`{}` for an empty body).
    static func response(from object: JSONValue) throws(ConveyorError) -> Response
    /// What the request log (trace level) shows of the request beside its action; nothing by default.
    var logMetadata: Logger.Metadata { get }
}

extension SQSRequest {
    package var messageCount: Int { 1 }
    package var logMetadata: Logger.Metadata { [:] }
}

extension SQSRequest where Response == SQSAPI.Empty {
    package static func response(from object: JSONValue) throws(ConveyorError) -> SQSAPI.Empty { SQSAPI.Empty() }
}

/// A `*Batch` action: entries with ids, answered with ``SQSAPI/BatchResult``.
package protocol SQSBatchRequest: SQSRequest where Response == SQSAPI.BatchResult {
    /// One entry of the batch.
    associatedtype Entry: SQSBatchEntry
    /// The entries (at most 10), each with an id unique in the request.
    var entries: [Entry] { get set }
}

/// An entry of a ``SQSBatchRequest``.
package protocol SQSBatchEntry: Sendable {
    /// The entry's id in its request (`Id`).
    var id: String { get }
}

extension JSONValue {
    /// The text of a JSON string or number (SQS sends numbers as strings; other producers or emulators may not).
    var numberText: String? {
        switch self {
        case .string(let text), .number(let text): text
        default: nil
        }
    }
}
