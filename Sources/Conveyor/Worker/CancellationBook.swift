import Foundation
import Synchronization

/// The cancellation markers of a worker's queues, as last read from the broker (``CancellingProvider``). Checked
/// before every job starts: while no queue has a marker, that check is one atomic load.
final class CancellationBook: Sendable {
    private let markers = Mutex<[String: [JobID: Date]]>([:])
    /// Whether any queue has a marker.
    private let any = Atomic<Bool>(false)

    /// Records a reading of `queue`'s markers.
    func set(_ queue: String, _ reading: [JobID: Date]) {
        markers.withLock { markers in
            if reading.isEmpty { markers[queue] = nil } else { markers[queue] = reading }
            any.store(!markers.isEmpty, ordering: .releasing)
        }
    }

    /// Whether job `id` of `queue` has a marker that had not expired at `now`.
    func isCancelled(_ id: JobID, in queue: String, now: Date = Date()) -> Bool {
        guard any.load(ordering: .acquiring) else { return false }
        return markers.withLock { markers in
            guard let expiry = markers[queue]?[id] else { return false }
            return expiry > now
        }
    }

    /// Whether no queue has a marker.
    var isEmpty: Bool { !any.load(ordering: .acquiring) }
}
