/// What may become of one generated message. Expectations combine with ``or(_:)`` when the wire format allows
/// either outcome (e.g. an integer beyond 2^53 may be read or rejected).
struct FuzzExpectation: Sendable, CustomStringConvertible {
    /// It may run to success.
    var mayComplete = false
    /// It may stay delayed (a `not_before` far in the future).
    var mayBeHeld = false
    /// Dead-letter codes allowed, each with the field names one of which its reason must quote (`[]`: any text).
    var deadLetterCodes: [String: [String]] = [:]
    /// Any dead-letter code is allowed (the broker itself may dead-letter it, e.g. an expired message).
    var anyDeadLetter = false

    static let completes = FuzzExpectation(mayComplete: true)
    static let held = FuzzExpectation(mayBeHeld: true)
    static let anyDeadLetter = FuzzExpectation(anyDeadLetter: true)

    static func deadLetters(_ code: String, naming fields: [String] = []) -> FuzzExpectation {
        FuzzExpectation(deadLetterCodes: [code: fields])
    }

    func or(_ other: FuzzExpectation) -> FuzzExpectation {
        var merged = self
        merged.mayComplete = mayComplete || other.mayComplete
        merged.mayBeHeld = mayBeHeld || other.mayBeHeld
        merged.anyDeadLetter = anyDeadLetter || other.anyDeadLetter
        for (code, fields) in other.deadLetterCodes {
            if let mine = merged.deadLetterCodes[code] {
                merged.deadLetterCodes[code] = mine.isEmpty || fields.isEmpty ? [] : Array(Set(mine + fields)).sorted()
            } else {
                merged.deadLetterCodes[code] = fields
            }
        }
        return merged
    }

    /// Whether it must end (completed or dead-lettered) while the test runs.
    var mustEnd: Bool { !mayBeHeld }

    /// `nil` when a dead letter with `code` and `message` is allowed, else why not.
    func checkDeadLetter(code: String, message: String) -> String? {
        if anyDeadLetter { return nil }
        guard let fields = deadLetterCodes[code] else { return "dead-lettered with \(code) (\(message.prefix(200))), expected \(self)" }
        if fields.isEmpty || fields.contains(where: { message.contains("\"\($0)\"") }) { return nil }
        return "dead-lettered with \(code) but the reason \"\(message.prefix(200))\" names none of the fields \(fields)"
    }

    var description: String {
        var parts: [String] = []
        if mayComplete { parts.append("completes") }
        if mayBeHeld { parts.append("held") }
        for (code, fields) in deadLetterCodes.sorted(by: { $0.key < $1.key }) {
            parts.append(fields.isEmpty ? "dead-letter \(code)" : "dead-letter \(code) naming \(fields.joined(separator: "/"))")
        }
        if anyDeadLetter { parts.append("dead-letter (any reason)") }
        return parts.joined(separator: " or ")
    }
}
