#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Conveyor
import Foundation
import Synchronization

/// A minimal HTTP/1.1 server for `GET /metrics` on 127.0.0.1, on a thread it owns (blocking POSIX sockets, one
/// request per connection). It never touches Swift's cooperative thread pool.
final class MetricsServer: Sendable {
    /// The port the server listens on (the actual one when 0 was asked for).
    let port: Int

    private let listener: Int32
    private let wakeRead: Int32
    private let wakeWrite: Int32
    private let body: @Sendable () -> [UInt8]
    private let stopped = Mutex(false)
    private let done = Mutex<CheckedContinuation<Void, Never>?>(nil)
    private let finished = Mutex(false)

    /// Binds 127.0.0.1:`port`; `body` renders the exposition text for each scrape.
    init(port: Int, body: @escaping @Sendable () -> [UInt8]) throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw Self.error("socket") }
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            let failure = Self.error("cannot listen on 127.0.0.1:\(port)")
            close(fd)
            throw failure
        }
        var actual = sockaddr_in()
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &actual) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        var pipeFDs: [Int32] = [0, 0]
        guard pipe(&pipeFDs) == 0 else {
            close(fd)
            throw Self.error("pipe")
        }
        self.listener = fd
        self.wakeRead = pipeFDs[0]
        self.wakeWrite = pipeFDs[1]
        self.port = Int(UInt16(bigEndian: actual.sin_port))
        self.body = body
    }

    /// Starts serving on a new thread.
    func start() {
        let thread = Thread { [self] in
            self.serve()
        }
        thread.name = "conveyor-metrics"
        thread.start()
    }

    /// Stops the server and waits for its thread to finish.
    func stop() async {
        let first = stopped.withLock { stopped in
            defer { stopped = true }
            return !stopped
        }
        if first {
            var byte: UInt8 = 1
            _ = write(wakeWrite, &byte, 1)
        }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let alreadyDone = finished.withLock { finished in
                if !finished { done.withLock { $0 = continuation } }
                return finished
            }
            if alreadyDone { continuation.resume() }
        }
    }

    private func serve() {
        defer {
            close(listener)
            close(wakeRead)
            close(wakeWrite)
            let continuation = finished.withLock { finished in
                finished = true
                return done.withLock { done in
                    defer { done = nil }
                    return done
                }
            }
            continuation?.resume()
        }
        while true {
            var fds = [
                pollfd(fd: listener, events: Int16(POLLIN), revents: 0),
                pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0),
            ]
            let ready = poll(&fds, 2, -1)
            if ready < 0 {
                if errno == EINTR { continue }
                return
            }
            if fds[1].revents != 0 { return }
            guard fds[0].revents & Int16(POLLIN) != 0 else { continue }
            let client = accept(listener, nil, nil)
            guard client >= 0 else { continue }
            handle(client)
            close(client)
        }
    }

    /// Reads one request (headers only) and answers it.
    private func handle(_ client: Int32) {
        var timeout = timeval(tv_sec: 5, tv_usec: 0)
        setsockopt(client, SOL_SOCKET, SO_RCVTIMEO, &timeout, socklen_t(MemoryLayout<timeval>.size))
        var request: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while request.count < 16_384 {
            let n = chunk.withUnsafeMutableBytes { read(client, $0.baseAddress, $0.count) }
            if n <= 0 { break }
            request.append(contentsOf: chunk[0..<n])
            if Self.containsHeaderEnd(request) { break }
        }
        let line = String(decoding: request.prefix { $0 != 0x0D && $0 != 0x0A }, as: UTF8.self)
        let parts = line.split(separator: " ")
        let status: String
        var content: [UInt8] = []
        var contentType = "text/plain; charset=utf-8"
        if parts.count >= 2, parts[0] == "GET" || parts[0] == "HEAD",
            parts[1] == "/metrics" || parts[1].hasPrefix("/metrics?")
        {
            status = "200 OK"
            contentType = "text/plain; version=0.0.4; charset=utf-8"
            if parts[0] == "GET" { content = body() }
        } else if parts.count >= 2, parts[0] != "GET" && parts[0] != "HEAD" {
            status = "405 Method Not Allowed"
            content = Array("only GET /metrics is served\n".utf8)
        } else {
            status = "404 Not Found"
            content = Array("not found: try GET /metrics\n".utf8)
        }
        let head = "HTTP/1.1 \(status)\r\nContent-Type: \(contentType)\r\nContent-Length: \(content.count)\r\nConnection: close\r\n\r\n"
        Self.writeAll(client, Array(head.utf8) + content)
    }

    private static func containsHeaderEnd(_ bytes: [UInt8]) -> Bool {
        guard bytes.count >= 4 else { return false }
        for i in 0...(bytes.count - 4) where bytes[i] == 0x0D && bytes[i + 1] == 0x0A && bytes[i + 2] == 0x0D && bytes[i + 3] == 0x0A {
            return true
        }
        return false
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, $0.count - offset, noSignal) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            offset += n
        }
    }

    #if canImport(Glibc)
    private static let noSignal = Int32(MSG_NOSIGNAL)
    #else
    private static let noSignal: Int32 = 0
    #endif

    private static func error(_ what: String) -> ConveyorError {
        ConveyorError(.invalidConfiguration, "metrics server: \(what): \(String(cString: strerror(errno)))")
    }
}
