/// A JSON document as read by ``JSONReader`` and written by ``JSONText``: the package's one in-memory JSON type (SQS
/// requests and responses, task inputs on the fast path, envelope fields). Numbers are kept as their text, so no
/// precision is lost between reading and the type that finally wants them.
package enum JSONValue: Sendable, Equatable {
    case null
    case bool(Bool)
    case number(String)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// An integer number.
    package static func int(_ value: Int) -> JSONValue { .number(String(value)) }

    /// An object of strings.
    package init(_ strings: [String: String]) { self = .object(strings.mapValues { .string($0) }) }

    /// An array of strings.
    package init(_ strings: [String]) { self = .array(strings.map { .string($0) }) }

    /// The member `key` of an object (`nil` otherwise).
    package subscript(key: String) -> JSONValue? {
        if case .object(let members) = self { return members[key] }
        return nil
    }

    /// The string value (`nil` for other kinds).
    package var string: String? {
        if case .string(let value) = self { return value }
        return nil
    }

    /// The elements of an array (empty for other kinds).
    package var array: [JSONValue] {
        if case .array(let values) = self { return values }
        return []
    }

    /// The members of an object (empty for other kinds).
    package var object: [String: JSONValue] {
        if case .object(let members) = self { return members }
        return [:]
    }

    /// A boolean value (`nil` for other kinds).
    package var bool: Bool? {
        if case .bool(let value) = self { return value }
        return nil
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral
{
    /// A string.
    package init(stringLiteral value: String) { self = .string(value) }
    /// An integer number.
    package init(integerLiteral value: Int) { self = .int(value) }
    /// A boolean.
    package init(booleanLiteral value: Bool) { self = .bool(value) }
    /// An array.
    package init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    /// An object (a repeated key keeps its last value).
    package init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { _, last in last }))
    }
}
