import Conveyor

// The SQS provider's token in a `Receipt` is the message's receipt handle, a `String`.

extension ReceivedMessage {
    /// The SQS receipt handle of this delivery; empty for another provider's receipt (which SQS rejects as invalid).
    var receiptHandle: String {
        receipt.token(as: String.self) ?? ""
    }
}
