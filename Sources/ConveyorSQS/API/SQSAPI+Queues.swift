import Conveyor

extension SQSAPI {
    /// A queue's URL, as `GetQueueUrl` and `CreateQueue` answer it.
    package struct QueueURL: Sendable, Equatable {
        /// `QueueUrl`.
        package var url: String

        static func read(_ object: JSONValue, action: String) throws(ConveyorError) -> QueueURL {
            guard let url = object["QueueUrl"]?.string, !url.isEmpty else {
                throw ConveyorError(.brokerError, "SQS \(action): response lacks QueueUrl")
            }
            return QueueURL(url: url)
        }
    }

    /// `GetQueueUrl`: the URL of a queue by name.
    package struct GetQueueURL: SQSRequest {
        package static let action = "GetQueueUrl"
        package var queueName: String

        package init(queueName: String) { self.queueName = queueName }

        package var json: JSONValue { ["QueueName": .string(queueName)] }

        package static func response(from object: JSONValue) throws(ConveyorError) -> QueueURL {
            try QueueURL.read(object, action: action)
        }
    }

    /// `CreateQueue` with attributes.
    package struct CreateQueue: SQSRequest {
        package static let action = "CreateQueue"
        package var queueName: String
        package var attributes: [String: String]
        /// Cost-allocation tags set at creation (`tags`), left out when empty.
        package var tags: [String: String]

        package init(queueName: String, attributes: [String: String] = [:], tags: [String: String] = [:]) {
            self.queueName = queueName
            self.attributes = attributes
            self.tags = tags
        }

        package var json: JSONValue {
            var members: [String: JSONValue] = ["QueueName": .string(queueName), "Attributes": JSONValue(attributes)]
            if !tags.isEmpty { members["tags"] = JSONValue(tags) }
            return .object(members)
        }

        package static func response(from object: JSONValue) throws(ConveyorError) -> QueueURL {
            try QueueURL.read(object, action: action)
        }
    }

    /// `SetQueueAttributes`.
    package struct SetQueueAttributes: SQSRequest {
        package typealias Response = Empty
        package static let action = "SetQueueAttributes"
        package var queueURL: String
        package var attributes: [String: String]

        package init(queueURL: String, attributes: [String: String]) {
            self.queueURL = queueURL
            self.attributes = attributes
        }

        package var json: JSONValue { ["QueueUrl": .string(queueURL), "Attributes": JSONValue(attributes)] }
    }

    /// `GetQueueAttributes`: answers the attributes asked for that the queue has, each the text of a string or
    /// number (the caller checks it).
    package struct GetQueueAttributes: SQSRequest {
        package static let action = "GetQueueAttributes"
        package var queueURL: String
        package var names: [String]

        package init(queueURL: String, names: [String]) {
            self.queueURL = queueURL
            self.names = names
        }

        package var json: JSONValue { ["QueueUrl": .string(queueURL), "AttributeNames": JSONValue(names)] }

        package static func response(from object: JSONValue) throws(ConveyorError) -> [String: String] {
            object["Attributes"]?.object.compactMapValues(\.numberText) ?? [:]
        }
    }

    /// `DeleteQueue`.
    package struct DeleteQueue: SQSRequest {
        package typealias Response = Empty
        package static let action = "DeleteQueue"
        package var queueURL: String

        package init(queueURL: String) { self.queueURL = queueURL }

        package var json: JSONValue { ["QueueUrl": .string(queueURL)] }
    }

    /// `ListQueues` by name prefix: answers queue URLs (one page, at most `maxResults`).
    package struct ListQueues: SQSRequest {
        package static let action = "ListQueues"
        package var namePrefix: String
        package var maxResults: Int

        package init(namePrefix: String, maxResults: Int = 1000) {
            self.namePrefix = namePrefix
            self.maxResults = maxResults
        }

        package var json: JSONValue { ["QueueNamePrefix": .string(namePrefix), "MaxResults": .int(maxResults)] }

        package static func response(from object: JSONValue) throws(ConveyorError) -> [String] {
            (object["QueueUrls"]?.array ?? []).compactMap(\.string)
        }
    }

    /// `ListQueueTags`: answers the queue's tags.
    package struct ListQueueTags: SQSRequest {
        package static let action = "ListQueueTags"
        package var queueURL: String

        package init(queueURL: String) { self.queueURL = queueURL }

        package var json: JSONValue { ["QueueUrl": .string(queueURL)] }

        package static func response(from object: JSONValue) throws(ConveyorError) -> [String: String] {
            object["Tags"]?.object.compactMapValues(\.string) ?? [:]
        }
    }

    /// `UntagQueue`: removes tags.
    package struct UntagQueue: SQSRequest {
        package typealias Response = Empty
        package static let action = "UntagQueue"
        package var queueURL: String
        package var keys: [String]

        package init(queueURL: String, keys: [String]) {
            self.queueURL = queueURL
            self.keys = keys
        }

        package var json: JSONValue { ["QueueUrl": .string(queueURL), "TagKeys": JSONValue(keys)] }
    }

    /// `TagQueue`: sets tags.
    package struct TagQueue: SQSRequest {
        package typealias Response = Empty
        package static let action = "TagQueue"
        package var queueURL: String
        package var tags: [String: String]

        package init(queueURL: String, tags: [String: String]) {
            self.queueURL = queueURL
            self.tags = tags
        }

        package var json: JSONValue { ["QueueUrl": .string(queueURL), "Tags": JSONValue(tags)] }
    }
}
