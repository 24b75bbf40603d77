import CRabbitMQ
import Conveyor
import Foundation

/// What a provider last read of one queue's cancellation markers.
struct CancellationReading: Sendable {
    /// How many marker messages that reading fetched (expired ones included).
    var fetched: Int
    /// The markers known: job id and expiry.
    var markers: [JobID: Date]
}

extension RabbitMQQueueProvider: CancellingProvider {
    /// Most marker messages one reading fetches.
    static let cancellationReadLimit = 10_000

    /// The queue that holds `queue`'s cancellation markers: `conveyor.cancelled.<queue>`, a durable classic queue
    /// that nothing consumes; each message is one marker, `{"id":"<job id>","expires_at_ms":<unix ms>}`, published
    /// with that lifetime as its per-message TTL (`expiration`), so RabbitMQ drops it when it expires.
    static func cancellationMarkerQueue(of queue: String) throws(ConveyorError) -> String {
        try markerQueue("conveyor.cancelled.", of: queue, "cannot cancel jobs of queue \(queue): its marker queue name")
    }

    /// Publishes one persistent marker message per id (confirmed) to ``cancellationMarkerQueue(of:)``, which is
    /// declared first.
    public func cancel(_ ids: [JobID], in queue: String, lifetime: Duration) async throws {
        try checkOpen()
        let marker = try Self.cancellationMarkerQueue(of: queue)
        _ = try await markerCount(marker, passive: !configuration.declaresQueuesOnFirstUse)
        let lifetimeMilliseconds = max(1, Int64(lifetime.seconds * 1000))
        let expiresAt = Int64(Date().timeIntervalSince1970 * 1000) + lifetimeMilliseconds
        let publications = ids.map { id in
            var body = Array(#"{"id":"#.utf8)
            JSONText.appendString(id.rawValue, to: &body)
            body += Array(#","expires_at_ms":"#.utf8)
            JSONText.appendInt(expiresAt, to: &body)
            body.append(UInt8(ascii: "}"))
            var publication = AMQPPublication(
                exchange: "", routingKey: marker, body: body, messageID: nil, correlationID: nil, priority: nil, timestamp: nil
            )
            publication.expiration = String(lifetimeMilliseconds)
            publication.queue = nil
            return publication
        }
        try await requestMetrics.measure("publish") { try await publisher.publish(publications) }
        // This process sees its own cancellations at its next reading.
        _ = cancellationReadings.withLock { $0.removeValue(forKey: queue) }
    }

    /// The unexpired markers of `queue`: one declaration of the marker queue for its message count; when that
    /// count differs from the last reading's, the markers are read with `basic.get` (at most 10,000) and put back
    /// (`basic.nack` with requeue). Markers another reader holds at that moment are missed by this reading, which
    /// the count then tells the next one to read again; markers already known are kept until they expire.
    public func cancellations(in queue: String) async throws -> [JobID: Date] {
        try checkOpen()
        let marker = try Self.cancellationMarkerQueue(of: queue)
        let count: Int
        do {
            count = try await markerCount(marker, passive: !configuration.declaresQueuesOnFirstUse)
        } catch let error as ConveyorError where error.code == .queueNotFound {
            count = 0
        }
        let now = Date()
        guard count > 0 else {
            _ = cancellationReadings.withLock { $0.removeValue(forKey: queue) }
            return [:]
        }
        if let last = cancellationReadings.withLock({ $0[queue] }), last.fetched == count {
            return last.markers.filter { $0.value > now }
        }
        let limit = min(count, Self.cancellationReadLimit)
        let bodies = try await requestMetrics.measure("get") {
            try await publisher.connection.perform { c, s throws(ConveyorError) in
                let messages = try Self.fetch(marker, limit: limit, c, s)
                try Self.putBack(messages, c, s, "putting back the cancellation markers of \(queue)")
                return messages.map(\.body)
            }
        }
        return cancellationReadings.withLock { readings in
            var markers = (readings[queue]?.markers ?? [:]).filter { $0.value > now }
            for body in bodies {
                guard let (id, expiry) = Self.decodeCancellationMarker(body), expiry > now else { continue }
                markers[id] = max(markers[id] ?? expiry, expiry)
            }
            readings[queue] = CancellationReading(fetched: bodies.count, markers: markers)
            return markers
        }
    }

    /// The job id and expiry of a marker message; `nil` for a body that is not one (ignored).
    static func decodeCancellationMarker(_ body: [UInt8]) -> (JobID, Date)? {
        guard let value = try? JSONReader.read(body), let id = value["id"]?.string, !id.isEmpty,
            case .number(let text)? = value["expires_at_ms"], let milliseconds = Int64(text)
        else { return nil }
        return (JobID(id), Date(timeIntervalSince1970: Double(milliseconds) / 1000))
    }
}
