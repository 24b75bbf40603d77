/// What a ``ConformanceCase`` did.
public enum ConformanceOutcome: Sendable, Hashable, CustomStringConvertible {
    /// The case applied, ran every check, and the provider passed them.
    case ran
    /// The case does not apply: `reason` names the capability or harness feature the provider lacks. Nothing was
    /// checked.
    case notApplicable(reason: String)

    /// `ran` or `not applicable: <reason>`.
    public var description: String {
        switch self {
        case .ran: "ran"
        case .notApplicable(let reason): "not applicable: \(reason)"
        }
    }
}
