import Conveyor
import ConveyorRabbitMQ
import Foundation
import Synchronization
import Testing

/// The tests that cut connections, restart the broker, raise a memory alarm or delete shared topology. They run on
/// a private node (``RabbitMQFaultsNode``, started for this suite and stopped after it) so that suites running
/// in parallel against the shared broker (e.g. the CLI's) never see these faults.
@Suite(
    .serialized, .timeLimit(.minutes(10)),
    .enabled(if: RabbitMQTestEnvironment.enabled, "set CONVEYOR_AMQP_URL (see scripts/rabbitmq-start.sh)"),
    .faultsNode
)
struct RabbitMQFaultTests {
    typealias Node = RabbitMQFaultsNode

    /// Runs `body` with a provider for the private node and a fresh queue, deleting the queue and closing the
    /// provider afterwards.
    func withQueue(
        _ hint: String,
        configure: (inout RabbitMQQueueProvider.Configuration) -> Void = { _ in },
        _ body: (RabbitMQQueueProvider, String) async throws -> Void
    ) async throws {
        try await withTestQueue(hint, provider: try Node.provider(configure), body)
    }

    @Test func publishToAMissingExchangeIsAnErrorAndTheTopologyIsRedeclared() async throws {
        try await withQueue("missing-exchange") { provider, queue in
            try await provider.enqueue(OutgoingMessage(envelope: testEnvelope(1), delay: .seconds(1)), to: queue)
            try await provider.acknowledge(try await provider.receive(from: queue, count: 1))
            // Delete the entry exchange of the delay levels behind the provider's back.
            try Node.rabbitmqctl("eval", #"rabbit_exchange:delete(rabbit_misc:r(<<"/">>, exchange, <<"conveyor.delay.27">>), false, <<"guest">>)."#)
            await #expect {
                try await provider.enqueue(OutgoingMessage(envelope: testEnvelope(2), delay: .seconds(1)), to: queue)
            } throws: { error in
                guard let e = error as? ConveyorError else { return false }
                return e.code == .notConfirmed && e.message.contains("NOT_FOUND")
            }
            // The channel is reopened and the delay levels declared again.
            try await provider.enqueue(OutgoingMessage(envelope: testEnvelope(3), delay: .seconds(1)), to: queue)
            let got = try await provider.receive(from: queue, count: 1)
            #expect(got.count == 1)
            try await provider.acknowledge(got)
        }
    }

    /// The delay levels' entry exchange is gone, so the broker closes the publishing channel on the retry copy and
    /// `fail` throws. The original must not stay unacknowledged (RabbitMQ has no visibility timeout: with
    /// prefetch 1 nothing would be delivered again until the channel closes): it is requeued and delivered again
    /// at once, and the next retry (the topology declared again) goes through the delay levels.
    @Test(.timeLimit(.minutes(1))) func failedRetryPublishRequeuesTheDelivery() async throws {
        try await withQueue("settle-retry", configure: { $0.prefetch = 1 }) { provider, queue in
            let envelope = testEnvelope(1)
            try await provider.enqueue(OutgoingMessage(envelope: envelope, delay: .seconds(1)), to: queue)
            let m = try #require(try await provider.receive(from: queue, count: 1).first)
            try Node.rabbitmqctl("eval", #"rabbit_exchange:delete(rabbit_misc:r(<<"/">>, exchange, <<"conveyor.delay.27">>), false, <<"guest">>)."#)

            await #expect {
                try await provider.fail(m, reason: FailureReason(code: "task_error", message: "boom"), retryAfter: .seconds(1))
            } throws: { error in
                (error as? ConveyorError)?.code == .notConfirmed
            }
            // The prefetch slot is free again: the requeued delivery comes back.
            let again = try #require(try await provider.receive(from: queue, count: 1, timeout: .seconds(20)).first, "the delivery stayed unacknowledged")
            #expect(try again.envelope.get().id == envelope.id)
            #expect(again.attempt == 2)

            try await provider.fail(again, reason: FailureReason(code: "task_error", message: "boom"), retryAfter: .seconds(1))
            let retried = try #require(try await provider.receive(from: queue, count: 1, timeout: .seconds(20)).first)
            #expect(try retried.envelope.get().id == envelope.id)
            #expect(retried.attempt == 3)
            try await provider.acknowledge(retried)
            let stats = try await provider.stats(of: queue)
            #expect(stats.ready == 0)
            #expect(stats.inFlight == 0)
        }
    }

    @Test func reconnectAfterCloseAllConnectionsLosesNoJob() async throws {
        try await withQueue("cut", configure: { $0.prefetch = 20 }) { provider, queue in
            let n = 300
            let ids = Set(try await provider.enqueue((0..<n).map { OutgoingMessage(envelope: testEnvelope($0)) }, to: queue).map(\.jobID))
            var acked = Set<JobID>()
            var cut = false
            let deadline = ContinuousClock.now + .seconds(90)
            while acked.count < n, ContinuousClock.now < deadline {
                let batch = try await provider.receive(from: queue, max: 20, wait: .seconds(1))
                if !cut && acked.count >= n / 3 {
                    cut = true
                    try Node.rabbitmqctl("close_all_connections", "conveyor test: cut")
                }
                try await provider.acknowledge(batch)
                for m in batch { if let id = try? m.envelope.get().id { acked.insert(id) } }
            }
            #expect(cut)
            #expect(acked == ids)
            // Publishing works on the new connection too.
            try await provider.enqueue(OutgoingMessage(envelope: testEnvelope()), to: queue)
            let last = try await provider.receive(from: queue, count: 1)
            try await provider.acknowledge(last)
            #expect(last.count == 1)
        }
    }


    /// An event subscription's queue is classic and not durable: a broker restart (or the loss of its node in a
    /// cluster) removes it, and the observer declares it again when it reconnects. It must be bound again too, or
    /// the observer silently receives nothing more.
    @Test func eventSubscriptionIsBoundAgainAfterABrokerRestart() async throws {
        let observing = try Node.provider()
        let sending = try Node.provider()
        let queue = "faults-events-\(UUID().uuidString.prefix(8).lowercased())"
        let subscription = try await QueueObserver(provider: observing, queue: queue).subscribe()
        let seen = SeenNotes()
        let collecting = Task {
            for try await event in subscription.events { seen.notes.withLock { _ = $0.insert(event.note ?? "") } }
        }
        /// Broadcasts an event noted `note` every 500 ms until the observer has it; false after 90 s.
        func broadcastUntilSeen(_ note: String) async throws -> Bool {
            let deadline = ContinuousClock.now + .seconds(90)
            while ContinuousClock.now < deadline {
                let event = JobEvent(kind: .progress, jobID: JobID.random(), task: "t", queue: queue, attempt: 1, progress: 0.5, note: note)
                try? await sending.broadcastEvents([event], of: queue)
                try await Task.sleep(for: .milliseconds(500))
                if seen.notes.withLock({ $0.contains(note) }) { return true }
            }
            return false
        }
        #expect(try await broadcastUntilSeen("before"))
        try Node.rabbitmqctl("stop_app")
        try Node.rabbitmqctl("start_app")
        try Node.rabbitmqctl("await_startup", "--timeout", "60")
        #expect(try await broadcastUntilSeen("after"), "the observer receives events again after the restart")
        collecting.cancel()
        await subscription.close()
        try? await observing.close()
        try? await sending.close()
    }

    @Test func reconnectAfterBrokerRestartLosesNoJob() async throws {
        try await withQueue("restart", configure: { $0.prefetch = 20 }) { provider, queue in
            let n = 200
            let ids = Set(try await provider.enqueue((0..<n).map { OutgoingMessage(envelope: testEnvelope($0)) }, to: queue).map(\.jobID))
            var acked = Set<JobID>()
            var restarted = false
            let deadline = ContinuousClock.now + .seconds(120)
            while acked.count < n, ContinuousClock.now < deadline {
                let batch = try await provider.receive(from: queue, max: 20, wait: .seconds(1))
                if !restarted && acked.count >= n / 3 {
                    restarted = true
                    try Node.rabbitmqctl("stop_app")
                    try Node.rabbitmqctl("start_app")
                    try Node.rabbitmqctl("await_startup", "--timeout", "60")
                }
                try await provider.acknowledge(batch)
                for m in batch { if let id = try? m.envelope.get().id { acked.insert(id) } }
            }
            #expect(restarted)
            #expect(acked == ids)
        }
    }


    @Test func enqueueDuringCutIsRepublished() async throws {
        try await withQueue("cut-publish") { provider, queue in
            try await provider.createQueue(queue, options: QueueOptions())
            // Cut the connections from another thread while batches are being published and confirmed.
            let cutDone = Atomic<Bool>(false)
            let cutError = Mutex<(any Error)?>(nil)
            Thread.detachNewThread {
                do { try Node.rabbitmqctl("close_all_connections", "conveyor test: cut during publish") } catch { cutError.withLock { $0 = error } }
                cutDone.store(true, ordering: .releasing)
            }
            var published: [JobID] = []
            var after = 0
            let deadline = ContinuousClock.now + .seconds(60)
            while after < 3, ContinuousClock.now < deadline {
                if cutDone.load(ordering: .acquiring) { after += 1 }
                let results = try await provider.enqueue((0..<200).map { OutgoingMessage(envelope: testEnvelope($0)) }, to: queue)
                published += results.map(\.jobID)
            }
            #expect(cutError.withLock { $0 } == nil)
            // At least once: every job is in the queue (some maybe twice).
            var seen = Set<JobID>()
            let drainDeadline = ContinuousClock.now + .seconds(60)
            while seen.count < published.count, ContinuousClock.now < drainDeadline {
                let batch = try await provider.receive(from: queue, max: 200, wait: .seconds(1))
                for m in batch { if let id = try? m.envelope.get().id { seen.insert(id) } }
                try await provider.acknowledge(batch)
            }
            #expect(seen == Set(published))
        }
    }


    @Test func blockedConnectionPausesPublishing() async throws {
        try await withQueue("blocked") { provider, queue in
            try await provider.enqueue(OutgoingMessage(envelope: testEnvelope(0)), to: queue)
            // A memory alarm: the broker blocks publishing connections (connection.blocked).
            try Node.rabbitmqctl("set_vm_memory_high_watermark", "absolute", "1")
            // Restored below before the publish is awaited; this covers a throw on the way.
            defer { _ = try? Node.rabbitmqctl("set_vm_memory_high_watermark", "0.4") }
            let done = Atomic<Bool>(false)
            let publish = Task {
                defer { done.store(true, ordering: .releasing) }
                return try await provider.enqueue(OutgoingMessage(envelope: testEnvelope(1)), to: queue)
            }
            try? await Task.sleep(for: .seconds(2))
            let finishedWhileBlocked = done.load(ordering: .acquiring)
            try Node.rabbitmqctl("set_vm_memory_high_watermark", "0.4")
            _ = try await publish.value
            #expect(!finishedWhileBlocked, "a publish was confirmed during a memory alarm")
            let received = try await provider.receive(from: queue, count: 2)
            #expect(received.count == 2)
            try await provider.acknowledge(received)
        }
    }
}

/// Notes of the events an observer received.
final class SeenNotes: Sendable {
    let notes = Mutex<Set<String>>([])
}
