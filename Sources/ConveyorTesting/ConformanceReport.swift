/// What ``ProviderConformance/run(_:cases:)`` checked: the cases that ran and passed, and the cases that did not
/// apply to the provider, with the reason. Assert the not-applicable set you expect, so that a provider that loses
/// a capability fails instead of passing by checking less:
///
/// ```swift
/// let report = try await ProviderConformance.run(harness)
/// #expect(report.notApplicable.keys.sorted() == ["deduplication", "priority order"])
/// ```
public struct ConformanceReport: Sendable, Hashable, CustomStringConvertible {
    /// Names of the cases that ran every check and passed, in suite order.
    public var ran: [String]
    /// Names of the cases that did not apply, each with the reason (the capability or harness feature missing).
    public var notApplicable: [String: String]

    /// Creates a report.
    public init(ran: [String] = [], notApplicable: [String: String] = [:]) {
        self.ran = ran
        self.notApplicable = notApplicable
    }

    /// One line per case: `ran: <name>` or `not applicable: <name> (<reason>)`, after a count.
    public var description: String {
        var lines = ["\(ran.count) case(s) ran, \(notApplicable.count) not applicable"]
        lines += ran.map { "ran: \($0)" }
        lines += notApplicable.sorted { $0.key < $1.key }.map { "not applicable: \($0.key) (\($0.value))" }
        return lines.joined(separator: "\n")
    }
}
