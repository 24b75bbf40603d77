import Conveyor

extension ProviderConformance {
    /// Runs `cases` (every case by default) concurrently against `harness`, each on its own fresh queue, and
    /// returns what ran and what did not apply to the provider, with the reason.
    ///
    /// Throws one ``ConformanceFailure`` naming every case that failed (with each failure's own location and
    /// message) when any did; the cases that passed are then not reported. Compare
    /// ``ConformanceReport/notApplicable`` with the set you expect, so that a provider that loses a capability
    /// fails instead of passing by checking less:
    ///
    /// ```swift
    /// let report = try await ProviderConformance.run(harness)
    /// #expect(report.notApplicable.keys.sorted() == ["deduplication", "priority order"])
    /// ```
    public static func run(_ harness: ConformanceHarness, cases: [ConformanceCase] = cases) async throws -> ConformanceReport {
        let outcomes = await withTaskGroup(of: (Int, Result<ConformanceOutcome, any Error>).self) { group in
            for (index, conformanceCase) in cases.enumerated() {
                group.addTask {
                    do {
                        return (index, .success(try await conformanceCase.run(harness)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            var outcomes: [Int: Result<ConformanceOutcome, any Error>] = [:]
            for await (index, outcome) in group { outcomes[index] = outcome }
            return outcomes
        }
        var report = ConformanceReport()
        var failures: [(name: String, error: any Error)] = []
        for (index, conformanceCase) in cases.enumerated() {
            switch outcomes[index] {
            case .success(.ran)?: report.ran.append(conformanceCase.name)
            case .success(.notApplicable(let reason))?: report.notApplicable[conformanceCase.name] = reason
            case .failure(let error)?: failures.append((conformanceCase.name, error))
            case nil: failures.append((conformanceCase.name, ConformanceFailure("the case did not finish")))
            }
        }
        guard failures.isEmpty else {
            let first = failures[0].error as? ConformanceFailure
            let lines = failures.map { "- \($0.name): \($0.error)" }
            throw ConformanceFailure(
                "\(failures.count) of \(cases.count) conformance case(s) failed:\n" + lines.joined(separator: "\n"),
                fileID: first?.fileID ?? #fileID,
                line: first?.line ?? #line
            )
        }
        return report
    }
}
