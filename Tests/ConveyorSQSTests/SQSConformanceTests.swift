import Conveyor
import ConveyorSQS
import ConveyorTesting
import Testing

/// The shared provider conformance suite against LocalStack (through the SigV4 proxy in CI).
@Suite("SQS provider conformance", .enabled(if: SQSTestEnvironment.enabled))
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
