import CRabbitMQ
import Conveyor
import DequeModule
import Foundation
import Logging
import Synchronization

/// Publishes with publisher confirms, pipelined, on its own connection and thread.
///
/// Each ``publish(_:)`` call becomes a batch: its messages are published back to back together with those of
/// every other concurrent call, and the call resumes once the broker confirmed all of them (`basic.ack`, with
/// the `multiple` flag honoured). A `basic.nack` or a `basic.return` (unroutable; messages are published with
/// `mandatory`) fails the call with ``Conveyor/ConveyorError/Code/notConfirmed``. When the connection is lost,
/// unconfirmed messages are published again on the next connection (they may be duplicated, never dropped).
/// While the broker blocks the connection (`connection.blocked`, memory or disk alarm) nothing is published.
final class AMQPPublisher: AMQPConnectionDelegate, @unchecked Sendable {
    let connection: AMQPConnection
    let logger: Logger

    /// The outcome of one `publish` call. Thread-confined except for `once`.
    private final class Batch {
        let once: Once<Void>
        var remaining: Int
        var failure: ConveyorError?

        init(once: Once<Void>, count: Int) {
            self.once = once
            self.remaining = count
        }

        func settle(_ error: ConveyorError?) {
            if let error, failure == nil { failure = error }
            remaining -= 1
            if remaining == 0 {
                once.resume(failure.map { .failure($0) } ?? .success(()))
            }
        }
    }

    private struct Entry {
        var publication: AMQPPublication
        var batch: Batch
        var index: Int
        var count: Int
        var seq: UInt64 = 0
    }

    // Thread-confined.
    private var unsent = Deque<Entry>()
    private var unconfirmed = Deque<Entry>()
    private var nextSeq: UInt64 = 1
    private var returned: [String: String] = [:]
    private var blocked = false
    /// Topology declared on this connection; shared with the provider's admin operations.
    let topology: TopologyCache
    /// Queues published to, declared again after a reconnect.
    private var knownQueues: Set<String> = []
    private var needsDelayLevels = false
    /// When a refused publish last made this publisher reconnect (see ``settle(tag:multiple:nack:)``).
    private var lastNackReconnect: ContinuousClock.Instant?
    /// Least time between two reconnects for refused publishes, so that a queue that refuses everything (full, with
    /// `x-overflow: reject-publish`) does not make the publisher reconnect for every batch.
    static let nackReconnectInterval: Duration = .seconds(1)
    private let declaresQueues: Bool

    init(connection: AMQPConnection, topology: TopologyCache, declaresQueues: Bool) {
        self.connection = connection
        self.logger = connection.logger
        self.topology = topology
        self.declaresQueues = declaresQueues
        connection.delegate = self
    }

    /// Publishes `publications` and returns when the broker confirmed every one of them.
    func publish(_ publications: [AMQPPublication]) async throws {
        guard !publications.isEmpty else { return }
        let once = Once<Void>()
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                once.install(continuation)
                let accepted = connection.submit { [self] c in self.accept(publications, once: once, c) }
                if !accepted { once.resume(.failure(ConveyorError(.closed, "the RabbitMQ provider is closed"))) }
            }
        } onCancel: {
            once.resume(.failure(CancellationError()))
        }
    }

    // MARK: Thread side

    private func accept(_ publications: [AMQPPublication], once: Once<Void>, _ c: AMQPConnection) {
        if c.isClosing {
            once.resume(.failure(ConveyorError(.closed, "the RabbitMQ provider is closed")))
            return
        }
        if c.state == nil && !c.everConnected {
            once.resume(.failure(c.lastError ?? ConveyorError(.connectionFailed, "not connected to RabbitMQ at \(c.settings.redactedNodes)", retryable: true)))
            return
        }
        if let s = c.state {
            do throws(ConveyorError) {
                for publication in publications {
                    if publication.needsDelayLevels { try topology.ensureDelayLevels(c, s) }
                    if publication.needsExchanges { try topology.ensureExchanges(c, s) }
                    if let lock = publication.deduplicationLock { try topology.declareDeduplicationLock(lock, c, s) }
                    if declaresQueues, let queue = publication.queue { try topology.ensureQueue(queue, c, s) }
                }
            } catch {
                once.resume(.failure(error))
                return
            }
        }
        for publication in publications {
            if publication.needsDelayLevels { needsDelayLevels = true }
            if declaresQueues, let queue = publication.queue { knownQueues.insert(queue) }
        }
        let batch = Batch(once: once, count: publications.count)
        for (index, publication) in publications.enumerated() {
            unsent.append(Entry(publication: publication, batch: batch, index: index, count: publications.count))
        }
        flush(c)
    }

    private func flush(_ c: AMQPConnection) {
        guard let s = c.state, !blocked, !unsent.isEmpty else { return }
        let arena = AMQPArena()
        var published = 0
        while var entry = unsent.first {
            if entry.batch.once.isDone {
                unsent.removeFirst()
                continue
            }
            let status = entry.publication.publish(s, arena: arena)
            do throws(ConveyorError) {
                try c.check(status: status, "publishing to \(entry.publication.routingKey)")
            } catch {
                return
            }
            unsent.removeFirst()
            entry.seq = nextSeq
            nextSeq += 1
            unconfirmed.append(entry)
            published += 1
            if published % 256 == 0 { pumpConfirms(c, s) }
        }
    }

    /// Reads confirms that are already there, so that long batches do not fill the socket buffers.
    private func pumpConfirms(_ c: AMQPConnection, _ s: amqp_connection_state_t) {
        while c.state != nil {
            var frame = amqp_frame_t()
            var zero = timeval(tv_sec: 0, tv_usec: 0)
            let rc = amqp_simple_wait_frame_noblock(s, &frame, &zero)
            guard rc == AMQP_STATUS_OK.rawValue else {
                if rc != AMQP_STATUS_TIMEOUT.rawValue {
                    c.markLost(ConveyorError(.connectionFailed, "connection to RabbitMQ lost: \(AMQPConnection.describe(rc))", retryable: true))
                }
                return
            }
            c.dispatch(frame, s)
        }
    }

    private func settle(tag: UInt64, multiple: Bool, nack: Bool) {
        var settled: [Entry] = []
        if multiple {
            while let first = unconfirmed.first, first.seq <= tag {
                settled.append(unconfirmed.removeFirst())
            }
        } else if let index = unconfirmed.firstIndex(where: { $0.seq == tag }) {
            settled.append(unconfirmed.remove(at: index))
        }
        // A work queue's refusal (not a deduplication lock's, which refuses by design) is also how RabbitMQ answers a
        // publish to a quorum queue whose leader is being elected; seen on RabbitMQ 3.10, the channel then went on
        // refusing every publish to that queue after the election (a new connection was accepted at once). So the
        // refused messages fail, and the publisher reconnects (to the next node of a cluster), at most once a second.
        if nack, settled.contains(where: { $0.publication.deduplicationLock == nil && $0.publication.queue != nil }) {
            let now = ContinuousClock.now
            if lastNackReconnect.map({ now - $0 >= Self.nackReconnectInterval }) ?? true {
                lastNackReconnect = now
                connection.markLost(ConveyorError(.connectionFailed, "RabbitMQ refused a publish (basic.nack); reconnecting", retryable: true))
            }
        }
        for entry in settled {
            let id = entry.publication.messageID ?? ""
            let what = "message \(entry.index + 1) of \(entry.count) (job id \(id)) to \(entry.publication.routingKey)"
            if nack {
                entry.batch.settle(ConveyorError(.notConfirmed, "RabbitMQ refused \(what) (basic.nack): the queue may be full, electing a new leader after a node loss, or the broker overloaded; send it again", retryable: true))
            } else if let reason = returned.removeValue(forKey: id) {
                // Its queue (or dead-letter queue) may have been deleted behind our back: declare it again on next use.
                if let queue = entry.publication.queue { topology.declaredQueues.remove(queue) }
                entry.batch.settle(ConveyorError(entry.publication.unroutableCode, "RabbitMQ returned \(what) as unroutable (\(reason)): the queue does not exist"))
            } else {
                entry.batch.settle(nil)
            }
        }
    }

    private func failAll(_ error: ConveyorError) {
        for entry in unconfirmed { entry.batch.settle(error) }
        unconfirmed.removeAll()
        for entry in unsent { entry.batch.settle(error) }
        unsent.removeAll()
        returned.removeAll()
    }

    func connectionDidOpen(_ connection: AMQPConnection) throws(ConveyorError) {
        guard let s = connection.state else { return }
        amqp_confirm_select(s, 1)
        try connection.check(amqp_get_rpc_reply(s), channel: 1, "confirm.select")
        nextSeq = 1
        blocked = false
        if needsDelayLevels { try topology.ensureDelayLevels(connection, s) }
        for queue in knownQueues.sorted() {
            do throws(ConveyorError) {
                try topology.ensureQueue(queue, connection, s)
            } catch where error.code != .connectionFailed {
                knownQueues.remove(queue)
                logger.debug("redeclaring queue failed", metadata: ["conveyor.queue": "\(queue)", "error.message": "\(error)"])
            }
        }
        if !unsent.isEmpty {
            logger.info("republishing unconfirmed messages", metadata: ["amqp.count": "\(unsent.count)"])
        }
        flush(connection)
    }

    func connection(_ connection: AMQPConnection, didReceive frame: amqp_frame_t) throws(ConveyorError) {
        let method = frame.payload.method
        guard let decoded = method.decoded else { return }
        switch method.id {
        case conveyor_method_basic_ack:
            let ack = decoded.assumingMemoryBound(to: amqp_basic_ack_t.self).pointee
            settle(tag: ack.delivery_tag, multiple: ack.multiple != 0, nack: false)
        case conveyor_method_basic_nack:
            let nack = decoded.assumingMemoryBound(to: amqp_basic_nack_t.self).pointee
            settle(tag: nack.delivery_tag, multiple: nack.multiple != 0, nack: true)
        case conveyor_method_basic_return:
            let ret = decoded.assumingMemoryBound(to: amqp_basic_return_t.self).pointee
            let reason = "\(ret.reply_code) \(ret.reply_text.string), exchange \"\(ret.exchange.string)\", routing key \"\(ret.routing_key.string)\""
            guard let s = connection.state else { return }
            let (message, reply) = AMQPDelivery.read(s, channel: frame.channel, tag: 0, redelivered: false, connection: connection)
            try connection.check(reply, channel: 1, "reading a returned message")
            returned[message?.messageID ?? ""] = reason
        default:
            break
        }
    }

    func connection(_ connection: AMQPConnection, mainChannelDidClose error: ConveyorError) throws(ConveyorError) {
        // A publish the broker refused outright (e.g. to a missing exchange): we cannot tell which message, so
        // every unconfirmed one fails; messages not yet published continue on a fresh channel.
        let failure = ConveyorError(.notConfirmed, "RabbitMQ closed the publishing channel: \(error.message)")
        for entry in unconfirmed { entry.batch.settle(failure) }
        unconfirmed.removeAll()
        returned.removeAll()
        // An exchange may have been deleted behind our back: declare the topology again on next use.
        topology.reset()
        guard let s = connection.state else { return }
        amqp_channel_open(s, 1)
        try connection.check(amqp_get_rpc_reply(s), channel: 1, "reopening the publishing channel")
        amqp_confirm_select(s, 1)
        try connection.check(amqp_get_rpc_reply(s), channel: 1, "confirm.select")
        nextSeq = 1
        flush(connection)
    }

    func connectionDidClose(_ connection: AMQPConnection, error: ConveyorError) {
        topology.reset()
        blocked = false
        returned.removeAll()
        if error.code == .closed {
            failAll(ConveyorError(.closed, "the RabbitMQ provider was closed before the broker confirmed the message"))
            return
        }
        // Publish again on the next connection: at least once, never silently dropped.
        while let entry = unconfirmed.popLast() { unsent.prepend(entry) }
    }

    func connectionTick(_ connection: AMQPConnection) {
        flush(connection)
    }

    func nextTickDeadline(_ connection: AMQPConnection) -> ContinuousClock.Instant? { nil }

    func connection(_ connection: AMQPConnection, blocked: Bool) {
        self.blocked = blocked
        if !blocked { flush(connection) }
    }
}
