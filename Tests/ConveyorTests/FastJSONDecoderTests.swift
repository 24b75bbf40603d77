@testable import Conveyor
import Foundation
import Testing

@Suite("FastJSONDecoder")
struct FastJSONDecoderTests {
    enum Color: String, Codable, Equatable { case red, green }
    enum Shape: Codable, Equatable { case circle(radius: Double), square(side: Int), none }

    struct Inner: Codable, Equatable {
        var name: String
        var tags: [String]
        var score: Double?
    }

    struct Outer: Codable, Equatable {
        var id: Int
        var big: UInt64
        var small: Int8
        var flag: Bool
        var color: Color
        var shape: Shape
        var inner: Inner
        var list: [Inner]
        var map: [String: Int]
        var optional: String?
        var nested: [[Int]]
    }

    struct WithDate: Codable, Equatable {
        var at: Date
        var blob: Data
        var link: URL
    }

    /// Swallows errors with `try?`: the fast decoder must not change which branch it takes.
    struct Lenient: Decodable, Equatable {
        var when: Date?
        var count: Int
        init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            when = try? container.decode(Date.self, forKey: .when)
            count = try container.decode(Int.self, forKey: .count)
        }
        enum CodingKeys: String, CodingKey { case when, count }
    }

    func both<T: Decodable & Equatable>(_ type: T.Type, _ json: String) throws -> (fast: T?, reference: T?) {
        let bytes = Array(json.utf8)
        let fast = try? FastJSONDecoder.decode(type, from: bytes)
        let reference = try? JSONDecoder().decode(type, from: Data(bytes))
        return (fast, reference)
    }

    @Test("common shapes decode on the fast path, equal to JSONDecoder")
    func commonShapes() throws {
        let json = #"""
        {"id": -42, "big": 18446744073709551615, "small": -128, "flag": true, "color": "green",
         "shape": {"circle": {"radius": 1.5}},
         "inner": {"name": "caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \n", "tags": [], "score": null},
         "list": [{"name": "a", "tags": ["x", "y"], "score": 1e3}], "map": {"k": 1, "é": 2},
         "nested": [[1, 2], [], [3]], "extra": {"ignored": [1, {"x": null}]}}
        """#
        let (fast, reference) = try both(Outer.self, json)
        #expect(fast != nil)
        #expect(fast == reference)
        #expect(fast?.inner.name == "café 😀 \"q\" \\ / \n")
    }

    @Test("inputs it is unsure about fall back to JSONDecoder")
    func fallbacks() throws {
        let date = #"{"at": 12.5, "blob": "AQID", "link": "https://example.com/a"}"#
        #expect(try both(WithDate.self, date).fast == nil)
        #expect(try both(Lenient.self, #"{"when": 1, "count": 2}"#).fast == nil)
        for json in [#"{"id": 1.0}"#, #"{"a":1,"a":2}"#, "[1,]", "01", #""\x""#, "1e999", "{", ""] {
            #expect((try? FastJSONDecoder.decode(Int.self, from: Array(json.utf8))) == nil, "\(json)")
        }
    }

    /// A miss on valid JSON says the type is the trouble (the task then skips the fast path: no second read per
    /// job); a miss on invalid JSON does not.
    @Test("a give-up says whether the type or the input missed")
    func giveUpReason() {
        func reason<T: Decodable>(_ type: T.Type, _ json: String) -> Bool? {
            do throws(FastJSONDecoder.GiveUp) {
                _ = try FastJSONDecoder.decode(type, from: Array(json.utf8))
                return nil
            } catch {
                return error.typeMissed
            }
        }
        #expect(reason(WithDate.self, #"{"at": 12.5, "blob": "AQID", "link": "https://example.com/a"}"#) == true)
        #expect(reason(Lenient.self, #"{"when": 1, "count": 2}"#) == true)
        #expect(reason(Int.self, "[1,]") == false)
        #expect(reason(Int.self, #"{"a":1,"a":2}"#) == false)
        #expect(reason(Int.self, "7") == nil)
    }

    @Test("whatever the fast path accepts, JSONDecoder decodes to the same value")
    func agreesWithJSONDecoder() throws {
        let cases: [(String, String)] = [
            ("Int", "-0"), ("Int", "9223372036854775807"), ("Int", "9223372036854775808"), ("Double", "-1.25e-3"),
            ("Double", "0.1"), ("String", #""\u0041\t""#), ("Bool", "false"), ("Ints", "[1, 2, 3]"), ("Ints", "[1, null]"),
            ("OptInt", "null"), ("Map", #"{"a": [1], "b": []}"#),
        ]
        for (kind, json) in cases {
            switch kind {
            case "Int": let (f, r) = try both(Int.self, json); if f != nil { #expect(f == r, "\(json)") }
            case "Double": let (f, r) = try both(Double.self, json); #expect(f == r, "\(json)")
            case "String": let (f, r) = try both(String.self, json); #expect(f == r, "\(json)")
            case "Bool": let (f, r) = try both(Bool.self, json); #expect(f == r, "\(json)")
            case "Ints": let (f, r) = try both([Int].self, json); if f != nil { #expect(f == r, "\(json)") }
            case "OptInt": let (f, r) = try both(Int?.self, json); #expect(f == r, "\(json)")
            case "Map": let (f, r) = try both([String: [Int]].self, json); #expect(f == r, "\(json)")
            default: Issue.record("unknown case \(kind)")
            }
        }
    }
}
