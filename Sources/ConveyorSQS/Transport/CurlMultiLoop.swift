import CCurl
import Conveyor
import DequeModule
import Foundation
import Synchronization

/// Runs HTTP transfers with libcurl's multi interface on one thread it owns.
///
/// The thread starts with the first request and stops on ``close()``. Requests are handed over through a
/// lock-protected queue plus `curl_multi_wakeup`; completions resume `CheckedContinuation`s from the loop thread.
/// Cancelling the calling task removes the transfer from the multi handle and throws `CancellationError`.
/// Connections are kept alive in the multi handle's connection cache and reused.
final class CurlMultiLoop: Sendable {
    private struct State: ~Copyable {
        var multi: UnsafeMutableRawPointer?
        var started = false
        var closed = false
        var adds: Deque<Transfer> = []
        var cancels: [Transfer] = []
        var stopped: [CheckedContinuation<Void, Never>] = []
        var finished = false
    }

    private let state = Mutex(State())
    private let name: String

    private static let globalInit: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
    }()

    init(name: String = "conveyor.curl") {
        self.name = name
    }

    deinit {
        // The thread holds a strong reference while running, so reaching deinit means it has stopped or never started.
        state.withLock { state in
            if let multi = state.multi, !state.started { curl_multi_cleanup(multi) }
        }
    }

    /// Performs `request`, suspending until the response arrives.
    func perform(_ request: HTTPRequest) async throws -> HTTPResponse {
        let transfer = Transfer(request: request)
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<HTTPResponse, any Error>) in
                guard transfer.attach(continuation) else {
                    continuation.resume(throwing: CancellationError())
                    return
                }
                self.submit(transfer)
            }
        } onCancel: {
            if transfer.requestCancel() {
                self.enqueueCancel(transfer)
            }
        }
    }

    /// Stops the loop thread; pending and future transfers fail with ``ConveyorError/Code/closed``.
    func close() async {
        let wait: Bool = state.withLock { state in
            state.closed = true
            if let multi = state.multi { curl_multi_wakeup(multi) }
            return state.started && !state.finished
        }
        guard wait else { return }
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let resumeNow: Bool = state.withLock { state in
                if state.finished { return true }
                state.stopped.append(continuation)
                return false
            }
            if resumeNow { continuation.resume() }
        }
    }

    /// Asks the loop thread to stop without waiting (for `deinit` of owners); pending transfers fail with
    /// ``ConveyorError/Code/closed``.
    func shutdown() {
        state.withLock { state in
            state.closed = true
            if let multi = state.multi { curl_multi_wakeup(multi) }
        }
    }

    private func submit(_ transfer: Transfer) {
        _ = Self.globalInit
        enum Action { case fail, wake(UnsafeMutableRawPointer), start(UnsafeMutableRawPointer) }
        let action: Action = state.withLock { state in
            if state.closed { return .fail }
            state.adds.append(transfer)
            if state.multi == nil {
                state.multi = curl_multi_init()
            }
            if !state.started {
                state.started = true
                return .start(state.multi!)
            }
            return .wake(state.multi!)
        }
        switch action {
        case .fail:
            transfer.complete(.failure(ConveyorError(.closed, "the SQS provider has been closed")))
        case .wake(let multi):
            curl_multi_wakeup(multi)
        case .start(let multi):
            let handle = MultiHandle(pointer: multi)
            let thread = Thread { [self] in self.run(multi: handle.pointer) }
            thread.name = name
            thread.start()
        }
    }

    private func enqueueCancel(_ transfer: Transfer) {
        state.withLock { state in
            state.cancels.append(transfer)
            if let multi = state.multi { curl_multi_wakeup(multi) }
        }
    }

    // MARK: - Loop thread

    private func run(multi: UnsafeMutableRawPointer) {
        var active: [UnsafeMutableRawPointer: Transfer] = [:]
        var idle: [UnsafeMutableRawPointer] = []
        while true {
            let (adds, cancels, closed): (Deque<Transfer>, [Transfer], Bool) = state.withLock { state in
                let result = (state.adds, state.cancels, state.closed)
                state.adds.removeAll()
                state.cancels.removeAll()
                return result
            }
            if closed {
                for transfer in adds {
                    transfer.complete(.failure(ConveyorError(.closed, "the SQS provider has been closed")))
                }
                for (easy, transfer) in active {
                    curl_multi_remove_handle(multi, easy)
                    curl_easy_cleanup(easy)
                    transfer.cleanup()
                    transfer.complete(.failure(ConveyorError(.closed, "the SQS provider has been closed")))
                }
                for easy in idle { curl_easy_cleanup(easy) }
                curl_multi_cleanup(multi)
                let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
                    state.finished = true
                    state.multi = nil
                    let waiters = state.stopped
                    state.stopped.removeAll()
                    return waiters
                }
                for waiter in waiters { waiter.resume() }
                return
            }
            for transfer in adds {
                if transfer.isCancelRequested {
                    transfer.complete(.failure(CancellationError()))
                    continue
                }
                let easy = idle.popLast() ?? curl_easy_init()!
                if let error = transfer.configure(easy) {
                    curl_easy_reset(easy)
                    idle.append(easy)
                    transfer.cleanup()
                    transfer.complete(.failure(error))
                    continue
                }
                active[easy] = transfer
                curl_multi_add_handle(multi, easy)
            }
            for transfer in cancels {
                guard let easy = transfer.easy, active[easy] === transfer else { continue }
                active[easy] = nil
                curl_multi_remove_handle(multi, easy)
                curl_easy_reset(easy)
                idle.append(easy)
                transfer.cleanup()
                transfer.complete(.failure(CancellationError()))
            }

            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            var remaining: Int32 = 0
            while let message = curl_multi_info_read(multi, &remaining) {
                guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
                let code = message.pointee.data.result
                guard let transfer = active.removeValue(forKey: easy) else { continue }
                curl_multi_remove_handle(multi, easy)
                let result: Result<HTTPResponse, any Error>
                if code == CURLE_OK {
                    var status = 0
                    conveyor_curl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
                    result = .success(HTTPResponse(status: status, headers: transfer.responseHeaders, body: transfer.responseBody))
                } else {
                    let text = String(cString: curl_easy_strerror(code))
                    result = .failure(HTTPTransportError(code: Int(code.rawValue), message: text, timedOut: code == CURLE_OPERATION_TIMEDOUT))
                }
                curl_easy_reset(easy)
                if idle.count < 64 { idle.append(easy) } else { curl_easy_cleanup(easy) }
                transfer.cleanup()
                transfer.complete(result)
            }
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }
}

/// Hands the multi handle to the loop thread, which alone uses it from then on (besides `curl_multi_wakeup`,
/// which is thread-safe).
private struct MultiHandle: @unchecked Sendable {
    var pointer: UnsafeMutableRawPointer
}

/// One transfer's state; mutated on the loop thread except for the small lock-protected lifecycle flag.
private final class Transfer: @unchecked Sendable {
    private enum Phase { case created, attached, cancelRequested, completed }

    let request: HTTPRequest
    private let phase = Mutex(Phase.created)
    private var continuation: CheckedContinuation<HTTPResponse, any Error>?
    var easy: UnsafeMutableRawPointer?
    var responseBody: [UInt8] = []
    var responseHeaders: [String: String] = [:]
    private var headerList: UnsafeMutablePointer<curl_slist>?

    init(request: HTTPRequest) {
        self.request = request
    }

    /// Attaches the continuation; false when the task was cancelled first.
    func attach(_ continuation: CheckedContinuation<HTTPResponse, any Error>) -> Bool {
        phase.withLock { phase in
            guard phase == .created else { return false }
            self.continuation = continuation
            phase = .attached
            return true
        }
    }

    /// Marks the transfer cancelled; true when the loop must abort it.
    func requestCancel() -> Bool {
        phase.withLock { phase in
            switch phase {
            case .created:
                phase = .cancelRequested
                return false
            case .attached:
                phase = .cancelRequested
                return true
            case .cancelRequested, .completed:
                return false
            }
        }
    }

    var isCancelRequested: Bool { phase.withLock { $0 == .cancelRequested } }

    func complete(_ result: Result<HTTPResponse, any Error>) {
        let continuation: CheckedContinuation<HTTPResponse, any Error>? = phase.withLock { phase in
            guard phase != .completed else { return nil }
            phase = .completed
            let c = self.continuation
            self.continuation = nil
            return c
        }
        continuation?.resume(with: result)
    }

    func cleanup() {
        if let headerList { curl_slist_free_all(headerList) }
        headerList = nil
        easy = nil
    }

    /// Sets the easy handle's options for this request; returns an error for an unusable request.
    func configure(_ easy: UnsafeMutableRawPointer) -> (any Error)? {
        self.easy = easy
        let me = Unmanaged.passUnretained(self).toOpaque()
        var ok = true
        func set(_ option: CURLoption, _ value: Int) { ok = ok && conveyor_curl_easy_setopt_long(easy, option, value) == CURLE_OK }
        request.url.withCString { ok = ok && conveyor_curl_easy_setopt_pointer(easy, CURLOPT_URL, $0) == CURLE_OK }
        set(CURLOPT_NOSIGNAL, 1)
        set(CURLOPT_SSL_VERIFYPEER, 1)
        set(CURLOPT_SSL_VERIFYHOST, 2)
        set(CURLOPT_TCP_KEEPALIVE, 1)
        set(CURLOPT_TCP_NODELAY, 1)
        set(CURLOPT_CONNECTTIMEOUT_MS, Self.milliseconds(request.connectTimeout))
        set(CURLOPT_TIMEOUT_MS, Self.milliseconds(request.timeout))
        var list: UnsafeMutablePointer<curl_slist>? = nil
        for (name, value) in request.headers {
            list = curl_slist_append(list, "\(name): \(value)")
        }
        list = curl_slist_append(list, "Expect:")
        headerList = list
        ok = ok && conveyor_curl_easy_setopt_pointer(easy, CURLOPT_HTTPHEADER, UnsafeRawPointer(list)) == CURLE_OK
        switch request.method {
        case "GET":
            set(CURLOPT_HTTPGET, 1)
        default:
            if request.method != "POST" {
                request.method.withCString { ok = ok && conveyor_curl_easy_setopt_pointer(easy, CURLOPT_CUSTOMREQUEST, $0) == CURLE_OK }
            }
            ok = ok && conveyor_curl_easy_setopt_off_t(easy, CURLOPT_POSTFIELDSIZE_LARGE, curl_off_t(request.body.count)) == CURLE_OK
            request.body.withUnsafeBytes { raw in
                // COPYPOSTFIELDS copies the bytes, so the buffer need not outlive this call. A non-null pointer is
                // needed even for an empty body.
                let pointer = raw.baseAddress ?? UnsafeRawPointer(bitPattern: 1)!
                ok = ok && conveyor_curl_easy_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, pointer) == CURLE_OK
            }
        }
        ok = ok && conveyor_curl_easy_setopt_write_callback(easy, CURLOPT_WRITEFUNCTION, { data, size, count, user in
            let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
            let length = size * count
            if let data {
                data.withMemoryRebound(to: UInt8.self, capacity: length) {
                    transfer.responseBody.append(contentsOf: UnsafeBufferPointer(start: $0, count: length))
                }
            }
            return length
        }) == CURLE_OK
        ok = ok && conveyor_curl_easy_setopt_pointer(easy, CURLOPT_WRITEDATA, me) == CURLE_OK
        ok = ok && conveyor_curl_easy_setopt_write_callback(easy, CURLOPT_HEADERFUNCTION, { data, size, count, user in
            let transfer = Unmanaged<Transfer>.fromOpaque(user!).takeUnretainedValue()
            let length = size * count
            if let data {
                let line = data.withMemoryRebound(to: UInt8.self, capacity: length) {
                    String(decoding: UnsafeBufferPointer(start: $0, count: length), as: UTF8.self)
                }
                if line.hasPrefix("HTTP/") {
                    transfer.responseHeaders.removeAll()
                } else if let colon = line.firstIndex(of: ":") {
                    let name = line[..<colon].lowercased()
                    let value = line[line.index(after: colon)...].trimmingCharacters(in: .whitespacesAndNewlines)
                    transfer.responseHeaders[name] = value
                }
            }
            return length
        }) == CURLE_OK
        ok = ok && conveyor_curl_easy_setopt_pointer(easy, CURLOPT_HEADERDATA, me) == CURLE_OK
        return ok ? nil : HTTPTransportError(code: -1, message: "could not configure the HTTP request for \(request.method)", timedOut: false)
    }

    private static func milliseconds(_ d: Duration) -> Int {
        let (seconds, attoseconds) = d.components
        return max(1, Int(seconds) * 1000 + Int(attoseconds / 1_000_000_000_000_000))
    }
}
