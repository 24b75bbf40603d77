#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Foundation

/// One HTTP/1.1 exchange with the dashboard under test, over a plain socket on a thread of its own (no redirect is
/// followed, so a test sees the 303 and its headers).
struct HTTPTestResponse: Sendable, CustomStringConvertible {
    var status: Int
    var headers: [String: String]
    var body: String

    var description: String { "HTTP \(status) \(headers) \(body.prefix(2000))" }

    /// The body parsed as JSON.
    var json: Any? { try? JSONSerialization.jsonObject(with: Data(body.utf8)) }
}

enum HTTPTestClient {
    /// Sends one request and reads the whole answer (the server closes after it: `Connection: close`).
    static func send(
        port: Int, _ method: String, _ path: String, headers: [String: String] = [:], body: String? = nil
    ) async throws -> HTTPTestResponse {
        try await onThread {
            let fd = try connectLocal(port: port)
            defer { close(fd) }
            var head = "\(method) \(path) HTTP/1.1\r\n"
            if headers["Host"] == nil { head += "Host: 127.0.0.1:\(port)\r\n" }
            head += "Connection: close\r\n"
            for (name, value) in headers { head += "\(name): \(value)\r\n" }
            if let body { head += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: \(body.utf8.count)\r\n" }
            head += "\r\n" + (body ?? "")
            try writeAll(fd, Array(head.utf8))
            var response: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            while true {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                response.append(contentsOf: buffer[0..<n])
            }
            return try parse(response)
        }
    }

    /// Opens a server-sent event stream and reads it until `until` holds for what was read, or `timeout` passes;
    /// returns what was read.
    static func readStream(
        port: Int, _ path: String, headers: [String: String] = [:], timeout: Duration = .seconds(30),
        opened: @escaping @Sendable () -> Void = {}, until: @escaping @Sendable (String) -> Bool
    ) async throws -> String {
        try await onThread {
            let fd = try connectLocal(port: port)
            defer { close(fd) }
            var wait = timeval(tv_sec: 1, tv_usec: 0)
            setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &wait, socklen_t(MemoryLayout<timeval>.size))
            var head = "GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nAccept: text/event-stream\r\n"
            for (name, value) in headers { head += "\(name): \(value)\r\n" }
            try writeAll(fd, Array((head + "\r\n").utf8))
            let deadline = ContinuousClock.now + timeout
            var received: [UInt8] = []
            var buffer = [UInt8](repeating: 0, count: 65536)
            var announced = false
            while ContinuousClock.now < deadline {
                let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                if n == 0 { break }
                if n > 0 { received.append(contentsOf: buffer[0..<n]) }
                let text = String(decoding: received, as: UTF8.self)
                if !announced, text.contains(": following") {
                    announced = true
                    opened()
                }
                if until(text) { return text }
            }
            return String(decoding: received, as: UTF8.self)
        }
    }

    private static func onThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            Thread { continuation.resume(with: Result { try body() }) }.start()
        }
    }

    private static func connectLocal(port: Int) throws -> Int32 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else { throw TestHTTPError("socket failed") }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = in_port_t(UInt16(port).bigEndian)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            throw TestHTTPError("nothing listens on 127.0.0.1:\(port)")
        }
        return fd
    }

    private static func writeAll(_ fd: Int32, _ bytes: [UInt8]) throws {
        var offset = 0
        while offset < bytes.count {
            let n = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard n > 0 else { throw TestHTTPError("write failed") }
            offset += n
        }
    }

    private static func parse(_ bytes: [UInt8]) throws -> HTTPTestResponse {
        let text = String(decoding: bytes, as: UTF8.self)
        guard let end = text.range(of: "\r\n\r\n") else { throw TestHTTPError("no complete response: \(text.prefix(200))") }
        let lines = text[..<end.lowerBound].components(separatedBy: "\r\n")
        let parts = lines[0].split(separator: " ")
        guard parts.count >= 2, let status = Int(parts[1]) else { throw TestHTTPError("bad status line \(lines[0])") }
        var headers: [String: String] = [:]
        for line in lines.dropFirst() {
            guard let colon = line.firstIndex(of: ":") else { continue }
            headers[line[..<colon].lowercased()] = line[line.index(after: colon)...].trimmingCharacters(in: .whitespaces)
        }
        var body = String(text[end.upperBound...])
        if headers["transfer-encoding"] == "chunked" { body = dechunk(body) }
        return HTTPTestResponse(status: status, headers: headers, body: body)
    }

    private static func dechunk(_ text: String) -> String {
        var rest = Substring(text)
        var out = ""
        while let line = rest.range(of: "\r\n"), let size = Int(rest[..<line.lowerBound], radix: 16), size > 0 {
            let start = line.upperBound
            let bytes = Array(rest[start...].utf8)
            out += String(decoding: bytes.prefix(size), as: UTF8.self)
            rest = Substring(String(decoding: bytes.dropFirst(size + 2), as: UTF8.self))
        }
        return out
    }
}

struct TestHTTPError: Error, CustomStringConvertible {
    var description: String
    init(_ description: String) { self.description = description }
}
