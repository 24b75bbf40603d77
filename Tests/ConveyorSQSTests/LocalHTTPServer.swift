import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A tiny HTTP/1.1 server on 127.0.0.1 for credential-endpoint tests: answers each request with the response the
/// handler returns and records what it received. Each connection on its own thread, `Connection: close`. A handler that
/// returns status 0 makes the server close the connection without answering (a dropped request).
final class LocalHTTPServer: Sendable {
    struct Request: Sendable {
        var method: String
        var path: String
        var headers: [String: String]
        var body: [UInt8] = []
    }

    typealias Handler = @Sendable (Request) -> (status: Int, body: String)

    let port: Int
    private let socket: Int32
    private let handler: Handler
    private let log = Mutex<[Request]>([])

    var requests: [Request] { log.withLock { $0 } }

    init(handler: @escaping Handler) throws {
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
        self.handler = handler
        let thread = Thread { [self] in self.serve() }
        thread.start()
    }

    /// Stops accepting: the accept loop ends when the socket is shut down, and closes it then. (Closing it here
    /// would free its descriptor number while the loop may be about to call `accept` again: a socket opened meanwhile,
    /// another test's server, could get that number and have its connections answered by this server.)
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

    /// Answers one connection (on its own thread, so a slow answer does not hold up the next connection).
    private func handle(_ client: Int32) {
        var data = [UInt8]()
        var buffer = [UInt8](repeating: 0, count: 4096)
        while !data.containsHeaderEnd {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { break }
            data += buffer[0..<n]
        }
        let headerEnd = data.headerEnd ?? data.count
        let text = String(decoding: data[..<headerEnd], as: UTF8.self)
        let lines = text.components(separatedBy: "\r\n")
        let parts = lines.first?.split(separator: " ") ?? []
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var requestBody = Array(data[headerEnd...])
        let length = headers["content-length"].flatMap(Int.init) ?? 0
        while requestBody.count < length {
            let n = read(client, &buffer, buffer.count)
            if n <= 0 { break }
            requestBody += buffer[0..<n]
        }
        let request = Request(
            method: parts.count > 0 ? String(parts[0]) : "", path: parts.count > 1 ? String(parts[1]) : "", headers: headers,
            body: requestBody
        )
        log.withLock { $0.append(request) }
        let (status, body) = handler(request)
        if status == 0 {
            close(client)
            return
        }
        let response = "HTTP/1.1 \(status) X\r\nContent-Length: \(body.utf8.count)\r\nConnection: close\r\n\r\n\(body)"
        _ = response.withCString { write(client, $0, strlen($0)) }
        close(client)
    }
}

extension [UInt8] {
    fileprivate var containsHeaderEnd: Bool { headerEnd != nil }

    /// The index just after the blank line that ends the header, if received.
    fileprivate var headerEnd: Int? {
        guard count >= 4 else { return nil }
        for i in 0...(count - 4) where self[i] == 13 && self[i + 1] == 10 && self[i + 2] == 13 && self[i + 3] == 10 {
            return i + 4
        }
        return nil
    }
}
