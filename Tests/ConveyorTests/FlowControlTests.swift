@testable import Conveyor
import Foundation
import Synchronization
import Testing

@Suite("Flow limits: options, tickets, names and the local bucket")
struct FlowControlTests {
    @Test("a local token bucket starts full, then gives count per interval, never more than its burst")
    func localBucket() {
        let start = ContinuousClock.now
        var bucket = LocalTokenBucket(rate: RateLimit(4, per: .seconds(1), burst: 6), now: start)
        for _ in 0..<6 { #expect(bucket.take(now: start) == nil) }
        let wait = bucket.take(now: start)
        #expect(wait == .milliseconds(250), "one token comes every 250 ms at 4 per second")
        #expect(bucket.take(now: start + .milliseconds(250)) == nil)
        #expect(bucket.take(now: start + .milliseconds(250)) != nil)
        // A long pause saves up the burst, not more.
        let later = start + .seconds(60)
        for _ in 0..<6 { #expect(bucket.take(now: later) == nil) }
        #expect(bucket.take(now: later) != nil)
        // Time going backwards (a clock injected by a test) takes nothing and adds nothing.
        #expect(bucket.take(now: start) != nil)
    }

    @Test("rate limits and global concurrency out of range are refused with what to use")
    func validation() throws {
        for (rate, fragment) in [
            (RateLimit(0), "count is 0"), (RateLimit(100_001), "count is 100001"),
            (RateLimit(1, per: .milliseconds(50)), "interval"), (RateLimit(1, per: .seconds(86_401)), "interval"),
            (RateLimit(1, burst: 0), "burst is 0"), (RateLimit(1, burst: 100_001), "burst is 100001"),
        ] {
            #expect(throws: ConveyorError.self) { try rate.validated() }
            do {
                _ = try rate.validated()
            } catch {
                #expect(error.code == .invalidConfiguration)
                #expect(error.message.contains(fragment), "\(error)")
            }
        }
        #expect(RateLimit(50, burst: 10).effectiveBurst == 50, "a bucket holds at least one interval's tokens")
        #expect(RateLimit(50, burst: 80).effectiveBurst == 80)
        for limit in [0, -1, 10_001, Int.max] {
            var registry = TaskRegistry()
            #expect(throws: ConveyorError.self) { try registry.register(Limited(limit: limit)) }
        }
        var registry = TaskRegistry()
        try registry.register(Limited(limit: 10_000))
    }

    struct Limited: ConveyorTask {
        static let name = "flow.limited"
        nonisolated(unsafe) static var limit = 1
        static var options: TaskOptions { TaskOptions(globalConcurrency: limit) }
        init(limit: Int) { Self.limit = limit }
        func run(_ input: Int, context: JobContext) async throws {}
    }

    @Test("tickets from the broker are checked: a permit out of range or a rate out of range is no ticket")
    func tickets() throws {
        func received(_ ticket: FlowTicket) -> ReceivedMessage {
            let message = ticket.message(deduplicationKey: nil, groupID: nil)
            return ReceivedMessage(queue: "q", receipt: Receipt(1), attempt: 1, envelope: .success(message.envelope))
        }
        let permit = try #require(FlowTicket(received(.permit(generation: 7, limit: 3, index: 2))))
        #expect(permit.isValidPermit && permit.limit == 3 && permit.generation == 7)
        for bad in [
            FlowTicket(kind: "permit", generation: 1, limit: 3, index: 3), FlowTicket(kind: "permit", generation: 1, limit: 0, index: 0),
            FlowTicket(kind: "permit", generation: 1, limit: 10_001, index: 0), FlowTicket(kind: "permit", generation: 1, limit: 3, index: -1),
            FlowTicket(kind: "token", generation: 1, limit: 3, index: 0), FlowTicket(kind: "permit", generation: 1),
        ] {
            #expect(FlowTicket(received(bad))?.isValidPermit != true, "\(bad)")
        }
        #expect(FlowTicket(received(FlowTicket(kind: "permit", generation: -1, limit: 1, index: 0))) == nil)
        let token = try #require(FlowTicket(received(.token(generation: 1, rate: RateLimit(50, per: .seconds(2), burst: 60)))))
        #expect(token.rate == RateLimit(50, per: .seconds(2), burst: 60, scope: .global))
        for bad in [
            FlowTicket(kind: "token", generation: 1, count: 0, intervalMilliseconds: 1000, burst: 1),
            FlowTicket(kind: "token", generation: 1, count: 1, intervalMilliseconds: 10, burst: 1),
            FlowTicket(kind: "token", generation: 1, count: 1, intervalMilliseconds: .max, burst: 1),
            FlowTicket(kind: "token", generation: 1, count: 1, intervalMilliseconds: 1000, burst: 100_001),
            FlowTicket(kind: "permit", generation: 1, count: 1, intervalMilliseconds: 1000, burst: 1),
        ] {
            #expect(FlowTicket(received(bad))?.rate == nil, "\(bad)")
        }
        // Not a ticket at all: another task, or a payload that is not one.
        let other = ReceivedMessage(queue: "q", receipt: Receipt(1), attempt: 1, envelope: .success(Envelope(task: "x", payload: Array("{}".utf8))))
        #expect(FlowTicket(other) == nil)
        let garbage = ReceivedMessage(
            queue: "q", receipt: Receipt(1), attempt: 1, envelope: .success(Envelope(task: FlowTicket.taskName, payload: Array(#"{"kind":1}"#.utf8))))
        #expect(FlowTicket(garbage) == nil)
    }

    @Test("limit queue names are valid SQS and RabbitMQ names, distinct per task and key",
          arguments: ["send-email", "a.b", "a_b", "ü✓/ x", String(repeating: "t", count: 300), ""])
    func names(_ task: String) {
        let provider = MemoryQueueProvider()
        for key in [nil, "tenant-1", String(repeating: "k", count: 256)] {
            let queues = FlowQueues(task: task, key: key, provider: provider)
            for name in [queues.permits, queues.seeded, queues.tokens, queues.refills] {
                #expect(name.utf8.count + ".fifo".utf8.count <= 80, "\(name)")
                #expect(name.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }, "\(name)")
                #expect(FlowQueues.isFlowQueue(name))
            }
        }
        #expect(FlowQueues(task: task, provider: provider).permits != FlowQueues(task: task + ".", provider: provider).permits)
        #expect(FlowQueues(task: task, key: "a", provider: provider).permits != FlowQueues(task: task, key: "b", provider: provider).permits)
        #expect(!FlowQueues.isFlowQueue("emails"))
    }

    struct Tenanted: ConveyorTask {
        static let name = "flow.tenanted"
        static func limitKey(for input: String) -> String? { "tenant-\(input)" }
        func run(_ input: String, context: JobContext) async throws {}
    }

    @Test("the limit key travels as a header: from the task's limitKey(for:), or EnqueueOptions.limitKey; too long is refused")
    func limitKeyHeader() async throws {
        let provider = MemoryQueueProvider()
        let client = ConveyorClient(provider: provider)
        try await client.enqueue(Tenanted.self, ["a", "b"], options: .init(queue: "q"))
        try await client.enqueue(Tenanted.self, "c", options: .init(queue: "q", limitKey: "override"))
        try await client.enqueueRaw(task: "raw", payload: Array("{}".utf8), options: .init(queue: "q", limitKey: "raw-key"))
        let received = try await provider.receive(from: "q", max: 10, wait: .seconds(1))
        let keys = received.compactMap { try? $0.envelope.get().headers[Envelope.HeaderKey.limitKey] }
        #expect(keys.sorted() == ["override", "raw-key", "tenant-a", "tenant-b"])
        await #expect(throws: ConveyorError.self) {
            try await client.enqueue(Tenanted.self, String(repeating: "x", count: 300), options: .init(queue: "q"))
        }
        await #expect(throws: ConveyorError.self) { try await client.setGlobalConcurrency(0, for: "t") }
        await #expect(throws: ConveyorError.self) { try await client.setRateLimit(RateLimit(0), for: "t") }
        try await provider.close()
    }
}

/// A limited task does not hold up the other tasks of its queue.
@Suite("Flow limits and the other tasks of a queue")
struct FlowLimitNeighbourTests {
    final class Done: Sendable {
        private let state = Mutex<[String]>([])
        func add(_ task: String) { state.withLock { $0.append(task) } }
        func count(_ task: String) -> Int { state.withLock { $0.filter { $0 == task }.count } }
    }

    struct Slow: ConveyorTask {
        static let name = "neighbours.slow"
        static var options: TaskOptions { TaskOptions(maxAttempts: 1, globalConcurrency: 1) }
        let done: Done
        func run(_ input: Int, context: JobContext) async throws {
            try await Task.sleep(for: .milliseconds(400))
            done.add(Self.name)
        }
    }

    struct Quick: ConveyorTask {
        static let name = "neighbours.quick"
        let done: Done
        func run(_ input: Int, context: JobContext) async throws { done.add(Self.name) }
    }

    /// Twelve jobs of a task limited to one at a time, queued ahead of six jobs of an unlimited task on the same
    /// queue of a worker with four slots: the six run while most of the twelve still wait (the limited jobs that find
    /// no permit wait in at most half the slots, then go back to the queue with a delay).
    @Test func aLimitedTaskLeavesSlotsToTheOthers() async throws {
        let provider = MemoryQueueProvider()
        let done = Done()
        let client = ConveyorClient(provider: provider)
        try await client.enqueue(Slow.self, Array(0..<12), options: .init(queue: "q"))
        try await client.enqueue(Quick.self, Array(0..<6), options: .init(queue: "q"))
        let worker = Worker(
            provider: provider, registry: try TaskRegistry([Slow(done: done), Quick(done: done)]),
            configuration: Worker.Configuration(queues: ["q"], concurrency: 4, receiveWait: .milliseconds(200), shutdownGracePeriod: .seconds(2))
        )
        let running = Task { try await worker.run() }
        let deadline = ContinuousClock.now + .seconds(60)
        while done.count(Quick.name) < 6, ContinuousClock.now < deadline { try await Task.sleep(for: .milliseconds(20)) }
        let slowAtThatTime = done.count(Slow.name)
        worker.triggerGracefulShutdown()
        _ = await running.result
        try await provider.close()
        #expect(done.count(Quick.name) == 6)
        #expect(slowAtThatTime <= 3, "the quick jobs waited behind the limited ones (\(slowAtThatTime) of 12 had run first)")
    }
}
