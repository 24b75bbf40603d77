import Conveyor
import ConveyorSQS
import ConveyorTesting
import Testing

/// The shared provider conformance suite against LocalStack (through the SigV4 proxy in CI).
/// The time limit ends a case that hangs (e.g. "close", whose 20 s receive must be woken by `close()`).
@Suite("SQS provider conformance", .enabled(if: SQSTestEnvironment.enabled), .timeLimit(.minutes(1)))
struct SQSConformanceTests {
    static let harness: Result<ConformanceHarness, any Error> = Result {
        let provider = try SQSTestEnvironment.makeProvider()
        return ConformanceHarness.provisioning(provider, makeProvider: { try SQSTestEnvironment.makeProvider() })
    }

    @Test(arguments: ProviderConformance.cases)
    func conformance(_ conformanceCase: ConformanceCase) async throws {
        try await conformanceCase.run(Self.harness.get())
    }
}
