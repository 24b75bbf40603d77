/// At most ``count`` jobs of a task may start per ``interval``, with up to ``burst`` saved up while fewer ran.
///
/// With ``LimitScope/process`` each worker process counts on its own (a token bucket in memory); with
/// ``LimitScope/global`` every worker on the same broker shares one bucket held in the broker (see the Flow control
/// article). A job that finds no token waits briefly, then is sent back with a short delay; it never counts as a
/// failed attempt.
public struct RateLimit: Sendable, Hashable {
    /// Jobs that may start per ``interval``; 1...100,000.
    public var count: Int
    /// The interval ``count`` is measured over; 100 milliseconds to 1 day. Default 1 second.
    public var interval: Duration
    /// Most tokens saved up while fewer jobs ran, 1...100,000; `nil` or less than ``count``: ``count`` (see
    /// ``effectiveBurst``). Over any window of one ``interval``, at most `count + effectiveBurst` jobs start.
    public var burst: Int?
    /// Who shares the limit. Default ``LimitScope/process``.
    public var scope: LimitScope

    /// Creates a limit of `count` per `interval`; every parameter has the default documented on its property.
    public init(_ count: Int, per interval: Duration = .seconds(1), burst: Int? = nil, scope: LimitScope = .process) {
        self.count = count
        self.interval = interval
        self.burst = burst
        self.scope = scope
    }

    /// The most tokens saved up: ``burst``, but at least ``count`` (a bucket must hold one interval's tokens).
    public var effectiveBurst: Int { max(burst ?? count, count) }

    /// The limit itself, or ``ConveyorError/Code/invalidConfiguration`` saying which value is out of range.
    public func validated() throws(ConveyorError) -> RateLimit {
        try validate("RateLimit")
        return self
    }

    /// Largest ``count`` and ``burst``.
    public static let maximumCount = 100_000

    /// Throws ``ConveyorError/Code/invalidConfiguration`` naming the first invalid value; `owner` says whose limit
    /// it is.
    func validate(_ owner: @autoclosure () -> String) throws(ConveyorError) {
        func invalid(_ problem: String) -> ConveyorError {
            ConveyorError(.invalidConfiguration, "\(owner()): rate limit \(problem)")
        }
        guard (1...Self.maximumCount).contains(count) else {
            throw invalid("count is \(count); use 1...\(Self.maximumCount) jobs per interval")
        }
        guard interval >= .milliseconds(100), interval <= .seconds(86_400) else {
            throw invalid("interval is \(interval); use 100 milliseconds to 1 day")
        }
        if let burst, !(1...Self.maximumCount).contains(burst) {
            throw invalid("burst is \(burst); use 1...\(Self.maximumCount), or nil for the count")
        }
    }
}

/// Who shares a limit: one worker process, or every worker on the broker.
public struct LimitScope: Sendable, Hashable, CustomStringConvertible {
    enum Kind: Hashable { case process, global }
    let kind: Kind

    /// Counted by each worker process on its own, in memory.
    public static let process = LimitScope(kind: .process)
    /// Shared by every worker process on the same broker, through queues in the broker.
    public static let global = LimitScope(kind: .global)

    /// `process` or `global`.
    public var description: String { kind == .process ? "process" : "global" }
}
