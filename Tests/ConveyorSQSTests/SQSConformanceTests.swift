import Conveyor
import ConveyorSQS
import ConveyorTesting
import Testing

/// The shared provider conformance suite against LocalStack (through the SigV4 proxy in CI).
/// The time limit ends a case that hangs (e.g. "close", whose 20 s receive must be woken by `close()`).
@Suite(
    "SQS provider conformance",
    .enabled(if: SQSTestEnvironment.enabled, "set CONVEYOR_SQS_ENDPOINT: eval \"$(scripts/sqs-test-env.sh)\" starts LocalStack and prints the exports"),
    .timeLimit(.minutes(1))
)
struct SQSConformanceTests {
    static let harness: Result<ConformanceHarness, any Error> = Result {
        let provider = try SQSTestEnvironment.makeProvider()
        return ConformanceHarness.provisioning(provider, makeProvider: { try SQSTestEnvironment.makeProvider() })
    }

    /// What SQS standard queues cannot do, so the suite cannot check it.
    static let notApplicable: [String: String] = [
        "priority order": "capabilities.priorities is false",
        "deduplication": "capabilities.deduplication is false",
    ]

    @Test(arguments: ProviderConformance.cases)
    func conformance(_ conformanceCase: ConformanceCase) async throws {
        let outcome = try await conformanceCase.run(Self.harness.get())
        #expect(outcome == Self.notApplicable[conformanceCase.name].map { .notApplicable(reason: $0) } ?? .ran)
    }

    /// SQS counts every receive, a released one too (`ApproximateReceiveCount`); the conformance case
    /// "release hands a message back with the declared attempt" checks that the provider behaves as declared.
    @Test func releaseCountsAnAttempt() throws {
        let provider = try #require(try Self.harness.get().provider as? SQSQueueProvider)
        #expect(provider.releaseCountsAsAttempt)
    }

    @Test func notApplicableNamesAreCases() {
        #expect(Set(Self.notApplicable.keys).isSubset(of: ProviderConformance.cases.map(\.name)))
    }
}
