@testable import Conveyor
import Foundation
import Testing

/// The package's one JSON reader: limits, strictness, raw members.
@Suite("JSONReader")
struct JSONReaderTests {
    func read(_ text: String, _ limits: JSONReader.Limits = .init()) throws(JSONReader.Failure) -> JSONValue {
        try JSONReader.read(Array(text.utf8), limits: limits)
    }

    @Test func readsEveryKindAndKeepsNumbersAsText() throws {
        let value = try read(#" {"s":"caf\u00e9 \ud83d\ude00","n":[-0,1.5e-3,18446744073709551616],"b":[true,false,null],"o":{}} "#)
        #expect(value["s"]?.string == "café 😀")
        #expect(value["n"] == [.number("-0"), .number("1.5e-3"), .number("18446744073709551616")])
        #expect(value["b"] == [true, false, .null])
        #expect(value["o"] == .object([:]))
    }

    @Test func nestingBeyondTheLimitIsRefusedWithoutDeepRecursion() throws {
        let limit = JSONReader.Limits().maximumDepth
        #expect(throws: Never.self) { try read(String(repeating: "[", count: limit) + String(repeating: "]", count: limit)) }
        for text in [String(repeating: "[", count: limit + 1) + String(repeating: "]", count: limit + 1),
                     String(repeating: #"{"a":"#, count: 100_000), String(repeating: "[", count: 1_000_000)] {
            #expect(throws: JSONReader.Failure.self) { try read(text) }
        }
        #expect(throws: JSONReader.Failure.self) { try read("[[1]]", .init(maximumDepth: 1)) }
    }

    @Test func documentsOverTheSizeLimitAreRefused() {
        #expect(throws: JSONReader.Failure.self) { try read(#""12345""#, .init(maximumBytes: 6)) }
        #expect(throws: Never.self) { try read(#""1234""#, .init(maximumBytes: 6)) }
    }

    @Test func invalidUTF8AndBadEscapesAreRefused() {
        for bytes: [UInt8] in [[0x22, 0xFF, 0x22], [0x22, 0xC3, 0x22], [0x22, 0xED, 0xA0, 0x80, 0x22], Array(#""\ud800""#.utf8),
                               Array(#""\udc00\ud800""#.utf8), Array(#""\u12""#.utf8), Array(#""\x""#.utf8), [0x22, 0x01, 0x22]] {
            #expect(throws: JSONReader.Failure.self, "\(bytes)") { try JSONReader.read(bytes) }
        }
    }

    @Test func duplicateKeysKeepTheLastUnlessRefused() throws {
        #expect(try read(#"{"a":1,"a":2}"#)["a"] == 2)
        #expect(throws: JSONReader.Failure.self) { try read(#"{"a":1,"a":2}"#, .init(rejectsDuplicateKeys: true)) }
    }

    @Test func membersNotDecodedAreKeptAsTheirBytes() throws {
        let text = #"{"v":1, "payload" : {"x": [1, "\u00e9"]} ,"other":[]}"#
        let bytes = Array(text.utf8)
        let (members, raw) = try JSONReader.readObject(bytes, keepingRaw: ["payload", "other"])
        #expect(members == ["v": 1])
        #expect(raw["payload"].map { String(decoding: bytes[$0], as: UTF8.self) } == #"{"x": [1, "\u00e9"]}"#)
        #expect(raw["other"].map { String(decoding: bytes[$0], as: UTF8.self) } == "[]")
        // Skipped members are still validated.
        #expect(throws: JSONReader.Failure.self) { try JSONReader.readObject(Array(#"{"payload":[1,]}"#.utf8), keepingRaw: ["payload"]) }
        #expect(throws: JSONReader.Failure.self) { try JSONReader.readObject(Array("[1]".utf8), keepingRaw: []) }
    }

    @Test func whatItReadsJSONTextWritesBack() throws {
        let text = #"{"a":[1,-2.5e3,"\"\\\/\b\f\n\r\t\u0001\uffff"],"b":{"c":null,"d":false}}"#
        let value = try read(text)
        #expect(try JSONReader.read(JSONText.bytes(value)) == value)
        let reference = try JSONSerialization.jsonObject(with: Data(JSONText.bytes(value))) as? NSDictionary
        #expect(reference?.isEqual(to: try JSONSerialization.jsonObject(with: Data(text.utf8)) as! [String: Any]) == true)
    }
}
