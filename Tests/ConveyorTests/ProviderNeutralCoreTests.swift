import Conveyor
import Foundation
import Testing

/// What the core asks of a provider instead of knowing brokers: the deduplicating queue's name, opaque receipts and
/// capabilities in one place (memory and inline providers; SQS and RabbitMQ have their own tests).
@Suite("Provider-neutral core")
struct ProviderNeutralCoreTests {
    @Test("the scheduler's claim queue is the provider's deduplicating queue for a broker-neutral default")
    func claimQueueComesFromTheProvider() async throws {
        let memory = MemoryQueueProvider()
        #expect(JobScheduler.Configuration().claimQueue == "conveyor-schedules-claims")
        #expect(memory.deduplicatingQueueName("conveyor-schedules-claims") == "conveyor-schedules-claims")
        #expect(JobScheduler(provider: memory).claimQueue == "conveyor-schedules-claims")
        // A name configured before the default changed keeps working as it is.
        let legacy = JobScheduler(provider: memory, configuration: JobScheduler.Configuration(claimQueue: "x-claims.fifo"))
        #expect(legacy.claimQueue == "x-claims.fifo")
        try await memory.close()
    }

    @Test("a receipt is opaque: equal when the tokens are, readable back only as the issuing type")
    func receiptsAreOpaque() {
        #expect(Receipt("handle-1") == Receipt("handle-1"))
        #expect(Receipt("handle-1") != Receipt("handle-2"))
        #expect(Receipt(UInt64(1)) != Receipt("1"))
        #expect(Set([Receipt("a"), Receipt("a"), Receipt(1)]).count == 2)
        #expect(Receipt("handle-1").token(as: String.self) == "handle-1")
        #expect(Receipt("handle-1").token(as: Int.self) == nil)
        #expect(Receipt(String(repeating: "h", count: 300)).description == String(repeating: "h", count: 16) + "…")
    }

    @Test("a memory receipt handed to another memory provider is stale, not someone else's message")
    func foreignReceiptsAreStale() async throws {
        let first = MemoryQueueProvider()
        let second = MemoryQueueProvider()
        try await first.enqueue(OutgoingMessage(envelope: Envelope(task: "t", payload: Array("{}".utf8))), to: "q")
        try await second.enqueue(OutgoingMessage(envelope: Envelope(task: "t", payload: Array("{}".utf8))), to: "q")
        let received = try await first.receive(from: "q", max: 1, wait: .seconds(1))
        try await second.acknowledge(received)
        #expect(try await second.stats(of: "q").ready == 1)
        try await first.close()
        try await second.close()
    }

    @Test("capabilities: the typed accessors and the facts agree with what the memory and inline providers are")
    func capabilitiesInOnePlace() async throws {
        let memory = MemoryQueueProvider()
        #expect(memory.releasing != nil && memory.deadLetterQueues != nil && memory.provisioning != nil)
        #expect(memory.delayedJobCancelling != nil)
        #expect(memory.prefetching == nil && memory.sessions == nil)
        #expect(!memory.capabilities.brokerTimestamps && !memory.capabilities.declaresQueuesOnUse)
        let provider: any QueueProvider = memory
        #expect(provider.releasing?.releaseCountsAsAttempt == false)
        try await memory.close()
    }
}
