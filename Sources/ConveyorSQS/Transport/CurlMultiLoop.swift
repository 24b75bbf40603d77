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
///
/// A transfer that libcurl cannot set up or start (no easy or multi handle, `curl_multi_add_handle` refused) fails
/// with an ``HTTPTransportError`` of code -1: nothing was sent.
package final class CurlMultiLoop: Sendable {
    /// The libcurl calls the loop makes that tests replace, to inject failures or widen race windows. The defaults
    /// call libcurl.
    package struct Operations: Sendable {
        /// `curl_multi_init`.
        package var multiInit: @Sendable () -> UnsafeMutableRawPointer? = { curl_multi_init() }
        /// `curl_multi_cleanup`.
        package var multiCleanup: @Sendable (UnsafeMutableRawPointer) -> Void = { _ = curl_multi_cleanup($0) }
        /// `curl_multi_wakeup`.
        package var multiWakeup: @Sendable (UnsafeMutableRawPointer) -> Void = { _ = curl_multi_wakeup($0) }
        /// `curl_easy_init`.
        package var easyInit: @Sendable () -> UnsafeMutableRawPointer? = { curl_easy_init() }
        /// `curl_multi_add_handle(multi, easy)`.
        package var multiAddHandle: @Sendable (UnsafeMutableRawPointer, UnsafeMutableRawPointer) -> CURLMcode = {
            curl_multi_add_handle($0, $1)
        }

        /// The libcurl calls.
        package init() {}
    }

    private struct State: ~Copyable {
        /// The multi handle while other threads may wake it: set with `started`, and set back to nil (under the lock)
        /// by the loop thread before it cleans the handle up. Every `curl_multi_wakeup` runs under the lock with the
        /// handle read from here, so none can reach a handle being cleaned up or freed.
        var multi: UnsafeMutableRawPointer?
        var started = false
        var closed = false
        var adds: Deque<Transfer> = []
        var cancels: [Transfer] = []
        var stopped: [CheckedContinuation<Void, Never>] = []
        var finished = false
    }

    private let state = Mutex(State())
    /// Transfers finished and connections opened for them: requests per connection (and so per TLS handshake).
    package let counters = TransferCounters()
    private let name: String
    private let operations: Operations

    private static let globalInit: Bool = {
        curl_global_init(Int(CURL_GLOBAL_DEFAULT)) == CURLE_OK
    }()

    /// Creates a loop whose thread is named `name`; `operations` replaces libcurl calls in tests.
    package init(name: String = "conveyor.curl", operations: Operations = Operations()) {
        self.name = name
        self.operations = operations
    }

    /// Performs `request`, suspending until the response arrives.
    package func perform(_ request: HTTPRequest) async throws -> HTTPResponse {
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
    package func close() async {
        let wait: Bool = state.withLock { state in
            state.closed = true
            wake(state)
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
    package func shutdown() {
        state.withLock { state in
            state.closed = true
            wake(state)
        }
    }

    /// Wakes the loop thread from `curl_multi_poll`. Called with the lock held: the loop thread takes the handle out
    /// of `state` under the same lock before cleaning it up.
    private func wake(_ state: borrowing State) {
        if let multi = state.multi { operations.multiWakeup(multi) }
    }

    /// Idle connections kept open for reuse (`CURLMOPT_MAXCONNECTS`).
    static let maximumIdleConnections = 64

    private static var closedError: ConveyorError { ConveyorError(.closed, "the SQS provider has been closed") }

    private func submit(_ transfer: Transfer) {
        _ = Self.globalInit
        enum Action { case none, fail(any Error), start(UnsafeMutableRawPointer) }
        let action: Action = state.withLock { state in
            if state.closed { return .fail(Self.closedError) }
            if !state.started {
                guard let multi = operations.multiInit() else {
                    return .fail(HTTPTransportError(
                        code: HTTPTransportError.notStarted,
                        message: "could not create a libcurl multi handle (curl_multi_init failed; out of memory?)",
                        timedOut: false
                    ))
                }
                // Keep up to 64 idle connections: libcurl's default cache (4 × the easy handles attached at the
                // moment) shrinks whenever fewer transfers run, closing connections a later burst must open again,
                // each with a TLS handshake for https.
                _ = conveyor_curl_multi_setopt_long(multi, CURLMOPT_MAXCONNECTS, Self.maximumIdleConnections)
                state.multi = multi
                state.started = true
                state.adds.append(transfer)
                return .start(multi)
            }
            state.adds.append(transfer)
            wake(state)
            return .none
        }
        switch action {
        case .none:
            break
        case .fail(let error):
            transfer.complete(.failure(error))
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
            wake(state)
        }
    }

    // MARK: - Loop thread

    /// The loop: takes new transfers and cancellations from other threads, drives libcurl, completes finished
    /// transfers, then sleeps in `curl_multi_poll` until woken or for at most a second. Returns after tearing down
    /// on close.
    private func run(multi: UnsafeMutableRawPointer) {
        var handles = EasyHandles()
        while true {
            let work = takeWork()
            if work.closed {
                tearDown(multi: multi, handles: handles, unstarted: work.adds)
                finish()
                return
            }
            for transfer in work.adds {
                start(transfer, multi: multi, handles: &handles)
            }
            for transfer in work.cancels {
                cancel(transfer, multi: multi, handles: &handles)
            }
            var running: Int32 = 0
            curl_multi_perform(multi, &running)
            completeFinished(multi: multi, handles: &handles)
            curl_multi_poll(multi, nil, 0, 1000, nil)
        }
    }

    /// What other threads handed over since the last turn.
    private struct Work {
        var adds: Deque<Transfer>
        var cancels: [Transfer]
        var closed: Bool
    }

    /// Takes the queued transfers and cancellations. Once closed, the handle is taken out of the shared state, so
    /// that no other thread can wake it while it is cleaned up.
    private func takeWork() -> Work {
        state.withLock { state in
            let work = Work(adds: state.adds, cancels: state.cancels, closed: state.closed)
            state.adds.removeAll()
            state.cancels.removeAll()
            if state.closed { state.multi = nil }
            return work
        }
    }

    /// Fails the transfers not yet started and those in flight with ``ConveyorError/Code/closed``, then frees every
    /// easy handle and the multi handle.
    private func tearDown(multi: UnsafeMutableRawPointer, handles: EasyHandles, unstarted: Deque<Transfer>) {
        for transfer in unstarted {
            transfer.complete(.failure(Self.closedError))
        }
        for (easy, transfer) in handles.active {
            curl_multi_remove_handle(multi, easy)
            curl_easy_cleanup(easy)
            transfer.cleanup()
            transfer.complete(.failure(Self.closedError))
        }
        for easy in handles.idle { curl_easy_cleanup(easy) }
        operations.multiCleanup(multi)
    }

    /// Marks the loop finished and resumes the callers waiting in ``close()``.
    private func finish() {
        let waiters: [CheckedContinuation<Void, Never>] = state.withLock { state in
            state.finished = true
            let waiters = state.stopped
            state.stopped.removeAll()
            return waiters
        }
        for waiter in waiters { waiter.resume() }
    }

    /// Aborts `transfer` if it is still in flight, keeping its easy handle for reuse, and fails it with
    /// `CancellationError`.
    private func cancel(_ transfer: Transfer, multi: UnsafeMutableRawPointer, handles: inout EasyHandles) {
        guard let easy = transfer.easy, handles.active[easy] === transfer else { return }
        handles.active[easy] = nil
        curl_multi_remove_handle(multi, easy)
        curl_easy_reset(easy)
        handles.idle.append(easy)
        transfer.cleanup()
        transfer.complete(.failure(CancellationError()))
    }

    /// Completes every transfer libcurl reports done, with its response or its transport error, and keeps up to
    /// 64 of their easy handles for reuse.
    private func completeFinished(multi: UnsafeMutableRawPointer, handles: inout EasyHandles) {
        var remaining: Int32 = 0
        while let message = curl_multi_info_read(multi, &remaining) {
            guard message.pointee.msg == CURLMSG_DONE, let easy = message.pointee.easy_handle else { continue }
            let code = message.pointee.data.result
            guard let transfer = handles.active.removeValue(forKey: easy) else { continue }
            var connects = 0
            conveyor_curl_easy_getinfo_long(easy, CURLINFO_NUM_CONNECTS, &connects)
            counters.record(connections: connects)
            curl_multi_remove_handle(multi, easy)
            let result: Result<HTTPResponse, any Error>
            if code == CURLE_OK {
                var status = 0
                conveyor_curl_easy_getinfo_long(easy, CURLINFO_RESPONSE_CODE, &status)
                result = .success(HTTPResponse(status: status, headers: transfer.responseHeaders, body: transfer.responseBody))
            } else {
                var text = transfer.detailedError ?? String(cString: curl_easy_strerror(code))
                // libcurl names the proxy host in its messages, not its password; scrub the user information anyway,
                // so that no future message can carry it.
                if case .through(let proxy) = transfer.request.proxy, let secret = ProxySettings.userInformation(of: proxy) {
                    text = text.replacingOccurrences(of: secret, with: "***")
                }
                result = .failure(HTTPTransportError(code: Int(code.rawValue), message: text, timedOut: code == CURLE_OPERATION_TIMEDOUT))
            }
            curl_easy_reset(easy)
            if handles.idle.count < 64 { handles.idle.append(easy) } else { curl_easy_cleanup(easy) }
            transfer.cleanup()
            transfer.complete(result)
        }
    }

    /// Sets `transfer` up on an easy handle and adds it to `multi`; completes it with an error when that fails.
    private func start(_ transfer: Transfer, multi: UnsafeMutableRawPointer, handles: inout EasyHandles) {
        if transfer.isCancelRequested {
            transfer.complete(.failure(CancellationError()))
            return
        }
        guard let easy = handles.idle.popLast() ?? operations.easyInit() else {
            transfer.complete(.failure(HTTPTransportError(
                code: HTTPTransportError.notStarted,
                message: "could not create a libcurl easy handle (curl_easy_init failed; out of memory?)",
                timedOut: false
            )))
            return
        }
        if let error = transfer.configure(easy) {
            curl_easy_reset(easy)
            handles.idle.append(easy)
            transfer.cleanup()
            transfer.complete(.failure(error))
            return
        }
        let added = operations.multiAddHandle(multi, easy)
        guard added == CURLM_OK else {
            // Not in the multi handle, so never performed: release it rather than reuse a handle libcurl refused.
            curl_easy_cleanup(easy)
            transfer.cleanup()
            transfer.complete(.failure(HTTPTransportError(
                code: HTTPTransportError.notStarted,
                message: "could not start the HTTP transfer: curl_multi_add_handle failed (\(String(cString: curl_multi_strerror(added))))",
                timedOut: false
            )))
            return
        }
        handles.active[easy] = transfer
    }
}

/// The easy handles the loop thread owns: those in the multi handle, each with its transfer, and reset ones kept
/// for reuse.
private struct EasyHandles {
    var active: [UnsafeMutableRawPointer: Transfer] = [:]
    var idle: [UnsafeMutableRawPointer] = []
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
    /// libcurl's detailed message of a failure (`CURLOPT_ERRORBUFFER`, 256 bytes): "SSL certificate problem:
    /// self-signed certificate" where `curl_easy_strerror` only says "SSL peer certificate ... was not OK".
    let errorBuffer: UnsafeMutablePointer<CChar> = {
        let buffer = UnsafeMutablePointer<CChar>.allocate(capacity: 256)
        buffer.initialize(repeating: 0, count: 256)
        return buffer
    }()

    init(request: HTTPRequest) {
        self.request = request
    }

    deinit {
        errorBuffer.deallocate()
    }

    /// The detailed failure message, if libcurl wrote one.
    var detailedError: String? {
        errorBuffer[0] == 0 ? nil : String(cString: errorBuffer)
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
        ok = ok && conveyor_curl_easy_setopt_pointer(easy, CURLOPT_ERRORBUFFER, UnsafeRawPointer(errorBuffer)) == CURLE_OK
        set(CURLOPT_SSL_VERIFYPEER, 1)
        set(CURLOPT_SSL_VERIFYHOST, 2)
        set(CURLOPT_TCP_KEEPALIVE, 1)
        set(CURLOPT_TCP_NODELAY, 1)
        switch request.proxy {
        case .direct:
            ok = ok && conveyor_curl_easy_bypass_proxy(easy) == CURLE_OK
        case .through(let url):
            url.withCString { ok = ok && conveyor_curl_easy_use_proxy(easy, $0) == CURLE_OK }
        }
        if let ca = request.caBundlePath {
            ca.withCString { ok = ok && conveyor_curl_easy_setopt_pointer(easy, CURLOPT_CAINFO, $0) == CURLE_OK }
        }
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
        return ok ? nil : HTTPTransportError(code: HTTPTransportError.notStarted, message: "could not configure the HTTP request for \(request.method)", timedOut: false)
    }

    /// `d` in whole milliseconds, at least 1 (curl reads 0 as no timeout); saturating, so no timeout can trap.
    private static func milliseconds(_ d: Duration) -> Int {
        max(1, Int(d.nanoseconds / 1_000_000))
    }
}

/// How many transfers a ``CurlMultiLoop`` finished and how many new connections (each with its TLS handshake for
/// `https`) libcurl opened for them (`CURLINFO_NUM_CONNECTS`): with connection reuse, far fewer connections.
package final class TransferCounters: Sendable {
    private let transfers = Atomic<Int>(0)
    private let connections = Atomic<Int>(0)

    func record(connections opened: Int) {
        transfers.add(1, ordering: .relaxed)
        connections.add(max(0, opened), ordering: .relaxed)
    }

    /// Transfers finished (successfully or not).
    package var finishedTransfers: Int { transfers.load(ordering: .relaxed) }
    /// Connections opened.
    package var openedConnections: Int { connections.load(ordering: .relaxed) }
}
