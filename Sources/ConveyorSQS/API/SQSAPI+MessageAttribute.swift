import Conveyor

extension SQSAPI {
    /// A message attribute (`MessageAttributes`): a data type (`String`, `Number`, `Binary`, optionally with a custom
    /// suffix such as `Number.int`) and its value.
    package struct MessageAttribute: Sendable, Equatable {
        /// `String`, `Number` or `Binary`, with an optional `.suffix`.
        package var dataType: String
        /// The value of a `String` or `Number` attribute.
        package var stringValue: String?
        /// The base64 value of a `Binary` attribute.
        package var binaryValue: String?

        package init(dataType: String, stringValue: String? = nil, binaryValue: String? = nil) {
            self.dataType = dataType
            self.stringValue = stringValue
            self.binaryValue = binaryValue
        }

        /// A `String` attribute.
        package static func string(_ value: String) -> MessageAttribute {
            MessageAttribute(dataType: "String", stringValue: value)
        }

        /// The attribute read from a response: `nil` when it is not an object.
        init?(json: JSONValue) {
            guard case .object = json else { return nil }
            dataType = json["DataType"]?.string ?? ""
            stringValue = json["StringValue"]?.string
            binaryValue = json["BinaryValue"]?.string
        }

        var json: JSONValue {
            var fields: [String: JSONValue] = ["DataType": .string(dataType)]
            if let stringValue { fields["StringValue"] = .string(stringValue) }
            if let binaryValue { fields["BinaryValue"] = .string(binaryValue) }
            return .object(fields)
        }
    }
}
