import Conveyor

/// The RabbitMQ provider's token in a ``Conveyor/Receipt``: a delivery tag of one connection.
struct AMQPReceipt: Hashable, Sendable, CustomStringConvertible {
    /// The channel's delivery tag (from 1).
    var deliveryTag: UInt64
    /// The consumer connection's generation; a tag of an older connection is stale.
    var generation: UInt64

    /// `generation.deliveryTag`.
    var description: String { "\(generation).\(deliveryTag)" }
}

extension ReceivedMessage {
    /// The AMQP receipt of this delivery. Another provider's receipt reads as delivery tag 0 (which AMQP never
    /// hands out) of generation `UInt64.max` (which a connection counter never reaches), so it is stale.
    var amqpReceipt: AMQPReceipt {
        receipt.token(as: AMQPReceipt.self) ?? AMQPReceipt(deliveryTag: 0, generation: .max)
    }
}
