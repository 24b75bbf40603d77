import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small forwarding HTTP proxy on 127.0.0.1 for the proxy tests, written here rather than taken from a library
/// (the test target has no networking dependency, and the test needs to see the request lines the proxy received):
/// - `CONNECT host:port` opens a tunnel to the target (for `https` URLs) and answers `200 Connection established`;
/// - a request in absolute form (`POST http://host:port/ HTTP/1.1`, for `http` URLs) is forwarded to `host:port`
///   with its request line rewritten to origin form; later requests on the same connection go to the same target
///   unchanged (the tests use one target per proxy).
///
/// It records each connection's first request line (``requestLines``). Each connection has two threads copying
/// bytes, one per direction; blocking sockets, never Swift's cooperative pool. `localhost` is reached as 127.0.0.1.
final class ForwardingProxy: Sendable {
    let port: Int
    private let socket: Int32
    private let lines = Mutex<[String]>([])

    /// The first request line of each connection: `CONNECT localhost:4566 HTTP/1.1`, `POST http://... HTTP/1.1`.
    var requestLines: [String] { lines.withLock { $0 } }

    init() throws {
        let fd = Glibc.socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var yes: Int32 = 1
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &yes, socklen_t(MemoryLayout<Int32>.size))
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = 0
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else {
            close(fd)
            throw POSIXError(.EADDRINUSE)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.port = Int(UInt16(bigEndian: address.sin_port))
        self.socket = fd
        let thread = Thread { [self] in self.serve() }
        thread.start()
    }

    /// Stops accepting (the accept loop closes the socket when it ends; see ``LocalHTTPServer/stop()``).
    func stop() {
        shutdown(socket, Int32(SHUT_RDWR))
    }

    private func serve() {
        while true {
            let client = accept(socket, nil, nil)
            if client < 0 {
                close(socket)
                return
            }
            let thread = Thread { [self] in self.handle(client) }
            thread.start()
        }
    }

    private func handle(_ client: Int32) {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 16384)
        var headerEnd: Int?
        while headerEnd == nil {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 {
                close(client)
                return
            }
            data += buffer[0..<n]
            headerEnd = Self.headerEnd(data)
        }
        guard let headerEnd, let lineEnd = Self.find([13, 10], in: data) else {
            close(client)
            return
        }
        let requestLine = String(decoding: data[..<lineEnd], as: UTF8.self)
        lines.withLock { $0.append(requestLine) }
        let parts = requestLine.split(separator: " ")
        guard parts.count == 3 else { return reject(client) }
        let method = String(parts[0])
        let target = String(parts[1])
        if method == "CONNECT" {
            guard let target = Self.hostAndPort(target), let upstream = Self.connect(host: target.host, port: target.port) else {
                return reject(client)
            }
            Self.writeAll(client, Array("HTTP/1.1 200 Connection established\r\n\r\n".utf8))
            // Bytes the client sent after the CONNECT header (none for libcurl, which waits for the answer).
            if data.count > headerEnd { Self.writeAll(upstream, Array(data[headerEnd...])) }
            pump(client, upstream)
            return
        }
        // Absolute form: http://host[:port]/path
        guard let components = URLComponents(string: target), components.scheme?.lowercased() == "http",
            let host = components.host, let upstream = Self.connect(host: host, port: components.port ?? 80)
        else { return reject(client) }
        var path = components.percentEncodedPath.isEmpty ? "/" : components.percentEncodedPath
        if let query = components.percentEncodedQuery { path += "?" + query }
        // One request per connection, as the origin-form rewrite applies to the first request only: the upstream is
        // asked to close after answering, so the client opens a new connection (through this proxy) for the next.
        let headerLines = String(decoding: data[(lineEnd + 2)..<(headerEnd - 4)], as: UTF8.self)
            .components(separatedBy: "\r\n")
            .filter { line in
                let name = line.prefix { $0 != ":" }.lowercased()
                return !["connection", "proxy-connection", "keep-alive"].contains(name)
            }
        let head = (["\(method) \(path) \(parts[2])"] + headerLines + ["Connection: close", "", ""]).joined(separator: "\r\n")
        Self.writeAll(upstream, Array(head.utf8) + Array(data[headerEnd...]))
        pump(client, upstream)
    }

    private func reject(_ client: Int32) {
        Self.writeAll(client, Array("HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".utf8))
        close(client)
    }

    /// Copies bytes both ways until both sides finished, then closes both sockets.
    private func pump(_ a: Int32, _ b: Int32) {
        let finished = CredentialsTestCounter()
        for (from, to) in [(a, b), (b, a)] {
            let thread = Thread {
                var buffer = [UInt8](repeating: 0, count: 16384)
                while true {
                    let n = read(from, &buffer, buffer.count)
                    if n <= 0 { break }
                    if !Self.writeAll(to, Array(buffer[0..<n])) { break }
                }
                shutdown(to, Int32(SHUT_WR))
                if finished.increment() == 2 {
                    close(a)
                    close(b)
                }
            }
            thread.start()
        }
    }

    @discardableResult
    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            if n <= 0 { return false }
            offset += n
        }
        return true
    }

    /// A TCP connection to `host` (IPv4; `localhost` is 127.0.0.1) on `port`, or nil.
    private static func connect(host: String, port: Int) -> Int32? {
        var hints = addrinfo()
        hints.ai_family = AF_INET
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        let name = host.lowercased() == "localhost" ? "127.0.0.1" : host
        guard getaddrinfo(name, String(port), &hints, &list) == 0, let first = list else { return nil }
        defer { freeaddrinfo(list) }
        let fd = Glibc.socket(first.pointee.ai_family, first.pointee.ai_socktype, first.pointee.ai_protocol)
        guard fd >= 0 else { return nil }
        guard Glibc.connect(fd, first.pointee.ai_addr, first.pointee.ai_addrlen) == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    private static func hostAndPort(_ target: String) -> (host: String, port: Int)? {
        guard let colon = target.lastIndex(of: ":"), let port = Int(target[target.index(after: colon)...]) else { return nil }
        return (String(target[..<colon]), port)
    }

    private static func find(_ needle: [UInt8], in data: [UInt8]) -> Int? {
        guard data.count >= needle.count else { return nil }
        for i in 0...(data.count - needle.count) where Array(data[i..<(i + needle.count)]) == needle { return i }
        return nil
    }

    private static func headerEnd(_ data: [UInt8]) -> Int? {
        find([13, 10, 13, 10], in: data).map { $0 + 4 }
    }
}
