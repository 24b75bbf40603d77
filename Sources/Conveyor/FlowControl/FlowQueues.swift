/// The broker queues that hold one task's global limits. Their names are valid on every provider (letters,
/// digits, `-`, `_`, at most 80 characters with SQS's `.fifo`): a readable prefix of the task name, a hash of it, and a hash of the
/// limit key if any.
package struct FlowQueues: Sendable, Hashable {
    /// The permits of ``TaskOptions/globalConcurrency``: a deduplicating queue (SQS: FIFO), one message per permit.
    let permits: String
    /// The seed marker: a message here says the permits were seeded, so that a worker starting while every permit is
    /// held does not seed them again. Deduplicating, never consumed.
    let seeded: String
    /// The tokens of a global ``RateLimit``: a standard queue.
    let tokens: String
    /// One claim per refill slot (deduplicated): the worker whose claim is accepted refills the tokens.
    let refills: String

    /// The queues of `task`'s limits, or of one key's (``Envelope/HeaderKey/limitKey``) when `key` is not `nil`.
    init(task: String, key: String? = nil, provider: any QueueProvider) {
        var slug = Self.slug(task)
        if let key { slug += "-" + StableHash.hex(StableHash.fnv1a(key.utf8)) }
        permits = provider.deduplicatingQueueName("conveyor-permits-\(slug)")
        seeded = provider.deduplicatingQueueName("conveyor-seeded-\(slug)")
        tokens = "conveyor-tokens-\(slug)"
        refills = provider.deduplicatingQueueName("conveyor-refills-\(slug)")
    }

    /// The prefixes of the four queue names.
    static let prefixes = ["conveyor-permits-", "conveyor-seeded-", "conveyor-tokens-", "conveyor-refills-"]

    /// Whether `queue` is one of the queues that hold global limits, so that a provider declares it as a plain
    /// durable queue without dead-lettering (RabbitMQ: a classic queue, whatever the provider's queue type: its
    /// tickets are consumed and handed back all the time, with consumers started and cancelled as workers wait).
    package static func isFlowQueue(_ queue: String) -> Bool {
        prefixes.contains { queue.hasPrefix($0) }
    }

    /// Up to 24 characters of `task` (others than letters, digits, `-` and `_` become `_`), `-`, and 16 hex digits
    /// of its hash, so two tasks whose names differ only in replaced characters still get their own queues.
    static func slug(_ task: String) -> String {
        var readable = ""
        for scalar in task.unicodeScalars.prefix(24) {
            let keep = scalar.isASCII && (("a"..."z").contains(scalar) || ("A"..."Z").contains(scalar) || ("0"..."9").contains(scalar) || scalar == "-" || scalar == "_")
            readable.unicodeScalars.append(keep ? scalar : "_")
        }
        return readable + "-" + StableHash.hex(StableHash.fnv1a(task.utf8))
    }
}
