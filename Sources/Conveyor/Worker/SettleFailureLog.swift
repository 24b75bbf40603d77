import Logging
import Synchronization

/// Logs failures to acknowledge, heartbeat, fail or release a job's message: at warning the first time for a
/// job (so a job that keeps failing to settle shows), at debug after that (so it does not flood the log once per
/// try). Remembers up to ``capacity`` jobs, then starts over.
final class SettleFailureLog: Sendable {
    static let capacity = 10_000

    private let warned = Mutex(Set<String>())
    private let logger: Logger

    init(logger: Logger) {
        self.logger = logger
    }

    /// Logs that `what` failed for `messages` with `error`; `consequence` says what happens to them.
    func record(_ what: String, _ messages: [ReceivedMessage], error: any Error, consequence: String) {
        guard !messages.isEmpty else { return }
        let keys = messages.map(Self.key)
        let fresh: [Int] = warned.withLock { warned in
            if warned.count + keys.count > Self.capacity { warned.removeAll(keepingCapacity: true) }
            return keys.indices.filter { warned.insert(keys[$0]).inserted }
        }
        let errorText = String(describing: error)
        for index in fresh {
            logger.warning(
                "\(what) failed; \(consequence)",
                metadata: Self.metadata(messages[index], errorText)
            )
        }
        if fresh.count < messages.count {
            logger.debug(
                "\(what) failed again; \(consequence)",
                metadata: ["conveyor.queue": .string(messages[0].queue), "job.count": .stringConvertible(messages.count - fresh.count), "error.message": .string(errorText)]
            )
        }
    }

    /// The job's id where the body decoded, else the broker's receipt of this delivery.
    private static func key(_ message: ReceivedMessage) -> String {
        if case .success(let envelope) = message.envelope { return "id:" + envelope.id.rawValue }
        return "receipt:" + String(reflecting: message.receipt)
    }

    private static func metadata(_ message: ReceivedMessage, _ error: String) -> Logger.Metadata {
        var metadata: Logger.Metadata = ["conveyor.queue": .string(message.queue), "job.attempt": .stringConvertible(message.attempt), "error.message": .string(error)]
        if case .success(let envelope) = message.envelope {
            metadata["job.id"] = .string(envelope.id.rawValue)
            metadata["job.task"] = .string(envelope.task)
        }
        return metadata
    }
}
