import Foundation

/// A worker's periodic sign of life: which process it is, what it consumes, and how busy it is. Workers broadcast
/// one every ``interval`` to each of their queues while the queue may have observers (``QueueObserver``), as a
/// ``JobEvent`` of kind ``JobEvent/Kind/workerHeartbeat``; the dashboard's workers page lists the workers heard from
/// lately.
public struct WorkerHeartbeat: Sendable, Hashable {
    /// How often a worker sends one per observed queue.
    public static let interval: Duration = .seconds(5)

    /// Identifies the worker while it runs: host, process id and a random suffix.
    public var workerID: String
    /// The host name.
    public var host: String
    /// The process id.
    public var pid: Int
    /// The queues the worker consumes.
    public var queues: [String]
    /// Jobs the worker runs at once at most (``Worker/Configuration/concurrency``).
    public var concurrency: Int
    /// Jobs running when the heartbeat was sent.
    public var busy: Int
    /// When the worker started.
    public var startedAt: Date

    /// Creates a heartbeat.
    public init(workerID: String, host: String, pid: Int, queues: [String], concurrency: Int, busy: Int, startedAt: Date) {
        self.workerID = workerID
        self.host = host
        self.pid = pid
        self.queues = queues
        self.concurrency = concurrency
        self.busy = busy
        self.startedAt = startedAt
    }
}
