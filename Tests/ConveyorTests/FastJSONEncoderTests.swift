@testable import Conveyor
import Foundation
import Testing

@Suite("FastJSONEncoder")
struct FastJSONEncoderTests {
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
        var inner: Inner
        var list: [Inner]
        var map: [String: Int]
        var intKeys: [Int: String]
        var optional: String?
        var explicitNil: String?
        var nested: [[Int]]
        var ratio: Double
        var text: String

        func encode(to encoder: any Encoder) throws {
            var c = encoder.container(keyedBy: CodingKeys.self)
            try c.encode(id, forKey: .id)
            try c.encode(big, forKey: .big)
            try c.encode(small, forKey: .small)
            try c.encode(flag, forKey: .flag)
            try c.encode(color, forKey: .color)
            try c.encode(inner, forKey: .inner)
            try c.encode(list, forKey: .list)
            try c.encode(map, forKey: .map)
            try c.encode(intKeys, forKey: .intKeys)
            try c.encodeIfPresent(optional, forKey: .optional)
            try c.encode(explicitNil, forKey: .explicitNil)
            try c.encode(nested, forKey: .nested)
            try c.encode(ratio, forKey: .ratio)
            try c.encode(text, forKey: .text)
        }
    }

    struct Wrapper: Codable, Equatable {
        var raw: String
        init(raw: String) { self.raw = raw }
        init(from decoder: any Decoder) throws { raw = try decoder.singleValueContainer().decode(String.self) }
        func encode(to encoder: any Encoder) throws {
            var c = encoder.singleValueContainer()
            try c.encode(raw)
        }
    }

    struct WithWrapper: Codable, Equatable {
        var id: Wrapper
        var ids: [Wrapper]
    }

    struct WithDate: Codable, Equatable { var at: Date }
    struct WithShape: Codable, Equatable { var shape: Shape }
    struct WithBigDouble: Codable, Equatable { var value: Double }
    struct Empty: Codable, Equatable {}

    /// The fast output decodes to the same value as JSONEncoder's.
    func roundTrip<T: Codable & Equatable>(_ value: T) throws {
        let fast = try FastJSONEncoder.encode(value)
        let decoded = try JSONDecoder().decode(T.self, from: Data(fast))
        #expect(decoded == value)
        let reference = try JSONDecoder().decode(T.self, from: JSONEncoder().encode(value))
        #expect(decoded == reference)
    }

    @Test func commonShapesEncode() throws {
        let inner = Inner(name: "a \"quoted\" \\ name\n\t/é😀\u{01}", tags: ["x", ""], score: 0.25)
        try roundTrip(
            Outer(
                id: -42, big: .max, small: -128, flag: true, color: .green, inner: inner,
                list: [inner, Inner(name: "", tags: [], score: nil)], map: ["k": 1, "": 2], intKeys: [1: "one", -2: "minus two"],
                optional: nil, explicitNil: nil, nested: [[], [1, 2]], ratio: 3.0, text: String(repeating: "x", count: 100)
            )
        )
        try roundTrip(WithWrapper(id: Wrapper(raw: "w"), ids: [Wrapper(raw: "a"), Wrapper(raw: "b")]))
        try roundTrip(Empty())
        try roundTrip([1, 2, 3])
        try roundTrip("top-level string")
        try roundTrip(Optional<Int>.none)
        try roundTrip(-0.5)
    }

    @Test func encodesCompactJSON() throws {
        let bytes = try FastJSONEncoder.encode(Inner(name: "n", tags: ["t"], score: 1.0))
        #expect(String(decoding: bytes, as: UTF8.self) == #"{"name":"n","tags":["t"],"score":1}"#)
    }

    @Test func givesUpWhenUnsure() {
        #expect(throws: FastJSONEncoder.GiveUp.self) { try FastJSONEncoder.encode(WithDate(at: Date())) }
        #expect(throws: FastJSONEncoder.GiveUp.self) { try FastJSONEncoder.encode(WithShape(shape: .circle(radius: 1))) }
        #expect(throws: FastJSONEncoder.GiveUp.self) { try FastJSONEncoder.encode(WithBigDouble(value: 1e300)) }
        #expect(throws: FastJSONEncoder.GiveUp.self) { try FastJSONEncoder.encode(Double.nan) }
        #expect(throws: FastJSONEncoder.GiveUp.self) { try FastJSONEncoder.encode(Data([1, 2])) }
    }
}
