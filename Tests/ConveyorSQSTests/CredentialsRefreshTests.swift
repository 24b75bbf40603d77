import Conveyor
import ConveyorSQS
import Foundation
import Synchronization
import Testing

/// Refreshing credentials: one refresh at a time, started five minutes before expiry, still-valid credentials kept
/// when a refresh fails. Against a local fake credential endpoint (``LocalHTTPServer``) that counts requests, and a
/// clock the test moves.
@Suite("Credential refresh")
struct CredentialsRefreshTests {
    static func containerProvider(port: Int, clock: CredentialsTestClock, logs: CapturedLogs? = nil) -> ContainerCredentialsProvider {
        ContainerCredentialsProvider(
            environment: ["AWS_CONTAINER_CREDENTIALS_FULL_URI": "http://127.0.0.1:\(port)/creds"],
            timeout: .seconds(30),
            cache: clock.cacheConfiguration(logs: logs)
        )
    }

    /// Calls `credentials` from 50 tasks at once while the endpoint holds its answer until every task has started
    /// and the refresh request has arrived; returns what each call got.
    static func fiftyConcurrentCalls(
        server: LocalHTTPServer, gate: CredentialsTestGate, requestsBefore: Int,
        _ credentials: @escaping @Sendable () async throws -> AWSCredentials
    ) async throws -> [AWSCredentials] {
        let started = CredentialsTestCounter()
        return try await credentialsWithinDeadline {
            try await withThrowingTaskGroup(of: AWSCredentials?.self) { group in
                for _ in 0..<50 {
                    group.addTask {
                        started.increment()
                        return try await credentials()
                    }
                }
                group.addTask {
                    while started.count < 50 || server.requests.count <= requestsBefore {
                        try await Task.sleep(for: .milliseconds(5))
                    }
                    try await Task.sleep(for: .milliseconds(50))  // let late callers reach the cache
                    gate.open()
                    return nil
                }
                var results: [AWSCredentials] = []
                for try await result in group { if let result { results.append(result) } }
                return results
            }
        }
    }

    @Test(.timeLimit(.minutes(1))) func fiftyConcurrentCallersWithExpiringCredentialsCauseOneFetch() async throws {
        let clock = CredentialsTestClock()
        let gate = CredentialsTestGate()
        let answered = CredentialsTestCounter()
        let server = try LocalHTTPServer { _ in
            // The first fetch is answered at once; the refresh waits for the 50 callers.
            if answered.increment() > 1 { gate.wait() }
            return (200, clock.credentialsJSON(expiresIn: 3600, key: "KEY\(Int(clock.now().timeIntervalSince1970))"))
        }
        defer { server.stop() }
        let provider = Self.containerProvider(port: server.port, clock: clock)
        let first = try await provider.credentials()
        clock.advance(3600 - 120)  // two minutes left: due for refresh, still valid
        let results = try await Self.fiftyConcurrentCalls(server: server, gate: gate, requestsBefore: 1) {
            try await provider.credentials()
        }
        #expect(server.requests.count == 2, "one fetch for the first credentials, exactly one for the refresh")
        #expect(results.count == 50)
        #expect(results.allSatisfy { $0.accessKeyID == "KEY\(1_900_000_000 + 3600 - 120)" && $0 != first })
    }

    @Test(.timeLimit(.minutes(1))) func fiftyConcurrentCallersOfTheChainCauseOneFetch() async throws {
        let clock = CredentialsTestClock()
        let gate = CredentialsTestGate()
        let server = try LocalHTTPServer { _ in
            gate.wait()
            return (200, clock.credentialsJSON(expiresIn: 3600))
        }
        defer { server.stop() }
        let chain = AWSCredentialsProviderChain(
            [
                EnvironmentCredentialsProvider(environment: [:]),
                Self.containerProvider(port: server.port, clock: clock),
            ],
            cache: clock.cacheConfiguration()
        )
        let results = try await Self.fiftyConcurrentCalls(server: server, gate: gate, requestsBefore: 0) {
            try await chain.credentials()
        }
        #expect(server.requests.count == 1)
        #expect(results.count == 50 && results.allSatisfy { $0.accessKeyID == "ASIATEMP" })
    }

    @Test(.timeLimit(.minutes(1))) func aFailedRefreshKeepsStillValidCredentialsAndRetriesAfterABackoff() async throws {
        let clock = CredentialsTestClock()
        let logs = CapturedLogs()
        let failing = Failing()
        let endpoint = try LocalHTTPServer { _ in
            failing.isOn ? (500, "{}") : (200, clock.credentialsJSON(expiresIn: 3600))
        }
        defer { endpoint.stop() }
        let provider = Self.containerProvider(port: endpoint.port, clock: clock, logs: logs)
        let original = try await provider.credentials()
        failing.isOn = true

        clock.advance(3600 - 120)  // due for refresh, still valid
        #expect(try await provider.credentials() == original)
        #expect(endpoint.requests.count == 2)
        #expect(try await provider.credentials() == original)
        #expect(endpoint.requests.count == 2, "no new attempt within the backoff")
        clock.advance(11)
        #expect(try await provider.credentials() == original)
        #expect(endpoint.requests.count == 3, "a new attempt after the backoff")

        let warnings = logs.entries.filter { $0.level == .warning }
        #expect(warnings.count == 2)
        for entry in warnings {
            #expect(entry.metadata["aws.credentials.source"] == "container credentials")
            #expect(entry.metadata["error.message"]?.contains("HTTP 500") == true)
            let text = entry.message + entry.metadata.values.joined(separator: " ")
            #expect(!text.contains("tempsecret") && !text.contains("temptoken"))
        }

        failing.isOn = false
        clock.advance(11)
        #expect(try await provider.credentials() != original, "recovers once the endpoint answers again")
    }

    @Test(.timeLimit(.minutes(1))) func expiredCredentialsAndAFailingRefreshThrow() async throws {
        let clock = CredentialsTestClock()
        let failing = Failing()
        let endpoint = try LocalHTTPServer { _ in
            failing.isOn ? (503, "{}") : (200, clock.credentialsJSON(expiresIn: 3600))
        }
        defer { endpoint.stop() }
        let provider = Self.containerProvider(port: endpoint.port, clock: clock)
        _ = try await provider.credentials()
        failing.isOn = true
        clock.advance(3601)  // expired
        let error = try await #require(throws: ConveyorError.self) { try await provider.credentials() }
        #expect(error.code == .invalidConfiguration)
        #expect(error.isRetryable)
        #expect(error.message.contains("expired") && error.message.contains("HTTP 503"))
        #expect(!error.message.contains("tempsecret") && !error.message.contains("temptoken"))
        // Every call tries again once nothing valid is left (no backoff).
        _ = try? await provider.credentials()
        #expect(endpoint.requests.count == 3)
    }

    @Test func theChainKeepsStillValidCredentialsWhenEverySourceFails() async throws {
        let clock = CredentialsTestClock()
        let logs = CapturedLogs()
        let source = ScriptedCredentialsProvider()
        source.next = .success(AWSCredentials(accessKeyID: "FIRST", secretAccessKey: "s", expiration: clock.now().addingTimeInterval(600)))
        let chain = AWSCredentialsProviderChain([source], cache: clock.cacheConfiguration(logs: logs))
        #expect(try await chain.credentials().accessKeyID == "FIRST")
        source.next = .failure(ConveyorError(.invalidConfiguration, "scripted: unavailable"))
        clock.advance(400)  // 200 s left
        #expect(try await chain.credentials().accessKeyID == "FIRST")
        #expect(source.calls == 2)
        #expect(logs.entries.filter { $0.level == .warning }.map { $0.metadata["aws.credentials.source"] } == ["AWS credentials provider chain"])
        clock.advance(201)  // expired
        let error = try await #require(throws: ConveyorError.self) { try await chain.credentials() }
        #expect(error.message.contains("expired") && error.message.contains("scripted: unavailable"))
    }

    @Test(.timeLimit(.minutes(1))) func aCancelledWaiterLeavesWithoutStoppingTheRefresh() async throws {
        let clock = CredentialsTestClock()
        let gate = CredentialsTestGate()
        let endpoint = try LocalHTTPServer { _ in
            gate.wait()
            return (200, clock.credentialsJSON(expiresIn: 3600))
        }
        defer { endpoint.stop() }
        let provider = Self.containerProvider(port: endpoint.port, clock: clock)
        let cancelled = Task { try await provider.credentials() }
        let waiting = Task { try await provider.credentials() }
        try await credentialsWithinDeadline {
            while endpoint.requests.isEmpty { try await Task.sleep(for: .milliseconds(5)) }
        }
        cancelled.cancel()
        let outcome = await cancelled.result
        #expect(throws: CancellationError.self) { try outcome.get() }
        gate.open()
        #expect(try await waiting.value.accessKeyID == "ASIATEMP")
        #expect(endpoint.requests.count == 1)
    }

    @Test(.timeLimit(.minutes(1))) func instanceMetadataCredentialsAreCached() async throws {
        let clock = CredentialsTestClock()
        let imds = try LocalHTTPServer { request in
            switch (request.method, request.path) {
            case ("PUT", "/latest/api/token"): return (200, "imds-token")
            case ("GET", "/latest/meta-data/iam/security-credentials/"): return (200, "worker-role")
            case ("GET", "/latest/meta-data/iam/security-credentials/worker-role"): return (200, clock.credentialsJSON(expiresIn: 3600))
            default: return (404, "")
            }
        }
        defer { imds.stop() }
        let provider = InstanceMetadataCredentialsProvider(
            environment: ["AWS_EC2_METADATA_SERVICE_ENDPOINT": "http://127.0.0.1:\(imds.port)"],
            timeout: .seconds(10),
            cache: clock.cacheConfiguration()
        )
        _ = try await provider.credentials()
        _ = try await provider.credentials()
        #expect(imds.requests.count == 3)
        clock.advance(3600 - 60)
        _ = try await provider.credentials()
        #expect(imds.requests.count == 6)
    }
}

/// A switch a ``LocalHTTPServer`` handler reads.
private final class Failing: Sendable {
    private let state = Mutex(false)
    var isOn: Bool {
        get { state.withLock { $0 } }
        set { state.withLock { $0 = newValue } }
    }
}

/// A credentials source that returns what the test sets next and counts its calls.
private final class ScriptedCredentialsProvider: AWSCredentialsProvider {
    private let state = Mutex<(next: Result<AWSCredentials, ConveyorError>?, calls: Int)>((nil, 0))
    var next: Result<AWSCredentials, ConveyorError>? {
        get { state.withLock { $0.next } }
        set { state.withLock { $0.next = newValue } }
    }
    var calls: Int { state.withLock { $0.calls } }
    var sourceDescription: String { "scripted" }

    func credentials() async throws -> AWSCredentials {
        let next = state.withLock { state in
            state.calls += 1
            return state.next
        }
        guard let next else { throw ConveyorError(.invalidConfiguration, "scripted: nothing set") }
        return try next.get()
    }
}
