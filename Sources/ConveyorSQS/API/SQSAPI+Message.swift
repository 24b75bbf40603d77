import Conveyor

extension SQSAPI {
    /// A message to send (`SendMessage`, or an entry of `SendMessageBatch`).
    package struct MessageFields: Sendable, Equatable {
        /// `MessageBody`.
        package var body: String
        /// `MessageAttributes`, left out when empty.
        package var attributes: [String: MessageAttribute]
        /// `DelaySeconds` (standard queues).
        package var delaySeconds: Int?
        /// `MessageGroupId` (FIFO queues).
        package var groupID: String?
        /// `MessageDeduplicationId` (FIFO queues).
        package var deduplicationID: String?

        package init(
            body: String, attributes: [String: MessageAttribute] = [:], delaySeconds: Int? = nil, groupID: String? = nil,
            deduplicationID: String? = nil
        ) {
            self.body = body
            self.attributes = attributes
            self.delaySeconds = delaySeconds
            self.groupID = groupID
            self.deduplicationID = deduplicationID
        }

        /// The fields as members of a request object (`QueueUrl` or `Id` are added by the caller).
        var members: [String: JSONValue] {
            var fields: [String: JSONValue] = ["MessageBody": .string(body)]
            if !attributes.isEmpty { fields["MessageAttributes"] = .object(attributes.mapValues(\.json)) }
            if let delaySeconds { fields["DelaySeconds"] = .int(delaySeconds) }
            if let groupID { fields["MessageGroupId"] = .string(groupID) }
            if let deduplicationID { fields["MessageDeduplicationId"] = .string(deduplicationID) }
            return fields
        }
    }

    /// A received message (an item of `ReceiveMessage`'s `Messages`). Fields SQS left out, or sent with another
    /// type, are empty: the provider checks what it uses (a missing body is a malformed envelope).
    package struct Message: Sendable, Equatable {
        /// `MessageId` (empty when missing).
        package var messageID: String
        /// `ReceiptHandle` (empty when missing).
        package var receiptHandle: String
        /// `Body` (empty when missing).
        package var body: String
        /// System attributes (`Attributes`), each the text of a string or number.
        package var attributes: [String: String]
        /// `MessageAttributes`.
        package var messageAttributes: [String: MessageAttribute]

        package init(
            messageID: String = "", receiptHandle: String = "", body: String = "", attributes: [String: String] = [:],
            messageAttributes: [String: MessageAttribute] = [:]
        ) {
            self.messageID = messageID
            self.receiptHandle = receiptHandle
            self.body = body
            self.attributes = attributes
            self.messageAttributes = messageAttributes
        }

        init(json: JSONValue) {
            messageID = json["MessageId"]?.string ?? ""
            receiptHandle = json["ReceiptHandle"]?.string ?? ""
            body = json["Body"]?.string ?? ""
            attributes = json["Attributes"]?.object.compactMapValues(\.numberText) ?? [:]
            messageAttributes = json["MessageAttributes"]?.object.compactMapValues(MessageAttribute.init(json:)) ?? [:]
        }

        /// The value of a `String` (or `Number`) message attribute.
        package func stringAttribute(_ name: String) -> String? {
            messageAttributes[name]?.stringValue
        }
    }
}
