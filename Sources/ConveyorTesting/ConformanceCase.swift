import Conveyor

/// One check of the provider conformance suite. Pass ``ProviderConformance/cases`` as test arguments.
public struct ConformanceCase: Sendable, CustomStringConvertible {
    /// A short, stable name, e.g. `"round trip"`.
    public let name: String
    private let body: @Sendable (ConformanceHarness) async throws -> Void

    init(_ name: String, _ body: @escaping @Sendable (ConformanceHarness) async throws -> Void) {
        self.name = name
        self.body = body
    }

    /// The case's name.
    public var description: String { name }

    /// Runs the case against `harness` on a fresh queue, removed at the end even on failure. Throws a
    /// ``ConformanceFailure`` when the provider misbehaves (or the provider's own error); returns without
    /// checking anything when the provider's capabilities exclude the case.
    public func run(_ harness: ConformanceHarness) async throws {
        try await body(harness)
    }
}
