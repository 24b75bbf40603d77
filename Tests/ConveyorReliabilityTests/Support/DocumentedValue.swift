import Foundation

/// One value as the documents write a default: `30 s`, `5 minutes`, `` `nil` ``, `` `"-dlq"` ``, `8`, `25 %`,
/// ``` ``QueueType/classic`` ```, `empty`. ``parse(_:)`` reads the values of a table cell or of a doc comment's
/// `Default …` phrase, in order; ``of(_:)`` renders a real value the same way, so that the two compare.
enum DocumentedValue: Equatable, CustomStringConvertible {
    /// A duration: `100 ms`, `30 s`, `5 minutes`, `12 h`.
    case duration(Duration)
    /// A plain number: `8`, `×2` (2), `25 %` (0.25).
    case number(Double)
    /// Code: a literal or a member, with the quotes of a string literal and the type before a member removed
    /// (`"-dlq"` → `-dlq`, `QueueType.classic` → `.classic`, ``` ``AWSCredentialsProviderChain/standard(environment:)`` ```
    /// → `.standard()`).
    case code(String)
    /// An empty collection (`empty`, `[:]`, `[]`).
    case empty

    var description: String {
        switch self {
        case .duration(let duration): "\(duration)"
        case .number(let number): "\(number)"
        case .code(let code): "`\(code)`"
        case .empty: "empty"
        }
    }

    // MARK: Documents

    /// The values written in `text`, in order; prose between them is skipped.
    static func parse(_ text: String) -> [DocumentedValue] {
        var values: [DocumentedValue] = []
        var rest = Substring(text)
        while !rest.isEmpty {
            if rest.hasPrefix("``"), let end = rest.dropFirst(2).range(of: "``") {
                // A DocC symbol link: ``Type/member(label:)`` reads as `Type.member()`.
                let symbol = rest[rest.index(rest.startIndex, offsetBy: 2)..<end.lowerBound].replacingOccurrences(of: "/", with: ".")
                values.append(contentsOf: code(symbol))
                rest = rest[end.upperBound...]
            } else if rest.hasPrefix("`"), let end = rest.dropFirst().firstIndex(of: "`") {
                values.append(contentsOf: code(String(rest[rest.index(after: rest.startIndex)..<end])))
                rest = rest[rest.index(after: end)...]
            } else if let match = rest.prefixMatch(of: quantity) {
                let (_, times, digits, unit) = match.output
                if let number = Double(digits.filter { $0 != "," && $0 != "_" }) {
                    values.append(value(number, unit: unit.map(String.init), times: times != nil))
                }
                rest = rest[match.range.upperBound...]
            } else if let match = rest.prefixMatch(of: /(?i)empty\b/) {
                values.append(.empty)
                rest = rest[match.range.upperBound...]
            } else if let match = rest.prefixMatch(of: /[A-Za-z_][A-Za-z0-9_]*/) {
                rest = rest[match.range.upperBound...]  // a word: skipped whole, so that digits inside it are not numbers
            } else {
                rest = rest.dropFirst()
            }
        }
        return values
    }

    /// `×2`, `8`, `0.25`, `30 s`, `100 ms`, `5 minutes`, `25 %`.
    nonisolated(unsafe) private static let quantity = /(×\s*)?(\d[\d,_]*(?:\.\d+)?)(?:\s*(ms|milliseconds?|seconds?|s|minutes?|min|hours?|h|%)(?![A-Za-z]))?/

    private static func value(_ number: Double, unit: String?, times: Bool) -> DocumentedValue {
        switch unit {
        case "ms", "millisecond", "milliseconds": .duration(.nanoseconds(Int64((number * 1e6).rounded())))
        case "s", "second", "seconds": .duration(.nanoseconds(Int64((number * 1e9).rounded())))
        case "min", "minute", "minutes": .duration(.seconds(number * 60))
        case "h", "hour", "hours": .duration(.seconds(number * 3600))
        case "%": .number(number / 100)
        default: .number(number)
        }
    }

    /// A code span's value; an initializer reference (`Type.init(…)`) names no value and reads as nothing.
    private static func code(_ raw: String) -> [DocumentedValue] {
        var code = raw.trimmingCharacters(in: .whitespaces)
        if code == "[:]" || code == "[]" { return [.empty] }
        if code.count >= 2, code.hasPrefix("\""), code.hasSuffix("\""), !code.dropFirst().dropLast().contains("\"") {
            code = String(code.dropFirst().dropLast())
        }
        // `Type.member` → `.member`; argument labels of a member reference are dropped: `.standard(environment:)` →
        // `.standard()`.
        if let match = code.wholeMatch(of: /(?:[A-Z][A-Za-z0-9]*\.)+([a-z][A-Za-z0-9]*)(\([A-Za-z0-9_:]*\))?/) {
            code = "." + match.output.1 + (match.output.2 == nil ? "" : "()")
        }
        if code == ".init()" || code == ".init" { return [] }
        return [.code(code)]
    }

    // MARK: Values

    /// `value` as the documents write it: a duration, a number, a literal; an optional as its wrapped value or
    /// `nil`; a struct as its stored properties in order (`5 attempts, 50 ms base, 5 s cap`). `special` renders
    /// what the generic rules cannot (a type's members, a closure), or returns nil.
    static func of(_ value: Any, special: (Any) -> [DocumentedValue]? = { _ in nil }) -> [DocumentedValue] {
        if let rendered = special(value) { return rendered }
        switch value {
        case let duration as Duration: return [.duration(duration)]
        case let int as Int: return [.number(Double(int))]
        case let double as Double: return [.number(double)]
        case let bool as Bool: return [.code(bool ? "true" : "false")]
        case let string as String: return [.code(string)]
        case let strings as [String]:
            return strings.isEmpty ? [.empty] : [.code("[" + strings.map { "\"\($0)\"" }.joined(separator: ", ") + "]")]
        default: break
        }
        let mirror = Mirror(reflecting: value)
        switch mirror.displayStyle {
        case .optional:
            return mirror.children.first.map { of($0.value, special: special) } ?? [.code("nil")]
        case .collection?, .dictionary?, .set?:
            return mirror.children.isEmpty ? [.empty] : [.code("\(value)")]
        case .struct?, .class?, .tuple?:
            return mirror.children.flatMap { of($0.value, special: special) }
        default:
            return [.code("\(value)")]
        }
    }

    /// Whether `documented` starts with `actual` (what follows it in the document is prose about it).
    static func documented(_ documented: [DocumentedValue], startsWith actual: [DocumentedValue]) -> Bool {
        !actual.isEmpty && documented.count >= actual.count && Array(documented.prefix(actual.count)) == actual
    }
}
