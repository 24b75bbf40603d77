import Conveyor
import ConveyorRabbitMQ
import ConveyorTesting
import Testing

extension RabbitMQIntegrationTests {
    /// A classic queue with priorities, so that the priority case runs too.
    static let conformanceHarness: ConformanceHarness? = {
        guard let provider = try? RabbitMQTestEnvironment.provider({ $0.maxPriority = 9 }) else { return nil }
        return ConformanceHarness.provisioning(provider, makeProvider: {
            try RabbitMQTestEnvironment.provider({ $0.maxPriority = 9 })
        })
    }()

    @Test(arguments: ProviderConformance.cases)
    func conformance(_ conformanceCase: ConformanceCase) async throws {
        _ = try RabbitMQTestEnvironment.requireURL()
        let harness = try #require(Self.conformanceHarness)
        try await conformanceCase.run(harness)
    }

    /// The cases whose outcome depends on the queue type: delivery, retry copies, attempts counted from
    /// `x-delivery-count`, dead-lettering, stats and redrive.
    static let quorumCases: Set<String> = [
        "round trip", "fail with retryAfter redelivers later", "fail without retry dead-letters with the reason",
        "dead-letter after max attempts", "stats counts ready and in-flight messages", "redrive from the dead-letter queue",
    ]

    @Test(arguments: ProviderConformance.cases.filter { quorumCases.contains($0.name) })
    func conformanceOnQuorumQueues(_ conformanceCase: ConformanceCase) async throws {
        let provider = try RabbitMQTestEnvironment.provider { $0.queueType = .quorum }
        try await conformanceCase.run(ConformanceHarness.provisioning(provider))
        try await provider.close()
    }
}
