import Foundation

/// The identifier of one job, unique across providers. Rendered as a lowercase UUID string by default, but any
/// non-empty string sent by a producer in another language is accepted.
public struct JobID: Hashable, Sendable, Codable, CustomStringConvertible, ExpressibleByStringLiteral {
    /// The identifier's text.
    public let rawValue: String

    /// Wraps an existing identifier.
    public init(_ rawValue: String) { self.rawValue = rawValue }

    /// Creates an identifier from a string literal.
    public init(stringLiteral value: String) { self.rawValue = value }

    /// Generates a new random identifier (UUID v4, lowercase).
    public static func random() -> JobID { fastRandom() }

    /// The ``rawValue``.
    public var description: String { rawValue }

    /// Decodes the identifier from a single string value.
    public init(from decoder: any Decoder) throws {
        self.rawValue = try decoder.singleValueContainer().decode(String.self)
    }

    /// Encodes the identifier as a single string value.
    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(rawValue)
    }
}
