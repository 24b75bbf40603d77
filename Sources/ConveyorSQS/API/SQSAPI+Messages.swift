import Conveyor
import Logging

extension SQSAPI {
    /// `SendMessage`: answers the message id, when SQS gave one.
    package struct SendMessage: SQSRequest {
        package static let action = "SendMessage"
        package var queueURL: String
        package var message: MessageFields

        package init(queueURL: String, message: MessageFields) {
            self.queueURL = queueURL
            self.message = message
        }

        package var json: JSONValue {
            var members = message.members
            members["QueueUrl"] = .string(queueURL)
            return .object(members)
        }

        package static func response(from object: JSONValue) throws(ConveyorError) -> String? {
            object["MessageId"]?.string
        }
    }

    /// `ReceiveMessage`: a long poll, answering the messages received.
    package struct ReceiveMessage: SQSRequest {
        package static let action = "ReceiveMessage"
        package var queueURL: String
        /// `MaxNumberOfMessages` (1 to 10).
        package var maxNumberOfMessages: Int
        /// `WaitTimeSeconds` (0 to 20).
        package var waitTimeSeconds: Int
        /// `VisibilityTimeout`; the queue's own when nil.
        package var visibilityTimeout: Int?
        /// System attributes asked for (`MessageSystemAttributeNames`, and the older `AttributeNames`).
        package var systemAttributeNames: [String]
        /// `MessageAttributeNames`.
        package var messageAttributeNames: [String]
        /// A short poll (`WaitTimeSeconds` 0) shows in the request log as `sqs.wait_seconds=0`.
        package var logMetadata: Logger.Metadata { ["sqs.wait_seconds": "\(waitTimeSeconds)", "sqs.queue_url": "\(queueURL)"] }

        package init(
            queueURL: String, maxNumberOfMessages: Int, waitTimeSeconds: Int, visibilityTimeout: Int? = nil,
            systemAttributeNames: [String] = ["ApproximateReceiveCount", "SentTimestamp"], messageAttributeNames: [String] = ["All"]
        ) {
            self.queueURL = queueURL
            self.maxNumberOfMessages = maxNumberOfMessages
            self.waitTimeSeconds = waitTimeSeconds
            self.visibilityTimeout = visibilityTimeout
            self.systemAttributeNames = systemAttributeNames
            self.messageAttributeNames = messageAttributeNames
        }

        package var json: JSONValue {
            var members: [String: JSONValue] = [
                "QueueUrl": .string(queueURL),
                "MaxNumberOfMessages": .int(maxNumberOfMessages),
                "WaitTimeSeconds": .int(waitTimeSeconds),
                "MessageSystemAttributeNames": JSONValue(systemAttributeNames),
                "AttributeNames": JSONValue(systemAttributeNames),
                "MessageAttributeNames": JSONValue(messageAttributeNames),
            ]
            if let visibilityTimeout { members["VisibilityTimeout"] = .int(visibilityTimeout) }
            return .object(members)
        }

        package static func response(from object: JSONValue) throws(ConveyorError) -> [Message] {
            (object["Messages"]?.array ?? []).map(Message.init(json:))
        }
    }

    /// `DeleteMessage`.
    package struct DeleteMessage: SQSRequest {
        package typealias Response = Empty
        package static let action = "DeleteMessage"
        package var queueURL: String
        package var receiptHandle: String

        package init(queueURL: String, receiptHandle: String) {
            self.queueURL = queueURL
            self.receiptHandle = receiptHandle
        }

        package var json: JSONValue { ["QueueUrl": .string(queueURL), "ReceiptHandle": .string(receiptHandle)] }
    }

    /// `ChangeMessageVisibility`.
    package struct ChangeMessageVisibility: SQSRequest {
        package typealias Response = Empty
        package static let action = "ChangeMessageVisibility"
        package var queueURL: String
        package var receiptHandle: String
        /// Seconds from now (0 to 43,200).
        package var visibilityTimeout: Int

        package init(queueURL: String, receiptHandle: String, visibilityTimeout: Int) {
            self.queueURL = queueURL
            self.receiptHandle = receiptHandle
            self.visibilityTimeout = visibilityTimeout
        }

        package var json: JSONValue {
            ["QueueUrl": .string(queueURL), "ReceiptHandle": .string(receiptHandle), "VisibilityTimeout": .int(visibilityTimeout)]
        }
    }
}
