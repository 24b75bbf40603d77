/// The memory provider's token in a ``Receipt``: which delivery of which broker generation.
struct MemoryReceipt: Hashable, Sendable, CustomStringConvertible {
    /// The delivery number (``MemoryQueue``'s counter).
    var sequence: UInt64
    /// The broker generation that handed it out; a receipt of an older one is stale.
    var generation: UInt64

    /// `generation.sequence`.
    var description: String { "\(generation).\(sequence)" }
}

extension ReceivedMessage {
    /// The memory receipt of this delivery. Another provider's receipt reads as one of generation 0, which no broker
    /// state has (theirs are random in `1...UInt64.max`), so it is stale.
    var memoryReceipt: MemoryReceipt {
        receipt.token(as: MemoryReceipt.self) ?? MemoryReceipt(sequence: 0, generation: 0)
    }
}
