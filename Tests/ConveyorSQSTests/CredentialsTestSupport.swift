import Conveyor
import Foundation
import Synchronization

import ConveyorSQS

/// A clock that moves only when told, for credential caches (no test waits for credentials to age).
final class CredentialsTestClock: Sendable {
    private let current: Mutex<Date>

    /// A clock at a whole second, so ISO 8601 expirations (second precision) compare exactly.
    init(_ start: Date = Date(timeIntervalSince1970: 1_900_000_000)) { current = Mutex(start) }

    func now() -> Date { current.withLock { $0 } }

    func advance(_ seconds: TimeInterval) { current.withLock { $0 = $0.addingTimeInterval(seconds) } }

    /// A cache configuration reading this clock (default margin and backoff: 5 minutes and 10 seconds) and logging to
    /// `logs` when given.
    func cacheConfiguration(logs: CapturedLogs? = nil) -> CredentialsCache.Configuration {
        var configuration = CredentialsCache.Configuration()
        configuration.now = { self.now() }
        if let logs { configuration.logger = logs.logger(label: "conveyor.sqs.credentials") }
        return configuration
    }

    /// The JSON the container endpoint and IMDS answer with, expiring `seconds` after this clock's time.
    func credentialsJSON(expiresIn seconds: TimeInterval, key: String = "ASIATEMP") -> String {
        let expiration = ISO8601DateFormatter().string(from: now().addingTimeInterval(seconds))
        return #"{"AccessKeyId":"\#(key)","SecretAccessKey":"tempsecret","Token":"temptoken","Expiration":"\#(expiration)"}"#
    }
}

/// A gate a ``LocalHTTPServer`` handler (on its own thread) waits at until the test opens it, at most `limit`.
final class CredentialsTestGate: Sendable {
    private let condition = NSCondition()
    private let isOpen = Mutex(false)

    func open() {
        condition.lock()
        isOpen.withLock { $0 = true }
        condition.broadcast()
        condition.unlock()
    }

    /// Blocks the calling (non-cooperative) thread until ``open()`` or `limit` seconds.
    func wait(limit: TimeInterval = 20) {
        let deadline = Date().addingTimeInterval(limit)
        condition.lock()
        while !isOpen.withLock({ $0 }) && condition.wait(until: deadline) {}
        condition.unlock()
    }
}
