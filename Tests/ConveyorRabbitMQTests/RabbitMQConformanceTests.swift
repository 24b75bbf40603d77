import Conveyor
import ConveyorRabbitMQ
import ConveyorTesting
import Testing

extension RabbitMQIntegrationTests {
    /// A classic queue with priorities, so that the priority case runs too.
    static let conformanceHarness: Result<ConformanceHarness, any Error> = Result {
        let provider = try RabbitMQTestEnvironment.provider({ $0.maxPriority = 9 })
        return ConformanceHarness.provisioning(provider, makeProvider: {
            try RabbitMQTestEnvironment.provider({ $0.maxPriority = 9 })
        })
    }

    /// What RabbitMQ classic queues cannot do (unacknowledged messages come back when the channel closes, not
    /// after a timeout), so the suite cannot check it.
    static let classicNotApplicable: [String: String] = [
        "redelivery after visibility timeout": "capabilities.visibilityTimeout is false",
    ]

    @Test(arguments: ProviderConformance.cases)
    func conformance(_ conformanceCase: ConformanceCase) async throws {
        _ = try RabbitMQTestEnvironment.requireURL()
        let outcome = try await conformanceCase.run(Self.conformanceHarness.get())
        #expect(outcome == Self.classicNotApplicable[conformanceCase.name].map { .notApplicable(reason: $0) } ?? .ran)
    }

    /// Quorum queues: every case again (delivery, retry copies, attempts counted from `x-delivery-count`,
    /// dead-lettering, stats and redrive differ from classic queues).
    static let quorumHarness: Result<ConformanceHarness, any Error> = Result {
        let provider = try RabbitMQTestEnvironment.provider { $0.queueType = .quorum }
        return ConformanceHarness.provisioning(provider, makeProvider: {
            try RabbitMQTestEnvironment.provider { $0.queueType = .quorum }
        })
    }

    /// Quorum queues have no priorities (they reject `x-max-priority`) and, like classic ones, no visibility timeout.
    static let quorumNotApplicable: [String: String] = [
        "redelivery after visibility timeout": "capabilities.visibilityTimeout is false",
        "priority order": "capabilities.priorities is false",
    ]

    @Test(arguments: ProviderConformance.cases)
    func conformanceOnQuorumQueues(_ conformanceCase: ConformanceCase) async throws {
        _ = try RabbitMQTestEnvironment.requireURL()
        let outcome = try await conformanceCase.run(Self.quorumHarness.get())
        #expect(outcome == Self.quorumNotApplicable[conformanceCase.name].map { .notApplicable(reason: $0) } ?? .ran)
    }

    /// A requeued delivery comes back `redelivered` (classic) or with a higher `x-delivery-count` (quorum): a release
    /// counts as an attempt on both; the conformance case "release hands a message back with the declared attempt"
    /// checks each queue type against it.
    @Test func conformanceReleaseCountsAnAttempt() throws {
        _ = try RabbitMQTestEnvironment.requireURL()
        for harness in [Self.conformanceHarness, Self.quorumHarness] {
            let provider = try #require(try harness.get().provider as? RabbitMQQueueProvider)
            #expect(provider.releaseCountsAsAttempt)
        }
    }

    @Test func conformanceNotApplicableNamesAreCases() {
        let names = Set(ProviderConformance.cases.map(\.name))
        #expect(Set(Self.classicNotApplicable.keys).isSubset(of: names))
        #expect(Set(Self.quorumNotApplicable.keys).isSubset(of: names))
    }
}
