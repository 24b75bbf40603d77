import ConveyorSQS
import Foundation
import Testing

@Suite("SQS JSON reader and writer")
struct SQSJSONTests {
    @Test func parsesResponsesWithEscapes() throws {
        let text = #"{"Messages":[{"Body":"{\"v\":1,\"t\":\"h\u00e9 \ud83d\ude00 \\ \/ \n\"}","Attributes":{"ApproximateReceiveCount":"3"},"N":-1.5e3,"T":true,"F":false,"Z":null,"E":[],"O":{}}]}"#
        let value = try #require(SQSJSON.parse(Array(text.utf8)))
        let message = try #require(value["Messages"]?.array.first)
        #expect(message["Body"]?.string == "{\"v\":1,\"t\":\"hé 😀 \\ / \n\"}")
        #expect(message["Attributes"]?["ApproximateReceiveCount"]?.string == "3")
        #expect(message["N"] == .number("-1.5e3"))
        #expect(message["T"]?.bool == true && message["F"]?.bool == false && message["Z"] == .null)
        #expect(message["E"] == .array([]) && message["O"] == .object([:]))
    }

    @Test(arguments: [#"{"a":1"#, #"{"a":"\ud800"}"#, #"{"a":"x"} x"#, "[1,]", #""\q""#, "", #"{"a":"\u00"}"#])
    func rejectsInvalidJSON(_ text: String) {
        #expect(SQSJSON.parse(Array(text.utf8)) == nil)
    }

    @Test func encodesRequestsThatFoundationReadsBack() throws {
        let request: [String: Any] = [
            "QueueUrl": "http://127.0.0.1:4566/000000000000/q",
            "Entries": [["Id": "m0", "MessageBody": "{\"a\":\"ü \\ \u{1} \n\"}", "DelaySeconds": 5, "MessageAttributes": ["k": ["DataType": "String", "StringValue": "v"]]]],
            "AttributeNames": ["All"],
            "Attributes": ["FifoQueue": "true"],
            "Flag": true,
        ]
        let bytes = try #require(SQSJSON.encode(request))
        let back = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? NSDictionary)
        #expect(back.isEqual(to: request))
        #expect(SQSJSON.parse(bytes)?["Entries"]?.array.first?["MessageBody"]?.string == "{\"a\":\"ü \\ \u{1} \n\"}")
    }
}
