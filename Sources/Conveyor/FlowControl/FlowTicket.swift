import Foundation

/// The body of a permit (global concurrency) or a token (global rate), sent as the payload of an envelope of task
/// ``taskName``.
///
/// Each ticket carries the limit of its ``generation``: a worker adopts the highest generation it has seen and
/// deletes tickets of older ones, so a limit set with ``ConveyorClient/setGlobalConcurrency(_:for:)`` or
/// ``ConveyorClient/setRateLimit(_:for:)`` reaches every worker through the tickets themselves, without a record a
/// worker would have to poll. Generation 0 is the one workers seed from their own configuration.
struct FlowTicket: Codable, Sendable, Hashable {
    /// The task name of ticket envelopes.
    static let taskName = "conveyor.flow-ticket"

    /// `permit` or `token`.
    var kind: String
    /// When this limit was set (Unix milliseconds), 0 for one seeded from a worker's configuration.
    var generation: Int64
    /// Permits: the concurrency limit of this generation.
    var limit: Int?
    /// Permits: which one of the `limit` permits this is (0-based).
    var index: Int?
    /// Tokens: jobs per interval of this generation.
    var count: Int?
    /// Tokens: the interval, in milliseconds.
    var intervalMilliseconds: Int64?
    /// Tokens: most tokens saved up.
    var burst: Int?
    /// Refill claims: the slot claimed (Unix milliseconds / interval).
    var slot: Int64?

    static func permit(generation: Int64, limit: Int, index: Int) -> FlowTicket {
        FlowTicket(kind: "permit", generation: generation, limit: limit, index: index)
    }

    static func token(generation: Int64, rate: RateLimit) -> FlowTicket {
        FlowTicket(
            kind: "token", generation: generation, count: rate.count,
            intervalMilliseconds: FlowTicket.milliseconds(rate.interval), burst: rate.effectiveBurst
        )
    }

    /// The rate a token carries, when its numbers are in range (a ticket comes from the broker: never trusted).
    var rate: RateLimit? {
        guard kind == "token", let count, let intervalMilliseconds, let burst,
            (1...RateLimit.maximumCount).contains(count), (100...86_400_000).contains(intervalMilliseconds),
            (1...RateLimit.maximumCount).contains(burst)
        else { return nil }
        return RateLimit(count, per: .milliseconds(intervalMilliseconds), burst: burst, scope: .global)
    }

    /// Whether a permit's numbers are in range and it is one of its generation's permits.
    var isValidPermit: Bool {
        guard kind == "permit", generation >= 0, let limit, let index else { return false }
        return (1...TaskOptions.maximumGlobalConcurrency).contains(limit) && (0..<limit).contains(index)
    }

    /// The outgoing message of this ticket; `deduplicationKey` keeps two workers seeding together from doubling it.
    func message(deduplicationKey: String?, groupID: String?) -> OutgoingMessage {
        let payload = (try? JSONEncoder().encode(self)).map { Array($0) } ?? []
        return OutgoingMessage(
            envelope: Envelope(task: Self.taskName, payload: payload, deduplicationKey: deduplicationKey, maxAttempts: 1),
            groupID: groupID
        )
    }

    /// The ticket in `message`, or `nil` when it is not one (it is then deleted by the caller).
    init?(_ message: ReceivedMessage) {
        guard case .success(let envelope) = message.envelope, envelope.task == Self.taskName,
            let ticket = try? JSONDecoder().decode(FlowTicket.self, from: Data(envelope.payload)), ticket.generation >= 0
        else { return nil }
        self = ticket
    }

    init(kind: String, generation: Int64, limit: Int? = nil, index: Int? = nil, count: Int? = nil, intervalMilliseconds: Int64? = nil, burst: Int? = nil) {
        self.kind = kind
        self.generation = generation
        self.limit = limit
        self.index = index
        self.count = count
        self.intervalMilliseconds = intervalMilliseconds
        self.burst = burst
    }

    /// `duration` in whole milliseconds (at least 1).
    static func milliseconds(_ duration: Duration) -> Int64 {
        let (seconds, attoseconds) = duration.components
        return max(1, seconds * 1000 + attoseconds / 1_000_000_000_000_000)
    }

    /// Now, in Unix milliseconds: the generation of a limit set now.
    static func generationNow() -> Int64 {
        Int64((Date().timeIntervalSince1970 * 1000).rounded(.down))
    }
}
