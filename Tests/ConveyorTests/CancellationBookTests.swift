@testable import Conveyor
import Foundation
import Testing

@Suite("Cancellation book")
struct CancellationBookTests {
    @Test func markersAreKeptPerQueueUntilTheyExpire() {
        let book = CancellationBook()
        let now = Date()
        #expect(book.isEmpty)
        #expect(!book.isCancelled("a", in: "q", now: now))
        book.set("q", ["a": now.addingTimeInterval(60), "b": now.addingTimeInterval(-1)])
        #expect(!book.isEmpty)
        #expect(book.isCancelled("a", in: "q", now: now))
        #expect(!book.isCancelled("a", in: "other", now: now))
        #expect(!book.isCancelled("b", in: "q", now: now), "an expired marker cancels nothing")
        #expect(!book.isCancelled("a", in: "q", now: now.addingTimeInterval(61)))
        book.set("other", ["c": now.addingTimeInterval(60)])
        book.set("q", [:])
        #expect(!book.isCancelled("a", in: "q", now: now))
        #expect(book.isCancelled("c", in: "other", now: now))
        book.set("other", [:])
        #expect(book.isEmpty)
    }
}
