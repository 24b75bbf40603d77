import Conveyor
import Foundation

extension SQSQueueProvider: ReplyingProvider {
    /// The tag that marks a reply queue.
    static let replyQueueTag = "conveyor-reply-queue"
    /// The tag holding a reply queue's last heartbeat (Unix seconds), refreshed by ``refreshReplyQueue(_:)``.
    static let heartbeatTag = "conveyor-heartbeat"
    /// How old a reply queue's heartbeat may get before any Conveyor process deletes the queue (10 minutes; the
    /// owner refreshes it about every minute).
    public static let replyQueueIdleLimit: Duration = .seconds(600)

    /// Creates the reply queue `name` (a standard queue, messages kept one hour, tagged as a reply queue with a
    /// heartbeat) and returns its URL. First deletes, as AWS's temporary-queue client does, the reply queues with the
    /// same name prefix (`name` up to its last `-`) whose heartbeat is older than ``replyQueueIdleLimit``: those of
    /// producers that crashed.
    public func createReplyQueue(named name: String) async throws -> String {
        try await createTemporaryQueue(name, tag: Self.replyQueueTag)
    }

    /// Creates the temporary queue `name` (messages kept one hour, up to 1 MiB each, tagged with `tag` and a
    /// heartbeat) after deleting the stale ones of its prefix (`name` up to its last `-`); returns its URL. The size
    /// is SQS's largest, not its 256 KiB default, so that a result as large as a job may be fits its reply queue.
    func createTemporaryQueue(_ name: String, tag: String) async throws -> String {
        try checkOpen()
        if let dash = name.lastIndex(of: "-") {
            await sweepStaleReplyQueues(prefix: String(name[...dash]))
        }
        let info = try await client.call(SQSAPI.CreateQueue(
            queueName: name,
            attributes: ["MessageRetentionPeriod": "3600", "MaximumMessageSize": String(Self.maximumMessageSizeRange.upperBound)],
            tags: [tag: "1", Self.heartbeatTag: String(Int(Date().timeIntervalSince1970))]
        ))
        queues.withLock { $0[info.url] = QueueInfo(url: info.url, name: name) }
        return info.url
    }

    /// Sends `message` to the reply queue at `address` (a queue URL). A queue that no longer exists throws
    /// ``Conveyor/ConveyorError/Code/queueNotFound``; a reply over the queue's size limit
    /// ``Conveyor/ConveyorError/Code/messageTooLarge``.
    public func sendReply(_ message: OutgoingMessage, to address: String) async throws {
        _ = try await enqueue([message], to: address)
    }

    /// Deletes the reply queue at `address`.
    public func deleteReplyQueue(_ address: String) async throws {
        try checkOpen()
        do {
            _ = try await client.call(SQSAPI.DeleteQueue(queueURL: address))
        } catch let error as ConveyorError where error.code == .queueNotFound {
        }
        forget(address)
    }

    /// Refreshes the reply queue's heartbeat tag.
    public func refreshReplyQueue(_ address: String) async throws {
        try checkOpen()
        _ = try await client.call(SQSAPI.TagQueue(queueURL: address, tags: [Self.heartbeatTag: String(Int(Date().timeIntervalSince1970))]))
    }

    /// Deletes reply queues and event subscription queues named `prefix…` whose heartbeat is older than ``replyQueueIdleLimit`` (at most 50 looked
    /// at per call; errors are logged, never thrown).
    func sweepStaleReplyQueues(prefix: String) async {
        let limit = Int(Date().timeIntervalSince1970) - Int(Self.replyQueueIdleLimit.components.seconds)
        do {
            for url in try await client.call(SQSAPI.ListQueues(namePrefix: prefix, maxResults: 50)) {
                let tags = try await client.call(SQSAPI.ListQueueTags(queueURL: url))
                guard tags[Self.replyQueueTag] == "1" || tags[Self.eventSubscriptionTag] == "1", let beat = tags[Self.heartbeatTag].flatMap({ Int($0) }), beat < limit else { continue }
                _ = try? await client.call(SQSAPI.DeleteQueue(queueURL: url))
                logger.info("deleted a reply queue whose producer stopped", metadata: ["conveyor.queue": "\(url)", "sqs.heartbeat": "\(beat)"])
            }
        } catch {
            logger.debug("could not look for stale reply queues", metadata: ["error.message": "\(error)"])
        }
    }
}
