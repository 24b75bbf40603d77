import Conveyor
import ConveyorRabbitMQ
import Testing

/// What the RabbitMQ provider tells the provider-neutral core (no broker: the provider connects lazily).
@Suite("RabbitMQ answers the core's questions")
struct RabbitMQProviderNeutralCoreTests {
    @Test func queuesDeduplicateAsNamedAndRegistryReadsNeedSessions() throws {
        let provider = try RabbitMQQueueProvider(configuration: .init(url: "amqp://localhost/"))
        #expect(provider.deduplicatingQueueName("orders-claims") == "orders-claims")
        #expect(JobScheduler(provider: provider).claimQueue == "conveyor-schedules-claims")
        #expect(provider.sessions != nil)
        #expect(provider.capabilities.declaresQueuesOnUse)
        #expect(!provider.capabilities.brokerTimestamps)
        #expect(provider.releasing != nil && provider.prefetching != nil && provider.provisioning != nil)
    }
}
