import Conveyor
@testable import ConveyorRabbitMQ
import Foundation
import Testing

/// Cancellation markers on a real broker, inside the serialized broker suite.
extension RabbitMQIntegrationTests {
    /// Readers in other processes read the markers at the same time, each holding them unacknowledged for a moment;
    /// every reader still ends up with every marker, and the markers stay in the broker.
    @Test func cancellationMarkersReachConcurrentReaders() async throws {
        try await withQueue("cancel-readers") { provider, queue in
            let ids = (0..<30).map { JobID("job-\($0)") }
            try await ConveyorClient(provider: provider).cancel(ids, in: queue, expiresAfter: .seconds(600))
            let readers = try (0..<4).map { _ in try Env.provider() }
            for _ in 0..<10 {
                let seen = try await withThrowingTaskGroup(of: Set<JobID>.self) { group in
                    for reader in readers { group.addTask { Set(try await reader.cancellations(in: queue).keys) } }
                    return try await group.reduce(into: [Set<JobID>]()) { $0.append($1) }
                }
                if seen.allSatisfy({ $0 == Set(ids) }) { break }
                try await Task.sleep(for: .milliseconds(100))
            }
            for reader in readers {
                #expect(Set(try await reader.cancellations(in: queue).keys) == Set(ids))
                try await reader.close()
            }
            let marker = try RabbitMQQueueProvider.cancellationMarkerQueue(of: queue)
            #expect(try await provider.markerCount(marker) == 30, "reading consumed markers")
        }
    }

    /// Markers expire with their lifetime: RabbitMQ drops the message, and a reader ignores it before that.
    @Test func cancellationMarkersExpire() async throws {
        try await withQueue("cancel-expiry") { provider, queue in
            try await ConveyorClient(provider: provider).cancel(["short"], in: queue, expiresAfter: .seconds(4))
            try await ConveyorClient(provider: provider).cancel(["long"], in: queue, expiresAfter: .seconds(600))
            #expect(Set(try await provider.cancellations(in: queue).keys) == ["short", "long"])
            try await Task.sleep(for: .milliseconds(4500))
            #expect(Set(try await provider.cancellations(in: queue).keys) == ["long"])
        }
    }

    /// Whatever else is published to the marker queue (by hand, by another tool) is ignored, never trapped on.
    @Test func foreignMessagesInTheMarkerQueueAreIgnored() async throws {
        try await withQueue("cancel-foreign") { provider, queue in
            try await ConveyorClient(provider: provider).cancel(["real"], in: queue)
            let marker = try RabbitMQQueueProvider.cancellationMarkerQueue(of: queue)
            let bodies = [
                "not json", "", "[]", #"{"id":""}"#, #"{"id":"a"}"#, #"{"id":7,"expires_at_ms":1}"#,
                #"{"id":"huge","expires_at_ms":1e400}"#, #"{"id":"over","expires_at_ms":99999999999999999999999}"#,
                #"{"id":"under","expires_at_ms":-9223372036854775808}"#, String(repeating: "[", count: 5000),
                #"{"id":"max","expires_at_ms":9223372036854775807}"#,
            ]
            let publications = bodies.map { body in
                var p = AMQPPublication(exchange: "", routingKey: marker, body: Array(body.utf8), messageID: nil, correlationID: nil, priority: nil, timestamp: nil)
                p.queue = nil
                return p
            }
            try await provider.publisher.publish(publications)
            let markers = try await provider.cancellations(in: queue)
            #expect(Set(markers.keys) == ["real", "max"])
        }
    }
}
