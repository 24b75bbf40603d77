import Conveyor

/// One check of the provider conformance suite. Pass ``ProviderConformance/cases`` as test arguments, or run them
/// all with ``ProviderConformance/run(_:cases:)``.
public struct ConformanceCase: Sendable, CustomStringConvertible {
    /// A short, stable name, e.g. `"round trip"`.
    public let name: String
    /// What the provider or the harness must have for the case to apply; checked before the case runs.
    let requirements: [ConformanceRequirement]
    private let body: @Sendable (ConformanceHarness) async throws -> Void

    init(
        _ name: String,
        requires requirements: [ConformanceRequirement] = [],
        _ body: @escaping @Sendable (ConformanceHarness) async throws -> Void
    ) {
        self.name = name
        self.requirements = requirements
        self.body = body
    }

    /// The case's name.
    public var description: String { name }

    /// Why the case does not apply to `harness` (the first requirement it misses), or nil when it applies.
    public func notApplicableReason(for harness: ConformanceHarness) -> String? {
        requirements.lazy.compactMap { $0.unmetReason(harness) }.first
    }

    /// Runs the case against `harness` on a fresh queue, removed at the end even on failure, and returns
    /// ``ConformanceOutcome/ran``. Throws a ``ConformanceFailure`` when the provider misbehaves (or the provider's
    /// own error). When the provider's capabilities or the harness exclude the case, checks nothing and returns
    /// ``ConformanceOutcome/notApplicable(reason:)``: compare that with what you expect your provider to lack, so
    /// that a provider that loses a capability does not pass by checking less.
    public func run(_ harness: ConformanceHarness) async throws -> ConformanceOutcome {
        if let reason = notApplicableReason(for: harness) { return .notApplicable(reason: reason) }
        try await body(harness)
        return .ran
    }
}
