import Foundation

/// One generated message: its body, what was mixed into it, and what must become of it.
struct FuzzMessage: Sendable {
    var index: Int
    var body: [UInt8]
    /// What the generator mixed in, for failure messages.
    var traits: [String]
    var expected: FuzzExpectation
    /// The job id the body decodes to, when it decodes.
    var jobID: String?
    /// RabbitMQ: properties and headers of the raw publish.
    var amqp = FuzzAMQPProperties()
    /// SQS: message attributes of the raw send (`[name: ["DataType": ..., "StringValue"/"BinaryValue": ...]]`).
    var sqsAttributes: [String: [String: String]] = [:]
    /// SQS: `DelaySeconds` of the raw send.
    var sqsDelaySeconds = 0
    /// Memory: what the provider reports on the first receive instead of its own numbers.
    var memoryAttempt: Int?
    var memoryEnqueuedAt: Date??

    var summary: String {
        let text = String(decoding: body.prefix(300), as: UTF8.self).replacingOccurrences(of: "\n", with: "\\n")
        return "#\(index) [\(traits.joined(separator: ", "))] expected \(expected); body (\(body.count) bytes): \(text)"
    }
}
