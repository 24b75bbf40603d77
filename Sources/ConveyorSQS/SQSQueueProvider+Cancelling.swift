import Conveyor
import Crypto
import Foundation

extension SQSQueueProvider: CancellingProvider {
    /// The prefix of the queue tags that hold cancellation markers: `conveyor-cancel-<32 hex digits of the SHA-256
    /// of the job id>`, whose value is `<expiry, unix seconds> <job id in base64>`.
    static let cancellationTagPrefix = "conveyor-cancel-"
    /// Most tags SQS keeps on one queue.
    static let maximumQueueTags = 50
    /// Longest job id a marker can hold: a tag value is at most 256 characters.
    static let maximumCancellableIDBytes = 183

    /// Tags `queue` with one marker per id (`TagQueue`), first removing expired markers (`UntagQueue`); needs
    /// `sqs:ListQueueTags`, `sqs:TagQueue` and `sqs:UntagQueue`. A queue keeps at most 50 tags, the paused state and
    /// Conveyor's other tags included: a cancellation that would need more throws
    /// ``Conveyor/ConveyorError/Code/limitExceeded``.
    public func cancel(_ ids: [JobID], in queue: String, lifetime: Duration) async throws {
        if let long = ids.first(where: { $0.rawValue.utf8.count > Self.maximumCancellableIDBytes }) {
            throw ConveyorError(
                .invalidParameter,
                "cannot cancel job \(String(long.rawValue.prefix(40)))…: on SQS a job id to cancel is at most \(Self.maximumCancellableIDBytes) bytes (a queue tag's value holds it)"
            )
        }
        let expiry = Int64(Date().timeIntervalSince1970 + lifetime.seconds.rounded(.up))
        try await withQueue(queue) { info in
            let tags = try await client.call(SQSAPI.ListQueueTags(queueURL: info.url))
            let now = Date()
            let expired = tags.filter { key, value in
                key.hasPrefix(Self.cancellationTagPrefix) && (Self.decodeCancellationTag(value).map { $0.1 <= now } ?? true)
            }.map(\.key)
            var added: [String: String] = [:]
            for id in ids {
                added[Self.cancellationTagKey(id)] = "\(expiry) " + Data(id.rawValue.utf8).base64EncodedString()
            }
            let total = Set(tags.keys).subtracting(expired).union(added.keys).count
            guard total <= Self.maximumQueueTags else {
                throw ConveyorError(
                    .limitExceeded,
                    "cannot record \(ids.count) more cancellation\(ids.count == 1 ? "" : "s") on queue \(queue): SQS keeps at most \(Self.maximumQueueTags) tags per queue and it would need \(total); wait for earlier cancellations to be settled or expire, or give them a shorter lifetime"
                )
            }
            if !expired.isEmpty { _ = try await client.call(SQSAPI.UntagQueue(queueURL: info.url, keys: expired)) }
            _ = try await client.call(SQSAPI.TagQueue(queueURL: info.url, tags: added))
            forgetControlTags(info.url)
        }
    }

    /// The unexpired markers of `queue`, from its tags (the same `ListQueueTags` as ``isPaused(_:)``).
    public func cancellations(in queue: String) async throws -> [JobID: Date] {
        let now = Date()
        var markers: [JobID: Date] = [:]
        for (key, value) in try await controlTags(of: queue) where key.hasPrefix(Self.cancellationTagPrefix) {
            guard let (id, expiry) = Self.decodeCancellationTag(value), expiry > now, key == Self.cancellationTagKey(id) else { continue }
            markers[id] = expiry
        }
        return markers
    }

    /// Removes the marker of `id` (`UntagQueue`): SQS keeps few tags, so a settled cancellation frees its place. A
    /// copy of the job that SQS delivers again after this (at-least-once delivery) runs.
    public func cancellationSettled(_ id: JobID, in queue: String) async throws {
        try await withQueue(queue) { info in
            _ = try await client.call(SQSAPI.UntagQueue(queueURL: info.url, keys: [Self.cancellationTagKey(id)]))
            forgetControlTags(info.url)
        }
    }

    /// The tag key of `id`'s marker.
    static func cancellationTagKey(_ id: JobID) -> String {
        let digest = SHA256.hash(data: Array(id.rawValue.utf8))
        return cancellationTagPrefix + digest.prefix(16).map { String(format: "%02x", $0) }.joined()
    }

    /// The job id and expiry a marker's tag value holds; `nil` when it holds none.
    static func decodeCancellationTag(_ value: String) -> (JobID, Date)? {
        let parts = value.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, let seconds = Int64(parts[0]), let data = Data(base64Encoded: String(parts[1])),
            let id = String(validating: Array(data), as: UTF8.self), !id.isEmpty,
            // Only the canonical encoding: Foundation decodes some malformed base64 (a run of "=") into bytes.
            Data(id.utf8).base64EncodedString() == parts[1]
        else { return nil }
        return (JobID(id), Date(timeIntervalSince1970: Double(seconds)))
    }
}
