#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation
import Testing

/// `conveyor worker --metrics-port`: the Prometheus endpoint, its clients, and shutdown. Memory provider, no broker.
///
/// The slow-client tests rely on the time limit: if a stuck client blocked scrapes or shutdown, the test would
/// exceed it and fail (its slow client gives up on cancellation, so the test then ends).
@Suite("conveyor worker metrics endpoint", .timeLimit(.minutes(2)))
struct CLIMetricsTests {
    @Test("worker --metrics-port serves Prometheus text at /metrics and stops on SIGTERM with exit 0")
    func metricsEndpoint() async throws {
        let port = freeLocalPort()
        let worker = try CLIProcess(["worker", "--provider", "memory", "--metrics-port", "\(port)", "--queue", "m"])
        let metrics = try await scrapeWorkerMetrics(port: port)
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("conveyor_jobs_total"), "\(metrics.body.prefix(2000))")
        #expect(metrics.body.contains(#"task="noop""#))
        #expect(metrics.body.contains("conveyor_jobs_in_flight"))
        let missing = await httpGet(port: port, path: "/nope")
        #expect(missing?.status == 404)
        worker.signal(SIGTERM)
        let result = await worker.wait()
        #expect(result.status == 0, "\(result)")
        #expect(result.stderr.contains("metrics: http://127.0.0.1:\(port)/metrics"), "\(result)")
    }

    @Test("clients that send nothing, half a request line, or a request head one byte at a time don't stop another client's scrape")
    func stuckClientsDoNotBlockScrapes() async throws {
        let port = freeLocalPort()
        let worker = try CLIProcess(["worker", "--provider", "memory", "--metrics-port", "\(port)", "--queue", "m"])
        defer { worker.killIfRunning() }
        _ = try await scrapeWorkerMetrics(port: port)

        // The slow client first: a server that handles one connection at a time would be stuck on it.
        let trickling = try #require(RawClient(port: port), "connect to the metrics port")
        defer { trickling.close() }
        trickling.send("GET /metrics HTTP/1.1\r\n")
        let partial = try #require(RawClient(port: port), "connect to the metrics port")
        defer { partial.close() }
        partial.send("GET /metr")
        let silent = try #require(RawClient(port: port), "connect to the metrics port")
        defer { silent.close() }

        let scraped = try await withThrowingTaskGroup(of: (status: Int, body: String)?.self, returning: (status: Int, body: String)?.self) { group in
            group.addTask {
                try await trickling.trickleHeader()
                return nil
            }
            group.addTask { await httpGet(port: port, path: "/metrics") }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            return nil
        }
        let metrics = try #require(scraped, "the scrape got no HTTP response")
        #expect(metrics.status == 200)
        #expect(metrics.body.contains("conveyor_jobs_total"), "\(metrics.body.prefix(2000))")
    }

    @Test("SIGTERM with a silent client and a slow client connected exits 0")
    func shutdownWithStuckClients() async throws {
        let port = freeLocalPort()
        let worker = try CLIProcess(["worker", "--provider", "memory", "--metrics-port", "\(port)", "--queue", "m"])
        defer { worker.killIfRunning() }
        _ = try await scrapeWorkerMetrics(port: port)

        let trickling = try #require(RawClient(port: port), "connect to the metrics port")
        defer { trickling.close() }
        trickling.send("GET /metrics HTTP/1.1\r\n")
        let silent = try #require(RawClient(port: port), "connect to the metrics port")
        defer { silent.close() }

        let result = try await withThrowingTaskGroup(of: CLIResult?.self, returning: CLIResult?.self) { group in
            group.addTask {
                try await trickling.trickleHeader()
                return nil
            }
            group.addTask {
                // Lets the server take both connections before the signal (not a timing assertion).
                try await Task.sleep(for: .milliseconds(500))
                worker.signal(SIGTERM)
                return await worker.wait()
            }
            defer { group.cancelAll() }
            while let result = try await group.next() {
                if let result { return result }
            }
            return nil
        }
        let stopped = try #require(result)
        #expect(stopped.status == 0, "\(stopped)")
    }

    /// Waits until the worker's own metrics show at /metrics (the endpoint can answer before the worker has
    /// registered them) and returns that scrape.
    func scrapeWorkerMetrics(port: Int) async throws -> (status: Int, body: String) {
        var scraped: (status: Int, body: String)?
        try await eventually("the worker's metrics at /metrics") {
            scraped = await httpGet(port: port, path: "/metrics")
            return scraped?.body.contains("conveyor_jobs_total") == true
        }
        return try #require(scraped)
    }
}

/// A TCP client on 127.0.0.1 that sends what a test tells it to, for playing a slow or silent HTTP client.
final class RawClient: Sendable {
    private let fd: Int32

    /// Connects to 127.0.0.1:`port`; nil when that fails.
    init?(port: Int) {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            closeSocket(fd)
            return nil
        }
        self.fd = fd
    }

    /// Sends `text`; false when the connection is gone.
    @discardableResult
    func send(_ text: String) -> Bool {
        sendAll(fd, Array(text.utf8))
    }

    /// Sends a header one byte every 200 ms, never ending the request head, until the task is cancelled, the
    /// server closes the connection, or 1,500 bytes (5 minutes, far past the suite's time limit).
    func trickleHeader() async throws {
        guard send("X-Slow: ") else { return }
        for _ in 0..<1_500 {
            try await Task.sleep(for: .milliseconds(200))
            guard send("a") else { return }
        }
    }

    /// Closes the connection.
    func close() {
        closeSocket(fd)
    }
}

private func closeSocket(_ fd: Int32) {
    close(fd)
}

private func sendAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
    #if canImport(Glibc)
    let flags = Int32(MSG_NOSIGNAL)
    #else
    let flags: Int32 = 0
    #endif
    return bytes.withUnsafeBytes { send(fd, $0.baseAddress, $0.count, flags) } == bytes.count
}
