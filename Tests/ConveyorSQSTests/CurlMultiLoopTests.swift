import CCurl
import Conveyor
import ConveyorSQS
import Foundation
import Synchronization
import Testing

/// ``CurlMultiLoop`` against a ``LocalHTTPServer``, with libcurl calls replaced to inject failures and to widen the
/// window of a close race.
@Suite("Curl multi loop")
struct CurlMultiLoopTests {
    static func request(_ port: Int, _ path: String = "/") -> HTTPRequest {
        HTTPRequest(method: "GET", url: "http://127.0.0.1:\(port)\(path)", timeout: .seconds(20))
    }

    @Test(.timeLimit(.minutes(1))) func aRefusedAddHandleFailsTheRequestAndTheLoopGoesOn() async throws {
        let server = try LocalHTTPServer { _ in (200, "ok") }
        defer { server.stop() }
        let adds = CredentialsTestCounter()
        var operations = CurlMultiLoop.Operations()
        operations.multiAddHandle = { multi, easy in
            adds.increment() == 1 ? CURLM_OUT_OF_MEMORY : curl_multi_add_handle(multi, easy)
        }
        let loop = CurlMultiLoop(name: "conveyor.test.add-handle", operations: operations)
        let error = try await #require(throws: HTTPTransportError.self) {
            try await credentialsWithinDeadline { try await loop.perform(Self.request(server.port)) }
        }
        #expect(error.code == HTTPTransportError.notStarted)
        #expect(error.message.contains("curl_multi_add_handle"))
        let response = try await credentialsWithinDeadline { try await loop.perform(Self.request(server.port)) }
        #expect(response.status == 200 && response.body == Array("ok".utf8))
        #expect(server.requests.count == 1, "the refused transfer sent nothing")
        await loop.close()
    }

    @Test(.timeLimit(.minutes(1))) func aFailedEasyInitFailsTheRequestInsteadOfTrapping() async throws {
        var operations = CurlMultiLoop.Operations()
        operations.easyInit = { nil }
        let loop = CurlMultiLoop(name: "conveyor.test.easy-init", operations: operations)
        let error = try await #require(throws: HTTPTransportError.self) {
            try await credentialsWithinDeadline { try await loop.perform(Self.request(9)) }
        }
        #expect(error.code == HTTPTransportError.notStarted)
        #expect(error.message.contains("curl_easy_init"))
        await loop.close()
    }

    @Test(.timeLimit(.minutes(1))) func aFailedMultiInitFailsTheRequestInsteadOfTrapping() async throws {
        var operations = CurlMultiLoop.Operations()
        operations.multiInit = { nil }
        let loop = CurlMultiLoop(name: "conveyor.test.multi-init", operations: operations)
        let error = try await #require(throws: HTTPTransportError.self) {
            try await credentialsWithinDeadline { try await loop.perform(Self.request(9)) }
        }
        #expect(error.code == HTTPTransportError.notStarted)
        #expect(error.message.contains("curl_multi_init"))
        await loop.close()
    }

    /// Other threads wake the loop (submit, cancel, close, shutdown) while the loop thread cleans its multi handle up
    /// after a close. No wakeup may reach the handle once its clean-up has begun: that is a use after free. The
    /// clean-up is slowed down (2 ms) and two threads call `shutdown()` (which wakes the loop) without pause, so a
    /// wakeup that can reach a handle being cleaned up does.
    @Test(.timeLimit(.minutes(1))) func noWakeupReachesAMultiHandleBeingCleanedUp() async throws {
        let server = try LocalHTTPServer { _ in (200, "ok") }
        defer { server.stop() }
        let tracker = MultiHandleTracker()
        var operations = CurlMultiLoop.Operations()
        operations.multiInit = {
            let multi = curl_multi_init()
            if let multi { tracker.created(multi) }
            return multi
        }
        operations.multiCleanup = { multi in
            tracker.cleaningUp(multi)
            Thread.sleep(forTimeInterval: 0.002)
            curl_multi_cleanup(multi)
        }
        operations.multiWakeup = { multi in
            // Never hand libcurl a handle being cleaned up, even in this test: record it instead.
            if tracker.wake(multi) { curl_multi_wakeup(multi) }
        }
        for _ in 0..<20 {
            let loop = CurlMultiLoop(name: "conveyor.test.close-race", operations: operations)
            _ = try await credentialsWithinDeadline { try await loop.perform(Self.request(server.port)) }
            let stop = CredentialsTestCounter()
            async let first: Void = onThread { while stop.count == 0 { loop.shutdown() } }
            async let second: Void = onThread { while stop.count == 0 { loop.shutdown() } }
            try await credentialsWithinDeadline { await loop.close() }
            stop.increment()
            _ = await (first, second)
        }
        #expect(tracker.lateWakeups == 0, "wakeups reached a multi handle being cleaned up")
        #expect(tracker.cleanups == 20)
    }

    /// Many tasks submit requests while the loop is closed: every request ends (answered, closed or cancelled),
    /// none is left suspended.
    @Test(.timeLimit(.minutes(1))) func closingWhileManyTasksSubmitEndsEveryRequest() async throws {
        let server = try LocalHTTPServer { _ in (200, "ok") }
        defer { server.stop() }
        for round in 0..<10 {
            let loop = CurlMultiLoop(name: "conveyor.test.close-submit")
            let outcomes = try await credentialsWithinDeadline {
                try await withThrowingTaskGroup(of: String.self) { group in
                    for index in 0..<16 {
                        group.addTask {
                            do {
                                _ = try await loop.perform(Self.request(server.port, "/\(round)/\(index)"))
                                return "answered"
                            } catch let error as ConveyorError where error.code == .closed {
                                return "closed"
                            } catch is CancellationError {
                                return "cancelled"
                            }
                        }
                    }
                    group.addTask {
                        await Task.yield()
                        await loop.close()
                        return "close"
                    }
                    var outcomes: [String] = []
                    for try await outcome in group { outcomes.append(outcome) }
                    return outcomes
                }
            }
            #expect(outcomes.count == 17)
            #expect(outcomes.allSatisfy { ["answered", "closed", "close"].contains($0) })
        }
    }
}

/// Runs `body` on a thread of its own (it blocks), resuming when it returns.
private func onThread(_ body: @escaping @Sendable () -> Void) async {
    await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
        Thread {
            body()
            continuation.resume()
        }.start()
    }
}

/// Which multi handles are being cleaned up, and the wakeups that came for one of them.
private final class MultiHandleTracker: Sendable {
    private struct State {
        /// Addresses (as integers: pointers are not Sendable).
        var dying: Set<UInt> = []
        var lateWakeups = 0
        var cleanups = 0
    }

    private let state = Mutex(State())

    var lateWakeups: Int { state.withLock { $0.lateWakeups } }
    var cleanups: Int { state.withLock { $0.cleanups } }

    func created(_ multi: UnsafeMutableRawPointer) {
        let address = UInt(bitPattern: multi)
        state.withLock { _ = $0.dying.remove(address) }
    }

    func cleaningUp(_ multi: UnsafeMutableRawPointer) {
        let address = UInt(bitPattern: multi)
        state.withLock { state in
            state.dying.insert(address)
            state.cleanups += 1
        }
    }

    /// Whether `multi` may be woken; records a late wakeup when its clean-up has begun.
    func wake(_ multi: UnsafeMutableRawPointer) -> Bool {
        let address = UInt(bitPattern: multi)
        return state.withLock { state in
            guard !state.dying.contains(address) else {
                state.lateWakeups += 1
                return false
            }
            return true
        }
    }
}
