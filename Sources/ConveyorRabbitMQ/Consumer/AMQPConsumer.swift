import CRabbitMQ
import Conveyor
import DequeModule
import Foundation
import Logging
import Synchronization

/// The push consumer: one connection and thread, one `basic.consume` per queue with manual acks and a
/// `basic.qos` prefetch, and a local buffer per queue that ``receive(from:max:wait:)`` drains.
///
/// A receive that finds the buffer empty waits on a continuation that the consumer thread resumes when
/// deliveries arrive or its deadline passes (checked on every turn of the thread's loop). Receipts carry the
/// delivery tag and the connection generation; when the connection is lost, buffered deliveries are dropped
/// (the broker redelivers them) and acks for receipts of an older generation are ignored.
final class AMQPConsumer: AMQPConnectionDelegate, @unchecked Sendable {
    let connection: AMQPConnection
    let logger: Logger
    let topology: TopologyCache
    let declaresQueues: Bool
    let configuredPrefetch: Int?

    private struct Waiter {
        var id: UInt64
        var max: Int
        var deadline: ContinuousClock.Instant
        var once: Once<[ReceivedMessage]>
    }

    private struct QueueState {
        var prefetch: Int
        var buffer = Deque<ReceivedMessage>()
        var waiters: [Waiter] = []
        var inFlight: Set<UInt64> = []
        /// Created by ``prepare(_:prefetch:)``: consuming has not started yet.
        var prepared = false
        /// Consuming was stopped by ``stopConsuming(_:)`` (a paused queue); the next receive starts it again, and a
        /// reconnect does not.
        var stopped = false
    }

    private struct Shared {
        var generation: UInt64 = 0
        var queues: [String: QueueState] = [:]
        var nextWaiterID: UInt64 = 0
        var closed = false
    }

    private let shared = Mutex(Shared())

    private struct PendingSettlement {
        var generation: UInt64
        var tags: [UInt64]
        var reject: Bool
    }

    private struct PendingSettlements {
        var entries: [PendingSettlement] = []
        /// A flush job is queued on the connection thread.
        var scheduled = false
    }

    /// Settlements waiting for the connection thread.
    private let settlements = Mutex(PendingSettlements())

    // Thread-confined.
    private var consuming: Set<String> = []
    private var incoming: [String: [AMQPDelivery]] = [:]
    /// Ack tracking of the main channel (see ``ackOnThread(_:generation:_:)``): every tag up to `ackFloor` is
    /// settled, and so are the tags in `settledAboveFloor`.
    private var ackGeneration: UInt64 = 0
    private var ackFloor: UInt64 = 0
    private var settledAboveFloor: Set<UInt64> = []
    private var multipleAcks = true

    init(connection: AMQPConnection, topology: TopologyCache, declaresQueues: Bool, prefetch: Int?) {
        self.connection = connection
        self.logger = connection.logger
        self.topology = topology
        self.declaresQueues = declaresQueues
        self.configuredPrefetch = prefetch
        connection.delegate = self
    }

    // MARK: Caller side

    func receive(from queue: String, max: Int, wait: Duration) async throws -> [ReceivedMessage] {
        let max = Swift.max(1, max)
        let once = Once<[ReceivedMessage]>()
        let deadline = ContinuousClock.now + Swift.min(wait, .seconds(86_400 * 365))
        enum Step { case done([ReceivedMessage]), wait(UInt64) }
        let (step, isNew): (Step, Bool) = try shared.withLock { s throws(ConveyorError) in
            if s.closed { throw ConveyorError(.closed, "the RabbitMQ provider is closed") }
            var q = s.queues[queue] ?? QueueState(prefetch: configuredPrefetch ?? Swift.min(Swift.max(max, 1), 65535), prepared: true)
            let isNew = q.prepared || q.stopped
            q.prepared = false
            q.stopped = false
            defer { s.queues[queue] = q }
            if !q.buffer.isEmpty {
                return (.done(Self.take(max, from: &q)), isNew)
            }
            if wait <= .zero { return (.done([]), isNew) }
            s.nextWaiterID += 1
            q.waiters.append(Waiter(id: s.nextWaiterID, max: max, deadline: deadline, once: once))
            return (.wait(s.nextWaiterID), isNew)
        }
        if isNew {
            connection.submit { [self] c in self.startConsuming(queue, c) }
        } else if case .wait = step, wait < .seconds(1) {
            // The thread may be asleep until a later deadline: let it see this one.
            connection.wake()
        }
        switch step {
        case .done(let messages):
            return messages
        case .wait(let id):
            return try await withTaskCancellationHandler {
                try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<[ReceivedMessage], any Error>) in
                    once.install(continuation)
                }
            } onCancel: {
                shared.withLock { s in s.queues[queue]?.waiters.removeAll { $0.id == id } }
                once.resume(.success([]))
            }
        }
    }

    /// Records the prefetch for `queue` before its first receive (the configured prefetch wins).
    func prepare(_ queue: String, prefetch: Int) {
        shared.withLock { s in
            guard s.queues[queue] == nil else { return }
            s.queues[queue] = QueueState(prefetch: configuredPrefetch ?? prefetch, prepared: true)
        }
    }

    private static func take(_ max: Int, from q: inout QueueState) -> [ReceivedMessage] {
        var out: [ReceivedMessage] = []
        while out.count < max, let m = q.buffer.popFirst() {
            q.inFlight.insert(m.amqpReceipt.deliveryTag)
            out.append(m)
        }
        return out
    }

    /// Marks receipts settled locally and returns the delivery tags still valid on the current connection.
    func settleLocally(_ messages: [ReceivedMessage]) throws(ConveyorError) -> (generation: UInt64, tags: [UInt64]) {
        try shared.withLock { s throws(ConveyorError) in
            if s.closed { throw ConveyorError(.closed, "the RabbitMQ provider is closed") }
            var tags: [UInt64] = []
            for m in messages where m.amqpReceipt.generation == s.generation {
                if s.queues[m.queue]?.inFlight.remove(m.amqpReceipt.deliveryTag) != nil {
                    tags.append(m.amqpReceipt.deliveryTag)
                }
            }
            return (s.generation, tags)
        }
    }

    /// Whether `message`'s receipt is still valid (current connection, not yet settled).
    func isCurrent(_ message: ReceivedMessage) -> Bool {
        shared.withLock { s in
            message.amqpReceipt.generation == s.generation && s.queues[message.queue]?.inFlight.contains(message.amqpReceipt.deliveryTag) == true
        }
    }

    /// Acks (or, with `reject`, rejects with requeue) delivery tags of `generation`; tags of an older connection
    /// are dropped. Returns once the tags are queued for the connection thread, which sends every queued
    /// settlement on its next turn (acks that pile up while it is busy go out together): `basic.ack` has no
    /// reply to wait for, and a settlement lost with its connection is redelivered by the broker either way.
    func settle(tags: [UInt64], generation: UInt64, reject: Bool = false) async throws {
        guard !tags.isEmpty else { return }
        let schedule: Bool = settlements.withLock { pending in
            pending.entries.append(PendingSettlement(generation: generation, tags: tags, reject: reject))
            if pending.scheduled { return false }
            pending.scheduled = true
            return true
        }
        guard schedule else { return }
        let accepted = connection.submit { [self] c in self.flushSettlements(c) }
        if !accepted {
            settlements.withLock { $0 = PendingSettlements() }
            throw ConveyorError(.closed, "the RabbitMQ provider is closed")
        }
    }

    /// Sends the queued settlements (thread only).
    private func flushSettlements(_ c: AMQPConnection) {
        let entries = settlements.withLock { pending -> [PendingSettlement] in
            pending.scheduled = false
            defer { pending.entries.removeAll(keepingCapacity: true) }
            return pending.entries
        }
        guard let s = c.state else { return }  // stale: the broker redelivers these
        // Acks of one generation go in one call, so that contiguous tags become one `basic.ack` with `multiple`.
        var acks: [UInt64] = []
        var ackGeneration: UInt64?
        func sendAcks() -> Bool {
            defer { acks.removeAll(keepingCapacity: true) }
            guard let generation = ackGeneration, generation == c.generation, !acks.isEmpty else { return true }
            let status = ackOnThread(acks, generation: generation, s)
            if status != AMQP_STATUS_OK.rawValue {
                c.markLost(ConveyorError(.connectionFailed, "ack failed: \(AMQPConnection.describe(status))", retryable: true))
                return false
            }
            return true
        }
        for entry in entries {
            if entry.reject {
                guard sendAcks() else { return }
                guard entry.generation == c.generation else { continue }
                let status = rejectOnThread(entry.tags, generation: entry.generation, s)
                if status != AMQP_STATUS_OK.rawValue {
                    c.markLost(ConveyorError(.connectionFailed, "reject failed: \(AMQPConnection.describe(status))", retryable: true))
                    return
                }
                continue
            }
            if ackGeneration != entry.generation {
                guard sendAcks() else { return }
                ackGeneration = entry.generation
            }
            acks.append(contentsOf: entry.tags)
        }
        _ = sendAcks()
    }

    /// Acks `tags` (thread only). Tags are settled in delivery order most of the time, so the channel's lowest
    /// unsettled tag (`ackFloor` + 1) is tracked: the tags of the batch that close the gap up to a new floor go
    /// in one `basic.ack` with `multiple` (RabbitMQ requires the named tag itself to be unacked, so it is the
    /// highest batch tag below the floor); the others are acked one by one.
    private func ackOnThread(_ tags: [UInt64], generation: UInt64, _ s: amqp_connection_state_t) -> Int32 {
        resetAckTracking(generation)
        guard multipleAcks else {
            for tag in tags {
                let status = amqp_basic_ack(s, 1, tag, 0)
                if status != AMQP_STATUS_OK.rawValue { return status }
            }
            return AMQP_STATUS_OK.rawValue
        }
        for tag in tags where tag > ackFloor { settledAboveFloor.insert(tag) }
        var floor = ackFloor
        while floor < UInt64.max, settledAboveFloor.remove(floor + 1) != nil { floor += 1 }
        var multipleTag: UInt64 = 0
        for tag in tags where tag <= floor && tag > ackFloor && tag > multipleTag { multipleTag = tag }
        ackFloor = floor
        if multipleTag != 0 {
            let status = amqp_basic_ack(s, 1, multipleTag, 1)
            if status != AMQP_STATUS_OK.rawValue { return status }
        }
        for tag in tags where tag > floor {
            let status = amqp_basic_ack(s, 1, tag, 0)
            if status != AMQP_STATUS_OK.rawValue { return status }
        }
        if settledAboveFloor.count > 65_536 {
            // A delivery stays unsettled for long (or was never handed out): stop tracking until reconnect.
            multipleAcks = false
            settledAboveFloor = []
        }
        return AMQP_STATUS_OK.rawValue
    }

    /// Delivery tags start again at 1 on a new connection.
    private func resetAckTracking(_ generation: UInt64) {
        guard ackGeneration != generation else { return }
        ackGeneration = generation
        ackFloor = 0
        settledAboveFloor = []
        multipleAcks = true
    }

    /// Rejects `tags` with requeue (thread only); they count as settled for ``ackOnThread(_:generation:_:)``.
    private func rejectOnThread(_ tags: [UInt64], generation: UInt64, _ s: amqp_connection_state_t) -> Int32 {
        resetAckTracking(generation)
        for tag in tags {
            let status = amqp_basic_reject(s, 1, tag, 1)
            if status != AMQP_STATUS_OK.rawValue { return status }
            if multipleAcks && tag > ackFloor { settledAboveFloor.insert(tag) }
        }
        return AMQP_STATUS_OK.rawValue
    }

    /// Deliveries of `queue` buffered locally (not yet received) and handed out but not yet settled.
    func localCounts(_ queue: String) -> (buffered: Int, inFlight: Int) {
        shared.withLock { s in (s.queues[queue]?.buffer.count ?? 0, s.queues[queue]?.inFlight.count ?? 0) }
    }

    /// Stops consuming `queue` and drops its buffer (before the queue is deleted).
    func forget(_ queue: String) async {
        let existed = shared.withLock { s -> [Waiter]? in
            guard let q = s.queues.removeValue(forKey: queue) else { return nil }
            return q.waiters
        }
        guard let waiters = existed else { return }
        for w in waiters { w.once.resume(.success([])) }
        let once = Once<Void>()
        _ = try? await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
            once.install(continuation)
            let accepted = connection.submit { [self] c in
                if let s = c.state, consuming.contains(queue) {
                    let arena = AMQPArena()
                    amqp_basic_cancel(s, 1, arena.bytes(queue))
                    try? c.check(amqp_get_rpc_reply(s), channel: 1, "basic.cancel \(queue)")
                }
                consuming.remove(queue)
                incoming[queue] = nil
                once.resume(.success(()))
            }
            if !accepted { once.resume(.success(())) }
        }
    }

    /// Stops pushing `queue`'s messages (`basic.cancel`) and hands the deliveries buffered for it and not yet
    /// received back to RabbitMQ (rejected with requeue), so that a paused queue holds no unacknowledged delivery
    /// (RabbitMQ closes a channel whose delivery stays unacknowledged past its `consumer_timeout`). Deliveries
    /// handed out stay in flight. The next receive of `queue` consumes again.
    func stopConsuming(_ queue: String) async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let accepted = connection.submit { [self] c in
                defer { continuation.resume() }
                let generation = c.generation
                let buffered: [UInt64] = shared.withLock { s in
                    guard var q = s.queues[queue] else { return [] }
                    defer { s.queues[queue] = q }
                    q.stopped = true
                    let tags = s.generation == generation ? q.buffer.map(\.amqpReceipt.deliveryTag) : []
                    q.buffer.removeAll()
                    return tags
                }
                guard consuming.contains(queue), let s = c.state else { return }
                consuming.remove(queue)
                let arena = AMQPArena()
                amqp_basic_cancel(s, 1, arena.bytes(queue))
                try? c.check(amqp_get_rpc_reply(s), channel: 1, "basic.cancel \(queue)")
                // Deliveries read before the cancel-ok and not yet buffered; later ones are rejected as they come.
                let staged = (incoming.removeValue(forKey: queue) ?? []).map(\.deliveryTag)
                guard let s = c.state, !(buffered + staged).isEmpty else { return }
                let status = rejectOnThread(buffered + staged, generation: generation, s)
                if status != AMQP_STATUS_OK.rawValue {
                    c.markLost(ConveyorError(.connectionFailed, "reject failed: \(AMQPConnection.describe(status))", retryable: true))
                }
            }
            if !accepted { continuation.resume() }
        }
    }

    func close() {
        let waiters = shared.withLock { s -> [Waiter] in
            s.closed = true
            let w = s.queues.values.flatMap(\.waiters)
            for key in s.queues.keys { s.queues[key]?.waiters = [] }
            return w
        }
        for w in waiters { w.once.resume(.success([])) }
    }

    // MARK: Thread side

    private func startConsuming(_ queue: String, _ c: AMQPConnection) {
        if consuming.contains(queue) { return }
        if c.isClosing { return }
        guard let s = c.state else {
            if !c.everConnected {
                fail(queue, c.lastError ?? ConveyorError(.connectionFailed, "not connected to RabbitMQ", retryable: true))
            }
            return  // consumed again when the connection opens
        }
        do throws(ConveyorError) {
            try consume(queue, c, s)
        } catch {
            if error.code != .connectionFailed { fail(queue, error) }
        }
    }

    private func consume(_ queue: String, _ c: AMQPConnection, _ s: amqp_connection_state_t) throws(ConveyorError) {
        guard let prefetch = shared.withLock({ $0.queues[queue]?.prefetch }) else { return }
        if declaresQueues {
            try topology.ensureQueue(queue, c, s)
        } else {
            let arena = AMQPArena()
            amqp_queue_declare(s, 2, arena.bytes(queue), 1, 0, 0, 0, amqp_table_t())
            try c.check(amqp_get_rpc_reply(s), channel: 2, "queue \(queue)")
        }
        amqp_basic_qos(s, 1, 0, UInt16(prefetch), 0)
        try c.check(amqp_get_rpc_reply(s), channel: 1, "basic.qos")
        let arena = AMQPArena()
        amqp_basic_consume(s, 1, arena.bytes(queue), arena.bytes(queue), 0, 0, 0, amqp_table_t())
        try c.check(amqp_get_rpc_reply(s), channel: 1, "basic.consume on \(queue)")
        consuming.insert(queue)
        logger.debug("consuming", metadata: ["conveyor.queue": "\(queue)", "amqp.prefetch": "\(prefetch)"])
    }

    /// Fails the waiters of `queue` and forgets it, so that the next receive tries again.
    private func fail(_ queue: String, _ error: ConveyorError) {
        let waiters = shared.withLock { s -> [Waiter] in
            s.queues.removeValue(forKey: queue)?.waiters ?? []
        }
        for w in waiters { w.once.resume(.failure(error)) }
    }

    func connectionDidOpen(_ connection: AMQPConnection) throws(ConveyorError) {
        guard let s = connection.state else { return }
        let queues = shared.withLock { st -> [String] in
            st.generation = connection.generation
            return st.queues.filter { !$0.value.stopped }.keys.sorted()
        }
        for queue in queues {
            do throws(ConveyorError) {
                try consume(queue, connection, s)
            } catch where error.code != .connectionFailed {
                fail(queue, error)
            }
        }
    }

    func connection(_ connection: AMQPConnection, didReceive frame: amqp_frame_t) throws(ConveyorError) {
        let method = frame.payload.method
        guard let decoded = method.decoded else { return }
        switch method.id {
        case conveyor_method_basic_deliver:
            let deliver = decoded.assumingMemoryBound(to: amqp_basic_deliver_t.self).pointee
            let queue = deliver.consumer_tag.string
            let tag = deliver.delivery_tag
            let redelivered = deliver.redelivered != 0
            guard let s = connection.state else { return }
            let (read, reply) = AMQPDelivery.read(s, channel: frame.channel, tag: tag, redelivered: redelivered, connection: connection)
            try connection.check(reply, channel: 1, "reading a delivery")
            guard let delivery = read else { return }
            guard consuming.contains(queue) else {
                // Its consumer was cancelled (a paused queue) after RabbitMQ sent it: hand it back.
                let status = rejectOnThread([tag], generation: connection.generation, s)
                if status != AMQP_STATUS_OK.rawValue {
                    connection.markLost(ConveyorError(.connectionFailed, "reject failed: \(AMQPConnection.describe(status))", retryable: true))
                }
                return
            }
            incoming[queue, default: []].append(delivery)
        case conveyor_method_basic_cancel:
            // The broker cancelled the consumer (the queue was deleted).
            let cancel = decoded.assumingMemoryBound(to: amqp_basic_cancel_t.self).pointee
            let queue = cancel.consumer_tag.string
            consuming.remove(queue)
            incoming[queue] = nil
            let waiters = shared.withLock { s -> [Waiter] in s.queues.removeValue(forKey: queue)?.waiters ?? [] }
            for w in waiters { w.once.resume(.success([])) }
            logger.debug("the broker cancelled the consumer", metadata: ["conveyor.queue": "\(queue)"])
        default:
            break
        }
    }

    func connection(_ connection: AMQPConnection, mainChannelDidClose error: ConveyorError) throws(ConveyorError) {
        throw error  // reconnect: consumers and unacked deliveries belong to the channel
    }

    func connectionDidClose(_ connection: AMQPConnection, error: ConveyorError) {
        consuming = []
        incoming = [:]
        topology.reset()
        let dropped = shared.withLock { s -> Int in
            s.generation = 0
            var n = 0
            for key in s.queues.keys {
                n += s.queues[key]!.buffer.count + s.queues[key]!.inFlight.count
                s.queues[key]!.buffer.removeAll()
                s.queues[key]!.inFlight.removeAll()
            }
            return n
        }
        if dropped > 0 && error.code != .closed {
            logger.debug("dropped deliveries of the lost connection; the broker redelivers them", metadata: ["amqp.count": "\(dropped)"])
        }
    }

    func connectionTick(_ connection: AMQPConnection) {
        let generation = connection.generation
        let batch = incoming
        if !batch.isEmpty { incoming = [:] }
        let now = ContinuousClock.now
        // Decode outside the lock.
        let received = batch.map { queue, deliveries in
            (queue, deliveries.map { $0.received(queue: queue, generation: generation) })
        }
        var resumes: [(Once<[ReceivedMessage]>, [ReceivedMessage], String)] = []
        shared.withLock { s in
            for (queue, messages) in received {
                guard s.queues[queue] != nil, s.generation == generation else { continue }
                s.queues[queue]!.buffer.append(contentsOf: messages)
            }
            for queue in s.queues.keys where !s.queues[queue]!.waiters.isEmpty {
                var q = s.queues[queue]!
                while !q.buffer.isEmpty, !q.waiters.isEmpty {
                    let w = q.waiters.removeFirst()
                    resumes.append((w.once, Self.take(w.max, from: &q), queue))
                }
                q.waiters.removeAll { w in
                    guard w.deadline <= now else { return false }
                    resumes.append((w.once, [], queue))
                    return true
                }
                s.queues[queue] = q
            }
        }
        for (once, messages, queue) in resumes where !once.resume(.success(messages)) && !messages.isEmpty {
            // The receiver was cancelled meanwhile: put the messages back.
            shared.withLock { s in
                guard s.queues[queue] != nil else { return }
                for m in messages.reversed() where m.amqpReceipt.generation == s.generation {
                    s.queues[queue]!.inFlight.remove(m.amqpReceipt.deliveryTag)
                    s.queues[queue]!.buffer.prepend(m)
                }
            }
        }
    }

    /// The earliest deadline of a waiting receive (expired waiters are resumed by the tick).
    func nextTickDeadline(_ connection: AMQPConnection) -> ContinuousClock.Instant? {
        shared.withLock { s in
            var earliest: ContinuousClock.Instant?
            for q in s.queues.values {
                for w in q.waiters where earliest == nil || w.deadline < earliest! { earliest = w.deadline }
            }
            return earliest
        }
    }

    func connection(_ connection: AMQPConnection, blocked: Bool) {}
}
