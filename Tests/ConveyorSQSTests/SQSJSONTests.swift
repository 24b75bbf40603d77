import Conveyor
import ConveyorSQS
import Foundation
import Testing

/// SQS requests and responses go through the package's one reader (`JSONReader`) and writer (`JSONText`).
@Suite("SQS JSON through JSONReader and JSONText")
struct SQSJSONTests {
    @Test func parsesResponsesWithEscapes() throws {
        let text = #"{"Messages":[{"Body":"{\"v\":1,\"t\":\"h\u00e9 \ud83d\ude00 \\ \/ \n\"}","Attributes":{"ApproximateReceiveCount":"3"},"N":-1.5e3,"T":true,"F":false,"Z":null,"E":[],"O":{}}]}"#
        let value = try JSONReader.read(Array(text.utf8), limits: SQSClient.responseLimits)
        let message = try #require(value["Messages"]?.array.first)
        #expect(message["Body"]?.string == "{\"v\":1,\"t\":\"hé 😀 \\ / \n\"}")
        #expect(message["Attributes"]?["ApproximateReceiveCount"]?.string == "3")
        #expect(message["N"] == .number("-1.5e3"))
        #expect(message["T"]?.bool == true && message["F"]?.bool == false && message["Z"] == .null)
        #expect(message["E"] == .array([]) && message["O"] == .object([:]))
    }

    @Test(arguments: [#"{"a":1"#, #"{"a":"\ud800"}"#, #"{"a":"x"} x"#, "[1,]", #""\q""#, "", #"{"a":"\u00"}"#, "+1", "1.", "01"])
    func rejectsInvalidJSON(_ text: String) {
        #expect(throws: JSONReader.Failure.self) { try JSONReader.read(Array(text.utf8), limits: SQSClient.responseLimits) }
    }

    @Test func encodesRequestsThatFoundationReadsBack() throws {
        let request: JSONValue = [
            "QueueUrl": "http://127.0.0.1:4566/000000000000/q",
            "Entries": [["Id": "m0", "MessageBody": "{\"a\":\"ü \\ \u{1} \n\"}", "DelaySeconds": 5, "MessageAttributes": ["k": ["DataType": "String", "StringValue": "v"]]]],
            "AttributeNames": ["All"],
            "Attributes": ["FifoQueue": "true"],
            "Flag": true,
        ]
        let bytes = JSONText.bytes(request)
        let back = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary)
        let expected: [String: Any] = [
            "QueueUrl": "http://127.0.0.1:4566/000000000000/q",
            "Entries": [["Id": "m0", "MessageBody": "{\"a\":\"ü \\ \u{1} \n\"}", "DelaySeconds": 5, "MessageAttributes": ["k": ["DataType": "String", "StringValue": "v"]]]],
            "AttributeNames": ["All"],
            "Attributes": ["FifoQueue": "true"],
            "Flag": true,
        ]
        #expect(back.isEqual(to: expected))
        #expect(try JSONReader.read(bytes) == request)
        // Keys are written sorted: equal requests are equal bytes.
        #expect(String(decoding: JSONText.bytes(["b": 1, "a": [true, .null]]), as: UTF8.self) == #"{"a":[true,null],"b":1}"#)
    }

    // MARK: - Typed requests and responses

    /// A request's body as Foundation reads it.
    private func object(_ request: some SQSRequest) throws -> NSDictionary {
        try #require(try JSONSerialization.jsonObject(with: Data(JSONText.bytes(request.json))) as? NSDictionary)
    }

    @Test func sendRequestsCarryEveryFieldAndOnlyThoseSet() throws {
        let fifo = SQSAPI.MessageFields(
            body: "{\"a\":1}", attributes: ["conveyor.task": .string("t"), "blob": SQSAPI.MessageAttribute(dataType: "Binary", binaryValue: "AP8=")],
            groupID: "g", deduplicationID: "d"
        )
        let single = try object(SQSAPI.SendMessage(queueURL: "http://q", message: fifo))
        #expect(single.isEqual(to: [
            "QueueUrl": "http://q", "MessageBody": "{\"a\":1}", "MessageGroupId": "g", "MessageDeduplicationId": "d",
            "MessageAttributes": ["conveyor.task": ["DataType": "String", "StringValue": "t"], "blob": ["DataType": "Binary", "BinaryValue": "AP8="]],
        ] as [String: Any]))
        let batch = SQSAPI.SendMessageBatch(queueURL: "http://q", entries: [
            .init(id: "m0", message: SQSAPI.MessageFields(body: "x", delaySeconds: 5)), .init(id: "m1", message: SQSAPI.MessageFields(body: "y")),
        ])
        #expect(batch.messageCount == 2)
        #expect(try object(batch).isEqual(to: [
            "QueueUrl": "http://q",
            "Entries": [["Id": "m0", "MessageBody": "x", "DelaySeconds": 5], ["Id": "m1", "MessageBody": "y"]],
        ] as [String: Any]))
    }

    @Test func receiptRequestsNameTheirReceipts() throws {
        #expect(try object(SQSAPI.ChangeMessageVisibilityBatch(queueURL: "u", entries: [.init(id: "r0", receiptHandle: "h")], visibilityTimeout: 0))
            .isEqual(to: ["QueueUrl": "u", "Entries": [["Id": "r0", "ReceiptHandle": "h", "VisibilityTimeout": 0]]] as [String: Any]))
        #expect(try object(SQSAPI.DeleteMessageBatch(queueURL: "u", entries: [.init(id: "r0", receiptHandle: "h")]))
            .isEqual(to: ["QueueUrl": "u", "Entries": [["Id": "r0", "ReceiptHandle": "h"]]] as [String: Any]))
        let receive = try object(SQSAPI.ReceiveMessage(queueURL: "u", maxNumberOfMessages: 10, waitTimeSeconds: 20, visibilityTimeout: 30))
        #expect(receive["VisibilityTimeout"] as? Int == 30)
        #expect(receive["MessageAttributeNames"] as? [String] == ["All"])
        #expect(try object(SQSAPI.ReceiveMessage(queueURL: "u", maxNumberOfMessages: 1, waitTimeSeconds: 0))["VisibilityTimeout"] == nil)
    }

    @Test func receivedMessagesReadWhatIsThereAndNothingTraps() throws {
        let text = #"""
            {"Messages":[
              {"MessageId":"1","ReceiptHandle":"h","Body":"b","Attributes":{"ApproximateReceiveCount":"2","SentTimestamp":1700000000000,"Odd":[1]},
               "MessageAttributes":{"traceparent":{"DataType":"String","StringValue":"00-x"},"blob":{"DataType":"Binary","BinaryValue":"AP8="},"bad":7}},
              {"Body":5},
              7
            ]}
            """#
        let messages = try SQSAPI.ReceiveMessage.response(from: JSONReader.read(Array(text.utf8)))
        #expect(messages.count == 3)
        #expect(messages[0] == SQSAPI.Message(
            messageID: "1", receiptHandle: "h", body: "b", attributes: ["ApproximateReceiveCount": "2", "SentTimestamp": "1700000000000"],
            messageAttributes: [
                "traceparent": .string("00-x"), "blob": SQSAPI.MessageAttribute(dataType: "Binary", binaryValue: "AP8="),
            ]
        ))
        #expect(messages[0].stringAttribute("traceparent") == "00-x")
        // A body that is not a string is an empty body (a malformed envelope for the provider), not a trap.
        #expect(messages[1] == SQSAPI.Message())
        #expect(messages[2] == SQSAPI.Message())
        #expect(try SQSAPI.ReceiveMessage.response(from: .object([:])).isEmpty)
    }

    @Test func batchResultsKeepOnlyItemsWithAnID() throws {
        let text = #"""
            {"Successful":[{"Id":"m0","MessageId":"x"},{"MessageId":"no id"},{"Id":"m2"}],
             "Failed":[{"Id":"m1","Code":"InternalError","SenderFault":false},{"Id":"m3","Code":"InvalidParameterValue","Message":"bad","SenderFault":true},{"Code":"no id"}]}
            """#
        let result = try SQSAPI.SendMessageBatch.response(from: JSONReader.read(Array(text.utf8)))
        #expect(result.successful == [.init(id: "m0", messageID: "x"), .init(id: "m2", messageID: nil)])
        #expect(result.failed == [
            .init(id: "m1", code: "InternalError", message: "", senderFault: false),
            .init(id: "m3", code: "InvalidParameterValue", message: "bad", senderFault: true),
        ])
    }

    @Test func aQueueURLAnswerWithoutTheURLIsATypedError() throws {
        #expect(try SQSAPI.GetQueueURL.response(from: ["QueueUrl": "http://q"]).url == "http://q")
        let error = #expect(throws: ConveyorError.self) { try SQSAPI.CreateQueue.response(from: ["QueueUrl": 5]) }
        #expect(error?.code == .brokerError)
        #expect(error?.message.contains("QueueUrl") == true)
        #expect(try SQSAPI.GetQueueAttributes.response(from: ["Attributes": ["A": "1", "B": 2, "C": [true]]]) == ["A": "1", "B": "2"])
    }
}
