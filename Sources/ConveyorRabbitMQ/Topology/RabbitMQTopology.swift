import Synchronization
import CRabbitMQ
import Conveyor

/// The broker objects Conveyor declares, and how to declare them.
///
/// For a work queue `q`:
/// - `q`: durable, classic or quorum (`x-queue-type`), optional `x-max-priority`, dead-lettering to the
///   `conveyor.dead-letter` exchange with routing key `q` (used by quorum `x-delivery-limit` and rejects);
/// - `q.dlq`: the dead-letter queue, bound to `conveyor.dead-letter` with key `q`;
/// - a binding of `q` to the `conveyor.delay.deliver` topic exchange with key `*.*.…(28×).q`.
///
/// Delays (shared by all queues of a vhost) use the binary decomposition of NServiceBus and kombu: 28 levels,
/// level `L` being a topic exchange and a classic queue `conveyor.delay.L` with `x-message-ttl` = 2^L s that
/// dead-letters into exchange `L-1` (level 0 into `conveyor.delay.deliver`). A message delayed by `d` seconds
/// is published to exchange 27 with routing key `b27.b26.….b0.q` (the bits of `d`); exchange `L` routes it to
/// queue `L` if bit `L` is 1 and on to exchange `L-1` otherwise. Every level queue holds messages of one TTL,
/// so no message waits behind a longer one (no head-of-line blocking), and the largest delay is 2^28-1 s
/// (about 8.5 years). Delays are rounded up to whole seconds.
struct RabbitMQTopology: Sendable {
    /// Number of delay levels.
    static let delayLevels = 28
    /// Longest delay of one hop through the delay levels.
    static let maximumDelay = Duration.seconds((1 << delayLevels) - 1)
    /// Exchange receiving messages dead-lettered by work queues.
    static let deadLetterExchange = "conveyor.dead-letter"
    /// Topic exchange delivering messages out of the last delay level to their work queue.
    static let delayDeliveryExchange = "conveyor.delay.deliver"
    /// Direct exchange carrying job events to observers, routed by the name of the queue they are about.
    static let eventsExchange = "conveyor.events"

    static func delayExchange(level: Int) -> String { "conveyor.delay.\(level)" }
    static func delayQueue(level: Int) -> String { "conveyor.delay.\(level)" }
    static func deadLetterQueue(of queue: String) -> String { "\(queue).dlq" }
    /// The exchange a delayed message is published to.
    static var delayEntryExchange: String { delayExchange(level: delayLevels - 1) }

    /// Whole seconds of `delay`, rounded up, capped at ``maximumDelay``.
    static func delaySeconds(_ delay: Duration) -> Int {
        let (s, atto) = delay.components
        let limit = (1 << delayLevels) - 1
        guard s < Int64(limit) else { return limit }
        let seconds = Int(s) + (atto > 0 ? 1 : 0)
        return min(max(seconds, 0), limit)
    }

    /// The routing key of a message delayed by `seconds` for `queue`.
    static func delayRoutingKey(seconds: Int, queue: String) -> String {
        var words: [String] = []
        words.reserveCapacity(delayLevels + 1)
        for level in stride(from: delayLevels - 1, through: 0, by: -1) {
            words.append((seconds >> level) & 1 == 1 ? "1" : "0")
        }
        words.append(queue)
        return words.joined(separator: ".")
    }

    /// The binding key of `queue` on the delivery exchange.
    static func deliveryBindingKey(queue: String) -> String {
        String(repeating: "*.", count: delayLevels) + queue
    }

    /// The binding key selecting messages whose bit `level` is `bit`.
    static func levelBindingKey(level: Int, bit: Character) -> String {
        var words = [String](repeating: "*", count: delayLevels)
        words[delayLevels - 1 - level] = String(bit)
        return words.joined(separator: ".") + ".#"
    }

    var queueType: RabbitMQQueueProvider.QueueType
    var maxPriority: Int?
    /// The reply queues this provider created (`createReplyQueue`): declared with ``replyQueueArguments`` by
    /// either connection, never as work queues. Shared by both connections' caches.
    let replyQueues = ReplyQueueNames()
    /// How long a reply queue may stay unused (no consumer) before RabbitMQ deletes it (`x-expires`): a producer
    /// that crashed leaves nothing behind for longer. 5 minutes.
    static let replyQueueExpiry: Int64 = 300_000

    /// Arguments of a reply queue: classic, deleted after ``replyQueueExpiry`` unused, no dead-lettering.
    static var replyQueueArguments: [(String, AMQPValue)] {
        [("x-queue-type", .string("classic")), ("x-expires", .int(replyQueueExpiry))]
    }
    /// The deduplication window in milliseconds: the TTL of a lock queue's marker and the lock queue's
    /// `x-expires` (see `RabbitMQQueueProvider+Deduplication.swift`).
    var deduplicationMilliseconds: Int64 = 300_000

    /// Arguments of a work queue.
    func workQueueArguments(_ queue: String, options: QueueOptions?) -> [(String, AMQPValue)] {
        var args: [(String, AMQPValue)] = [
            ("x-queue-type", .string(queueType.rawValue)),
            ("x-dead-letter-exchange", .string(Self.deadLetterExchange)),
            ("x-dead-letter-routing-key", .string(queue)),
        ]
        if let maxPriority, queueType == .classic {
            args.append(("x-max-priority", .int(Int64(maxPriority))))
        }
        if queueType == .quorum, let limit = options?.maxReceiveCount {
            args.append(("x-delivery-limit", .int(Int64(limit))))
        }
        return args
    }
}

/// What one connection has declared since it opened. Thread-confined to that connection.
final class TopologyCache {
    let topology: RabbitMQTopology
    var declaredQueues: Set<String> = []
    var declaredExchanges = false
    var declaredDelayLevels = false
    /// Options given to `createQueue`, used when the queue is declared again.
    var options: [String: QueueOptions] = [:]

    init(topology: RabbitMQTopology) {
        self.topology = topology
    }

    func reset() {
        declaredQueues = []
        declaredExchanges = false
        declaredDelayLevels = false
    }

    /// Declares `queue`, its dead-letter queue and bindings on channel 2, once per connection; a reply queue
    /// alone, with its own arguments.
    func ensureQueue(_ queue: String, _ c: AMQPConnection, _ s: amqp_connection_state_t) throws(ConveyorError) {
        guard !declaredQueues.contains(queue) else { return }
        try validate(queue)
        if topology.replyQueues.contains(queue) {
            let arena = AMQPArena()
            amqp_queue_declare(s, 2, arena.bytes(queue), 0, 0, 0, 0, arena.table(RabbitMQTopology.replyQueueArguments))
            try c.check(amqp_get_rpc_reply(s), channel: 2, "declaring reply queue \(queue)")
            // An event subscription is bound again with it: declared anew after its node was lost (a reply queue is
            // classic and lives on one node), it would otherwise receive nothing.
            if let observed = topology.replyQueues.observed(by: queue) {
                try ensureExchanges(c, s)
                amqp_queue_bind(s, 2, arena.bytes(queue), arena.bytes(RabbitMQTopology.eventsExchange), arena.bytes(observed), amqp_table_t())
                try c.check(amqp_get_rpc_reply(s), channel: 2, "binding \(queue) to the events of \(observed)")
            }
            declaredQueues.insert(queue)
            return
        }
        if FlowQueues.isFlowQueue(queue) {
            // The permits and tokens of global limits: classic (quorum queues of RabbitMQ 3.10 crash the channel when
            // a delivery crosses a basic.cancel, which waiting for tickets does often), durable, no dead-lettering.
            let arena = AMQPArena()
            amqp_queue_declare(s, 2, arena.bytes(queue), 0, 1, 0, 0, arena.table([("x-queue-type", .string("classic"))]))
            try c.check(amqp_get_rpc_reply(s), channel: 2, "declaring flow-control queue \(queue)")
            declaredQueues.insert(queue)
            return
        }
        try ensureExchanges(c, s)
        let arena = AMQPArena()
        let dlq = RabbitMQTopology.deadLetterQueue(of: queue)
        let typeArgs = arena.table([("x-queue-type", .string(topology.queueType.rawValue))])
        amqp_queue_declare(s, 2, arena.bytes(dlq), 0, 1, 0, 0, typeArgs)
        try c.check(amqp_get_rpc_reply(s), channel: 2, "declaring dead-letter queue \(dlq)")
        amqp_queue_bind(s, 2, arena.bytes(dlq), arena.bytes(RabbitMQTopology.deadLetterExchange), arena.bytes(queue), amqp_table_t())
        try c.check(amqp_get_rpc_reply(s), channel: 2, "binding dead-letter queue \(dlq)")
        let args = arena.table(topology.workQueueArguments(queue, options: options[queue]))
        amqp_queue_declare(s, 2, arena.bytes(queue), 0, 1, 0, 0, args)
        try c.check(
            amqp_get_rpc_reply(s), channel: 2,
            "declaring queue \(queue) (\(topology.queueType) queue\(topology.maxPriority.map { ", x-max-priority \($0)" } ?? ""); a queue that exists with other arguments must be deleted or declared with the same settings)"
        )
        amqp_queue_bind(s, 2, arena.bytes(queue), arena.bytes(RabbitMQTopology.delayDeliveryExchange), arena.bytes(RabbitMQTopology.deliveryBindingKey(queue: queue)), amqp_table_t())
        try c.check(amqp_get_rpc_reply(s), channel: 2, "binding queue \(queue) to the delay exchange")
        declaredQueues.insert(queue)
    }

    /// Declares the dead-letter and delay delivery exchanges.
    func ensureExchanges(_ c: AMQPConnection, _ s: amqp_connection_state_t) throws(ConveyorError) {
        guard !declaredExchanges else { return }
        let arena = AMQPArena()
        amqp_exchange_declare(s, 2, arena.bytes(RabbitMQTopology.deadLetterExchange), arena.bytes("direct"), 0, 1, 0, 0, amqp_table_t())
        try c.check(amqp_get_rpc_reply(s), channel: 2, "declaring exchange \(RabbitMQTopology.deadLetterExchange)")
        amqp_exchange_declare(s, 2, arena.bytes(RabbitMQTopology.delayDeliveryExchange), arena.bytes("topic"), 0, 1, 0, 0, amqp_table_t())
        try c.check(amqp_get_rpc_reply(s), channel: 2, "declaring exchange \(RabbitMQTopology.delayDeliveryExchange)")
        amqp_exchange_declare(s, 2, arena.bytes(RabbitMQTopology.eventsExchange), arena.bytes("direct"), 0, 1, 0, 0, amqp_table_t())
        try c.check(amqp_get_rpc_reply(s), channel: 2, "declaring exchange \(RabbitMQTopology.eventsExchange)")
        declaredExchanges = true
    }

    /// Declares the 28 delay levels (exchanges, queues, bindings).
    func ensureDelayLevels(_ c: AMQPConnection, _ s: amqp_connection_state_t) throws(ConveyorError) {
        guard !declaredDelayLevels else { return }
        try ensureExchanges(c, s)
        let arena = AMQPArena()
        let topic = arena.bytes("topic")
        for level in 0..<RabbitMQTopology.delayLevels {
            let name = RabbitMQTopology.delayExchange(level: level)
            amqp_exchange_declare(s, 2, arena.bytes(name), topic, 0, 1, 0, 0, amqp_table_t())
            try c.check(amqp_get_rpc_reply(s), channel: 2, "declaring delay exchange \(name)")
            let next = level == 0 ? RabbitMQTopology.delayDeliveryExchange : RabbitMQTopology.delayExchange(level: level - 1)
            let args = arena.table([
                ("x-queue-type", .string("classic")),
                ("x-message-ttl", .int(Int64(1000) << Int64(level))),
                ("x-dead-letter-exchange", .string(next)),
            ])
            let queue = RabbitMQTopology.delayQueue(level: level)
            amqp_queue_declare(s, 2, arena.bytes(queue), 0, 1, 0, 0, args)
            try c.check(amqp_get_rpc_reply(s), channel: 2, "declaring delay queue \(queue)")
            amqp_queue_bind(s, 2, arena.bytes(queue), arena.bytes(name), arena.bytes(RabbitMQTopology.levelBindingKey(level: level, bit: "1")), amqp_table_t())
            try c.check(amqp_get_rpc_reply(s), channel: 2, "binding delay queue \(queue)")
            amqp_exchange_bind(s, 2, arena.bytes(next), arena.bytes(name), arena.bytes(RabbitMQTopology.levelBindingKey(level: level, bit: "0")), amqp_table_t())
            try c.check(amqp_get_rpc_reply(s), channel: 2, "binding delay exchange \(next) to \(name)")
        }
        declaredDelayLevels = true
    }

    private func validate(_ queue: String) throws(ConveyorError) {
        guard !queue.isEmpty, queue.utf8.count <= 200 else {
            throw ConveyorError(.invalidParameter, "queue names must have 1 to 200 bytes, got \(queue.utf8.count)")
        }
        guard !queue.hasPrefix("amq."), !queue.contains("*"), !queue.contains("#") else {
            throw ConveyorError(.invalidParameter, "queue name \"\(queue)\" is reserved or contains * or # (RabbitMQ reserves amq.*; * and # are topic wildcards)")
        }
    }
}

/// The names of the reply queues a provider created, shared by its connections, with the queue whose events each
/// event subscription receives (its binding to `conveyor.events`).
final class ReplyQueueNames: Sendable {
    /// Reply queue name → the observed queue (the binding's routing key), `nil` for a plain reply queue.
    private let names = Mutex<[String: String?]>([:])

    func insert(_ name: String, events observed: String? = nil) { names.withLock { $0[name] = .some(observed) } }
    func remove(_ name: String) { names.withLock { _ = $0.removeValue(forKey: name) } }
    func contains(_ name: String) -> Bool { names.withLock { $0[name] != nil } }
    /// The queue whose events `name` is bound to receive, if it is an event subscription.
    func observed(by name: String) -> String? { names.withLock { $0[name] ?? nil } }
}
