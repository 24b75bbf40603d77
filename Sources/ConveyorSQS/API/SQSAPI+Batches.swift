import Conveyor

extension SQSAPI {
    /// What a `*Batch` action answers: the entries that succeeded and those that failed, by id.
    package struct BatchResult: Sendable, Equatable {
        package var successful: [BatchSuccess]
        package var failed: [BatchFailure]

        package init(successful: [BatchSuccess] = [], failed: [BatchFailure] = []) {
            self.successful = successful
            self.failed = failed
        }

        /// Reads `Successful` and `Failed`; items without an `Id` are left out (the caller treats their entries as
        /// unanswered).
        static func read(_ object: JSONValue) -> BatchResult {
            BatchResult(
                successful: (object["Successful"]?.array ?? []).compactMap { item in
                    guard let id = item["Id"]?.string else { return nil }
                    return BatchSuccess(id: id, messageID: item["MessageId"]?.string)
                },
                failed: (object["Failed"]?.array ?? []).compactMap { item in
                    guard let id = item["Id"]?.string else { return nil }
                    return BatchFailure(
                        id: id, code: item["Code"]?.string ?? "unknown", message: item["Message"]?.string ?? "",
                        senderFault: item["SenderFault"]?.bool ?? false
                    )
                }
            )
        }
    }

    /// An entry of a `*Batch` call that succeeded.
    package struct BatchSuccess: Sendable, Equatable {
        package var id: String
        /// `MessageId` (`SendMessageBatch`).
        package var messageID: String?

        package init(id: String, messageID: String? = nil) {
            self.id = id
            self.messageID = messageID
        }
    }

    /// An entry of a `*Batch` call that failed.
    package struct BatchFailure: Sendable, Equatable {
        package var id: String
        package var code: String
        package var message: String
        /// Whether the request was at fault (not retried).
        package var senderFault: Bool

        package init(id: String, code: String, message: String, senderFault: Bool = false) {
            self.id = id
            self.code = code
            self.message = message
            self.senderFault = senderFault
        }
    }

    /// An entry that names a received message by its receipt handle.
    package struct ReceiptEntry: SQSBatchEntry, Equatable {
        package var id: String
        package var receiptHandle: String

        package init(id: String, receiptHandle: String) {
            self.id = id
            self.receiptHandle = receiptHandle
        }
    }

    /// `SendMessageBatch`.
    package struct SendMessageBatch: SQSBatchRequest {
        /// One message of the batch.
        package struct Entry: SQSBatchEntry, Equatable {
            package var id: String
            package var message: MessageFields

            package init(id: String, message: MessageFields) {
                self.id = id
                self.message = message
            }
        }

        package static let action = "SendMessageBatch"
        package var queueURL: String
        package var entries: [Entry]

        package init(queueURL: String, entries: [Entry]) {
            self.queueURL = queueURL
            self.entries = entries
        }

        package var messageCount: Int { entries.count }

        package var json: JSONValue {
            let items: [JSONValue] = entries.map { entry in
                var members = entry.message.members
                members["Id"] = .string(entry.id)
                return .object(members)
            }
            return ["QueueUrl": .string(queueURL), "Entries": .array(items)]
        }

        package static func response(from object: JSONValue) throws(ConveyorError) -> BatchResult { .read(object) }
    }

    /// `DeleteMessageBatch`.
    package struct DeleteMessageBatch: SQSBatchRequest {
        package static let action = "DeleteMessageBatch"
        package var queueURL: String
        package var entries: [ReceiptEntry]

        package init(queueURL: String, entries: [ReceiptEntry]) {
            self.queueURL = queueURL
            self.entries = entries
        }

        package var json: JSONValue {
            let items: [JSONValue] = entries.map { ["Id": .string($0.id), "ReceiptHandle": .string($0.receiptHandle)] }
            return ["QueueUrl": .string(queueURL), "Entries": .array(items)]
        }

        package static func response(from object: JSONValue) throws(ConveyorError) -> BatchResult { .read(object) }
    }

    /// `ChangeMessageVisibilityBatch`, every entry to the same visibility timeout.
    package struct ChangeMessageVisibilityBatch: SQSBatchRequest {
        package static let action = "ChangeMessageVisibilityBatch"
        package var queueURL: String
        package var entries: [ReceiptEntry]
        /// Seconds from now (0 to 43,200).
        package var visibilityTimeout: Int

        package init(queueURL: String, entries: [ReceiptEntry], visibilityTimeout: Int) {
            self.queueURL = queueURL
            self.entries = entries
            self.visibilityTimeout = visibilityTimeout
        }

        package var json: JSONValue {
            let items: [JSONValue] = entries.map {
                ["Id": .string($0.id), "ReceiptHandle": .string($0.receiptHandle), "VisibilityTimeout": .int(visibilityTimeout)]
            }
            return ["QueueUrl": .string(queueURL), "Entries": .array(items)]
        }

        package static func response(from object: JSONValue) throws(ConveyorError) -> BatchResult { .read(object) }
    }
}
