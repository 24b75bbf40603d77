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
}
