import CRabbitMQ
import Conveyor
import Foundation
import Logging
import Synchronization

/// Connection parameters shared by the provider's connections.
struct AMQPSettings: Sendable {
    /// The nodes to connect to, in the order a connection tries them (shuffled by the provider, per connection).
    var nodes: [AMQPURL]
    var heartbeatSeconds: Int32
    var connectionName: String
    var connectTimeout: Duration
    var backoff: RabbitMQQueueProvider.ReconnectBackoff
    var caCertificatePath: String?
    var certificatePath: String? = nil
    var keyPath: String? = nil
    var verifiesPeer = true
    var authMechanism = RabbitMQQueueProvider.AuthMechanism.plain

    /// Every node, passwords masked, for errors raised away from the connection's thread.
    var redactedNodes: String { nodes.map(\.redacted).joined(separator: ",") }
}

/// The owner of a connection. Every method is called on the connection's thread.
protocol AMQPConnectionDelegate: AnyObject {
    /// The connection and its channels (1: main, 2: admin) just opened.
    func connectionDidOpen(_ connection: AMQPConnection) throws(ConveyorError)
    /// A method frame other than a close or (un)blocked arrived.
    func connection(_ connection: AMQPConnection, didReceive frame: amqp_frame_t) throws(ConveyorError)
    /// The broker closed channel 1 (close-ok already sent). Reopen it, or throw to drop the connection.
    func connection(_ connection: AMQPConnection, mainChannelDidClose error: ConveyorError) throws(ConveyorError)
    /// The connection was lost, or closed because the provider closes (`error.code == .closed`).
    func connectionDidClose(_ connection: AMQPConnection, error: ConveyorError)
    /// Called on every turn of the loop: after jobs ran, frames arrived or ``nextTickDeadline(_:)`` passed.
    func connectionTick(_ connection: AMQPConnection)
    /// When the next tick is needed if nothing else happens (nil: no deadline of the delegate's own).
    func nextTickDeadline(_ connection: AMQPConnection) -> ContinuousClock.Instant?
    /// The broker blocked (memory or disk alarm) or unblocked the connection.
    func connection(_ connection: AMQPConnection, blocked: Bool)
}

/// One AMQP connection and the one thread that owns it.
///
/// librabbitmq is blocking and not thread-safe, so every `amqp_*` call for this connection runs on its thread.
/// Callers submit jobs through a lock-protected queue and a wake-up pipe; async callers are resumed through
/// continuations (``perform(_:)``). Between jobs the thread reads frames without blocking and then sleeps in
/// `poll(2)` on the socket and the pipe until the delegate's next deadline, for at most ``maximumSleep`` (which
/// also keeps heartbeats flowing); an idle connection wakes a few times a second at most.
///
/// The thread starts on the first job and stops on ``shutdown()``. A lost connection is reopened with capped,
/// jittered backoff; jobs that need a connection wait for it ("park") unless the connection never opened, in
/// which case they fail with the connect error.
final class AMQPConnection: @unchecked Sendable {
    typealias Job = @Sendable (AMQPConnection) -> Void

    /// Longest sleep between two turns of the loop, in milliseconds (shorter with short heartbeats).
    static let maximumSleep: Int32 = 1000

    let role: String
    let settings: AMQPSettings
    let logger: Logger

    private struct Shared {
        var jobs: [Job] = []
        var started = false
        var closing = false
        var finished = false
        /// The thread is (about to be) asleep in `poll` and needs a byte on the pipe to wake.
        var sleeping = false
        var closeWaiters: [CheckedContinuation<Void, Never>] = []
    }

    private let shared = Mutex(Shared())
    private let wakeRead: Int32
    private let wakeWrite: Int32

    // MARK: Thread-confined state (read and written on the connection thread only).

    /// Set once before the first job; read on the thread.
    weak var delegate: (any AMQPConnectionDelegate)?
    /// The open connection, or nil.
    private(set) var state: amqp_connection_state_t?
    /// Increments on every successful open.
    private(set) var generation: UInt64 = 0
    /// Whether the connection opened at least once.
    private(set) var everConnected = false
    /// Why the last connect failed.
    private(set) var lastError: ConveyorError?
    /// The provider is closing: jobs must fail with `.closed`.
    private(set) var isClosing = false
    private var parked: [Job] = []
    private var failedAttempts = 0
    private var nextAttempt = ContinuousClock.now
    private var lostError: ConveyorError?
    private var deadState: amqp_connection_state_t?
    /// The node the next connect attempt goes to (an index into ``AMQPSettings/nodes``). Thread only.
    private var node = 0
    /// The node of the current (or last) attempt. Thread only.
    private var url: AMQPURL { settings.nodes[node] }

    init(role: String, settings: AMQPSettings, logger: Logger) {
        self.role = role
        self.settings = settings
        var logger = logger
        logger[metadataKey: "amqp.connection"] = .string(role)
        self.logger = logger
        var fds: [Int32] = [-1, -1]
        if pipe(&fds) == 0 {
            _ = fcntl(fds[0], F_SETFL, fcntl(fds[0], F_GETFL) | O_NONBLOCK)
            _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
        }
        wakeRead = fds[0]
        wakeWrite = fds[1]
    }

    deinit {
        if wakeRead >= 0 { close(wakeRead) }
        if wakeWrite >= 0 { close(wakeWrite) }
    }

    // MARK: Submitting work

    /// Queues `job` for the connection thread, starting the thread if needed. Returns false when the connection
    /// is closing (the job is not run).
    @discardableResult
    func submit(_ job: @escaping Job) -> Bool {
        enum Action { case refused, start, wake, none }
        let action: Action = shared.withLock { s in
            if s.closing { return .refused }
            s.jobs.append(job)
            if !s.started {
                s.started = true
                return .start
            }
            if s.sleeping {
                s.sleeping = false
                return .wake
            }
            return .none
        }
        switch action {
        case .refused:
            return false
        case .start:
            let thread = Thread { [self] in self.threadMain() }
            thread.name = "conveyor.amqp.\(role)"
            thread.start()
        case .wake:
            wake()
        case .none:
            break
        }
        return true
    }

    /// Runs `body` on the connection thread with the open connection and returns its result. Waits for a
    /// reconnect if the connection is down; fails at once if it never opened. Cancelling the caller resumes it
    /// with `CancellationError` (the job may still run).
    func perform<T: Sendable>(
        _ body: @escaping @Sendable (AMQPConnection, amqp_connection_state_t) throws(ConveyorError) -> T
    ) async throws -> T {
        let once = Once<T>()
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<T, any Error>) in
                once.install(continuation)
                let job: Job = { c in c.runWhenOpen(once, body) }
                if !submit(job) { once.resume(.failure(ConveyorError(.closed, "the RabbitMQ provider is closed"))) }
            }
        } onCancel: {
            once.resume(.failure(CancellationError()))
        }
    }

    private func runWhenOpen<T: Sendable>(
        _ once: Once<T>,
        _ body: @escaping @Sendable (AMQPConnection, amqp_connection_state_t) throws(ConveyorError) -> T
    ) {
        if once.isDone { return }
        switch availability(retrying: { c in c.runWhenOpen(once, body) }) {
        case .open(let s):
            do throws(ConveyorError) {
                once.resume(.success(try body(self, s)))
            } catch {
                once.resume(.failure(error))
            }
        case .parked:
            return
        case .failed(let error):
            once.resume(.failure(error))
        }
    }

    /// What a job that needs the connection can do now.
    enum Availability {
        case open(amqp_connection_state_t)
        case parked
        case failed(ConveyorError)
    }

    /// The open connection, or parks `job` until the next open, or the reason it cannot run. Thread only.
    func availability(retrying job: @escaping Job) -> Availability {
        if isClosing { return .failed(ConveyorError(.closed, "the RabbitMQ provider is closed")) }
        if let state { return .open(state) }
        if everConnected {
            parked.append(job)
            return .parked
        }
        return .failed(lastError ?? ConveyorError(.connectionFailed, "not connected to RabbitMQ at \(settings.redactedNodes)", retryable: true))
    }

    /// Stops the thread after closing the connection; pending jobs fail with `.closed`.
    func shutdown() async {
        let wait: Bool = shared.withLock { s in
            s.closing = true
            s.sleeping = false
            return s.started && !s.finished
        }
        guard wait else { return }
        wake()
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let done: Bool = shared.withLock { s in
                if s.finished { return true }
                s.closeWaiters.append(continuation)
                return false
            }
            if done { continuation.resume() }
        }
    }

    /// Wakes the thread from its `poll`.
    func wake() {
        var byte: UInt8 = 1
        _ = write(wakeWrite, &byte, 1)
    }

    // MARK: The loop

    private func threadMain() {
        while true {
            let (jobs, closing) = shared.withLock { s -> ([Job], Bool) in
                let jobs = s.jobs
                s.jobs.removeAll(keepingCapacity: true)
                return (jobs, s.closing)
            }
            if closing { isClosing = true }
            if state == nil && !isClosing {
                let due = everConnected ? ContinuousClock.now >= nextAttempt : !jobs.isEmpty
                if due { connect() }
            }
            for job in jobs {
                job(self)
                handleLost()
            }
            if isClosing { break }
            if state != nil {
                pump()
                handleLost()
            }
            delegate?.connectionTick(self)
            handleLost()
            sleepUntilWork()
        }
        let parkedJobs = parked
        parked = []
        for job in parkedJobs { job(self) }
        if let s = state {
            _ = amqp_connection_close(s, AMQP_REPLY_SUCCESS)
            amqp_destroy_connection(s)
            state = nil
        }
        if let s = deadState {
            amqp_destroy_connection(s)
            deadState = nil
        }
        delegate?.connectionDidClose(self, error: ConveyorError(.closed, "the RabbitMQ provider is closed"))
        let waiters = shared.withLock { s -> [CheckedContinuation<Void, Never>] in
            s.finished = true
            // Jobs submitted after the last drain see a closed connection.
            let late = s.jobs
            s.jobs = []
            for job in late { job(self) }
            let w = s.closeWaiters
            s.closeWaiters = []
            return w
        }
        conveyor_coalesced_writes_release()
        logger.debug("AMQP connection thread stopped")
        for w in waiters { w.resume() }
    }

    private func sleepUntilWork() {
        let hasJobs = shared.withLock { s -> Bool in
            if !s.jobs.isEmpty || s.closing { return true }
            s.sleeping = true
            return false
        }
        if hasJobs { return }
        defer { shared.withLock { $0.sleeping = false } }
        var timeout = AMQPConnection.maximumSleep
        var fds = [pollfd(fd: wakeRead, events: Int16(POLLIN), revents: 0)]
        if let s = state {
            if settings.heartbeatSeconds > 0 {
                // librabbitmq sends and checks heartbeats when it is called.
                timeout = min(timeout, settings.heartbeatSeconds * 250)
            }
            if let deadline = delegate?.nextTickDeadline(self) {
                let left = deadline - ContinuousClock.now
                timeout = min(timeout, Int32(clamping: Int64(max(0, (left.seconds * 1000).rounded(.up)))))
            }
            if amqp_frames_enqueued(s) != 0 || amqp_data_in_buffer(s) != 0 { timeout = 0 }
            let sock = amqp_get_sockfd(s)
            if sock >= 0 { fds.append(pollfd(fd: sock, events: Int16(POLLIN), revents: 0)) }
        } else if everConnected && !isClosing {
            let left = nextAttempt - ContinuousClock.now
            let ms = Int32(clamping: Int64(max(0, left.seconds * 1000)))
            timeout = min(max(ms, 1), 250)
        } else {
            timeout = 250
        }
        _ = poll(&fds, nfds_t(fds.count), timeout)
        if fds[0].revents != 0 {
            var buffer = [UInt8](repeating: 0, count: 256)
            while read(wakeRead, &buffer, buffer.count) > 0 {}
        }
    }

    // MARK: Connecting

    /// One connect attempt: a new connection state, its socket, login and channels. On success the connection is
    /// recorded as open; on failure the error is kept for waiting jobs and the next attempt is scheduled.
    private func connect() {
        // Before the first connection has ever opened, every node of a cluster is tried once in a row, so that a first
        // operation fails only when none answers; afterwards one node per attempt, with the reconnect backoff between.
        let tries = everConnected ? 1 : settings.nodes.count
        for _ in 0..<tries {
            guard let s = amqp_new_connection() else {
                lastError = ConveyorError(.connectionFailed, "cannot allocate an AMQP connection")
                return
            }
            do throws(ConveyorError) {
                try openSocket(s)
                try logIn(s)
                try openChannels(s)
            } catch {
                amqp_destroy_connection(s)
                lastError = error
                logger.debug("AMQP connect failed", metadata: ["amqp.url": "\(url.redacted)", "error.message": "\(error)"])
                nextNode()
                continue
            }
            didOpen(s)
            return
        }
        if tries > 1, let last = lastError {
            lastError = ConveyorError(last.code, "none of the \(tries) nodes answered (\(settings.redactedNodes)); the last: \(last.message)", retryable: last.isRetryable)
        }
        scheduleReconnect()
    }

    /// Creates the TCP or TLS socket of `s` and opens it, within the connect timeout (which also bounds the
    /// handshake).
    private func openSocket(_ s: amqp_connection_state_t) throws(ConveyorError) {
        let url = url
        var timeout = timeval(settings.connectTimeout)
        _ = amqp_set_handshake_timeout(s, &timeout)
        let socket = try makeSocket(s)
        let tracksVerifyErrors = url.tls && conveyor_tls_track_verify_errors(socket) != 0
        let rc = amqp_socket_open_noblock(socket, url.host, Int32(url.port), &timeout)
        guard rc == AMQP_STATUS_OK.rawValue else {
            let reason = tracksVerifyErrors ? conveyor_tls_verify_error().map { String(cString: $0) } : nil
            throw ConveyorError(
                .connectionFailed,
                "cannot connect to RabbitMQ at \(url.redacted): \(Self.describeOpenFailure(rc, host: url.host, verifyError: reason))",
                retryable: true
            )
        }
        // A publish's three frames in one TLS record and one write (see the shim).
        if url.tls { _ = conveyor_tls_coalesce_writes(socket) }
    }

    /// What failed when opening the socket, saying for TLS which check refused the broker and what to change.
    static func describeOpenFailure(_ rc: Int32, host: String, verifyError: String?) -> String {
        switch rc {
        case AMQP_STATUS_SSL_PEER_VERIFY_FAILED.rawValue:
            return "TLS: the broker's certificate was refused (\(verifyError ?? "verification failed")); trust its CA with tlsCACertificatePath or cacertfile in the URL, or renew the broker's certificate"
        case AMQP_STATUS_SSL_HOSTNAME_VERIFY_FAILED.rawValue:
            return "TLS: the broker's certificate is not for host \(host); connect with a host name the certificate names"
        case AMQP_STATUS_SSL_CONNECTION_FAILED.rawValue:
            return "TLS handshake failed (is it a TLS port? does the broker require a client certificate?): \(describe(rc))"
        default:
            return describe(rc)
        }
    }

    /// A new socket for `s`: TCP, or for `amqps://` TLS with peer and host name verification and the configured
    /// CA certificates.
    private func makeSocket(_ s: amqp_connection_state_t) throws(ConveyorError) -> OpaquePointer {
        let tls = url.tls
        guard tls else {
            guard let socket = amqp_tcp_socket_new(s) else {
                throw ConveyorError(.connectionFailed, "cannot create a TCP socket")
            }
            return socket
        }
        guard let socket = amqp_ssl_socket_new(s) else {
            throw ConveyorError(.connectionFailed, "cannot create a TLS socket")
        }
        let verify: amqp_boolean_t = settings.verifiesPeer ? 1 : 0
        amqp_ssl_socket_set_verify_peer(socket, verify)
        amqp_ssl_socket_set_verify_hostname(socket, verify)
        if let ca = settings.caCertificatePath {
            let rc = amqp_ssl_socket_set_cacert(socket, ca)
            if rc != AMQP_STATUS_OK.rawValue {
                throw ConveyorError(.invalidConfiguration, "cannot load the CA certificates at \(ca): \(AMQPConnection.describe(rc))")
            }
        }
        if let certificate = settings.certificatePath, let key = settings.keyPath {
            let rc = amqp_ssl_socket_set_key(socket, certificate, key)
            if rc != AMQP_STATUS_OK.rawValue {
                throw ConveyorError(
                    .invalidConfiguration,
                    "cannot load the client certificate \(certificate) with the key \(key) (both PEM, the key unencrypted and matching the certificate): \(AMQPConnection.describe(rc))"
                )
            }
        }
        return socket
    }

    /// Logs in with PLAIN on the URL's vhost, sending the client properties and asking for the configured
    /// heartbeat.
    private func logIn(_ s: amqp_connection_state_t) throws(ConveyorError) {
        let url = url
        // The arena owns the properties' C memory until login returns.
        let arena = AMQPArena()
        var properties = arena.table([
            ("connection_name", .string(settings.connectionName)),
            ("product", .string("Conveyor")),
            ("platform", .string("Swift")),
            ("capabilities", .table([
                ("consumer_cancel_notify", .bool(true)),
                ("connection.blocked", .bool(true)),
                ("publisher_confirms", .bool(true)),
                ("basic.nack", .bool(true)),
                ("authentication_failure_close", .bool(true)),
                ("exchange_exchange_bindings", .bool(true)),
            ])),
        ])
        let reply = settings.authMechanism == .external
            // The identity sent is the URL's user name (librabbitmq cannot send an empty one); RabbitMQ takes the
            // identity from the certificate and ignores it.
            ? conveyor_amqp_login_external(s, url.vhost, 0, 131_072, settings.heartbeatSeconds, &properties, url.user.isEmpty ? "conveyor" : url.user)
            : conveyor_amqp_login_plain(s, url.vhost, 0, 131_072, settings.heartbeatSeconds, &properties, url.user, url.password)
        try checkLogin(reply, s)
    }

    /// Opens channel 1 (main) and channel 2 (admin), then sets the timeout of later synchronous methods.
    private func openChannels(_ s: amqp_connection_state_t) throws(ConveyorError) {
        for channel: amqp_channel_t in [1, 2] {
            amqp_channel_open(s, channel)
            try checkHandshake(amqp_get_rpc_reply(s), s, "channel.open")
        }
        var rpcTimeout = timeval(tv_sec: 60, tv_usec: 0)
        _ = amqp_set_rpc_timeout(s, &rpcTimeout)
    }

    /// Records `s` as the open connection, tells the delegate, then runs the jobs that waited for it.
    private func didOpen(_ s: amqp_connection_state_t) {
        state = s
        generation += 1
        everConnected = true
        failedAttempts = 0
        lastError = nil
        logger.info("connected to RabbitMQ", metadata: ["amqp.url": "\(url.redacted)", "amqp.generation": "\(generation)"])
        do throws(ConveyorError) {
            try delegate?.connectionDidOpen(self)
        } catch {
            markLost(error)
            handleLost()
            return
        }
        let jobs = parked
        parked = []
        for job in jobs {
            job(self)
            handleLost()
        }
    }

    /// Goes on to the next node of a cluster (a single node stays).
    private func nextNode() {
        guard settings.nodes.count > 1 else { return }
        node = (node + 1) % settings.nodes.count
    }

    private func scheduleReconnect() {
        nextAttempt = ContinuousClock.now + settings.backoff.delay(attempt: failedAttempts)
        failedAttempts += 1
    }

    private func checkLogin(_ reply: amqp_rpc_reply_t, _ s: amqp_connection_state_t) throws(ConveyorError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let text = AMQPConnection.describe(reply.library_error)
            if reply.library_error == AMQP_STATUS_CONNECTION_CLOSED.rawValue || reply.library_error == AMQP_STATUS_SOCKET_CLOSED.rawValue {
                throw ConveyorError(
                    .accessDenied,
                    "RabbitMQ at \(url.redacted) closed the connection during login (\(text)): check the user name, password and vhost"
                )
            }
            throw ConveyorError(.connectionFailed, "login to RabbitMQ at \(url.redacted) failed: \(text)", retryable: true)
        default:
            try checkHandshake(reply, s, "login")
        }
    }

    private func checkHandshake(_ reply: amqp_rpc_reply_t, _ s: amqp_connection_state_t, _ what: String) throws(ConveyorError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            let (code, text) = AMQPConnection.closeReason(reply.reply)
            throw AMQPConnection.serverError(code: code, text: text, context: "\(what) on RabbitMQ at \(url.redacted)")
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            throw ConveyorError(.connectionFailed, "\(what) on RabbitMQ at \(url.redacted) failed: \(AMQPConnection.describe(reply.library_error))", retryable: true)
        default:
            throw ConveyorError(.connectionFailed, "\(what) on RabbitMQ at \(url.redacted) failed")
        }
    }

    // MARK: Losing the connection

    /// Marks the connection dead; it is torn down after the current step and reopened with backoff. Thread only.
    func markLost(_ error: ConveyorError) {
        guard let s = state else { return }
        if lostError == nil { lostError = error }
        deadState = s
        state = nil
    }

    private func handleLost() {
        guard let error = lostError else { return }
        lostError = nil
        if let s = deadState {
            amqp_destroy_connection(s)
            deadState = nil
        }
        scheduleReconnect()
        if !isClosing {
            logger.info("RabbitMQ connection lost; reconnecting", metadata: ["amqp.url": "\(url.redacted)", "error.message": "\(error)"])
        }
        nextNode()
        delegate?.connectionDidClose(self, error: error)
    }

    // MARK: Reading frames

    private func pump() {
        var frames = 0
        while let s = state {
            var frame = amqp_frame_t()
            var zero = timeval(tv_sec: 0, tv_usec: 0)
            let rc = amqp_simple_wait_frame_noblock(s, &frame, &zero)
            if rc == AMQP_STATUS_TIMEOUT.rawValue { break }
            guard rc == AMQP_STATUS_OK.rawValue else {
                markLost(ConveyorError(.connectionFailed, "connection to RabbitMQ lost: \(AMQPConnection.describe(rc))", retryable: true))
                return
            }
            dispatch(frame, s)
            if lostError != nil { return }
            frames += 1
            if frames >= 4096 { break }  // let queued jobs (acks, publishes) run
        }
        if let s = state { amqp_maybe_release_buffers(s) }
    }

    /// Handles a frame read outside ``pump()`` (e.g. while publishing). Thread only.
    func dispatch(_ frame: amqp_frame_t, _ s: amqp_connection_state_t) {
        guard frame.frame_type == UInt8(AMQP_FRAME_METHOD) else { return }
        let method = frame.payload.method
        switch method.id {
        case conveyor_method_connection_close:
            let (code, text) = AMQPConnection.closeReason(method)
            var ok = amqp_connection_close_ok_t()
            _ = amqp_send_method(s, 0, conveyor_method_connection_close_ok, &ok)
            markLost(AMQPConnection.serverError(code: code, text: text, context: "RabbitMQ closed the connection"))
        case conveyor_method_channel_close:
            let (code, text) = AMQPConnection.closeReason(method)
            var ok = amqp_channel_close_ok_t()
            _ = amqp_send_method(s, frame.channel, conveyor_method_channel_close_ok, &ok)
            let error = AMQPConnection.serverError(code: code, text: text, context: "RabbitMQ closed channel \(frame.channel)")
            if frame.channel == 1 {
                do throws(ConveyorError) {
                    try delegate?.connection(self, mainChannelDidClose: error)
                } catch {
                    markLost(error)
                }
            } else {
                reopenAdminChannel(s)
            }
        case conveyor_method_connection_blocked:
            let reason = method.decoded?.assumingMemoryBound(to: amqp_connection_blocked_t.self).pointee.reason.string ?? ""
            logger.info("RabbitMQ blocked the connection (resource alarm); publishing pauses until it is unblocked", metadata: ["amqp.reason": "\(reason)"])
            delegate?.connection(self, blocked: true)
        case conveyor_method_connection_unblocked:
            logger.info("RabbitMQ unblocked the connection; publishing resumes")
            delegate?.connection(self, blocked: false)
        default:
            do throws(ConveyorError) {
                try delegate?.connection(self, didReceive: frame)
            } catch {
                markLost(error)
            }
        }
    }

    private func reopenAdminChannel(_ s: amqp_connection_state_t) {
        amqp_channel_open(s, 2)
        let reply = amqp_get_rpc_reply(s)
        if reply.reply_type != AMQP_RESPONSE_NORMAL {
            markLost(ConveyorError(.connectionFailed, "cannot reopen the AMQP admin channel", retryable: true))
        }
    }

    // MARK: Synchronous methods

    /// Checks the reply of a synchronous method on `channel` (1 or 2). A channel-2 error reopens channel 2; a
    /// connection error or a channel-1 error drops the connection. Thread only.
    func check(_ reply: amqp_rpc_reply_t, channel: amqp_channel_t, _ what: @autoclosure () -> String) throws(ConveyorError) {
        switch reply.reply_type {
        case AMQP_RESPONSE_NORMAL:
            return
        case AMQP_RESPONSE_SERVER_EXCEPTION:
            let (code, text) = AMQPConnection.closeReason(reply.reply)
            let error = AMQPConnection.serverError(code: code, text: text, context: what())
            guard let s = state else { throw error }
            if reply.reply.id == conveyor_method_channel_close {
                var ok = amqp_channel_close_ok_t()
                _ = amqp_send_method(s, channel, conveyor_method_channel_close_ok, &ok)
                if channel == 2 {
                    reopenAdminChannel(s)
                } else {
                    markLost(error)
                }
            } else {
                var ok = amqp_connection_close_ok_t()
                _ = amqp_send_method(s, 0, conveyor_method_connection_close_ok, &ok)
                markLost(error)
            }
            throw error
        case AMQP_RESPONSE_LIBRARY_EXCEPTION:
            let error = ConveyorError(.connectionFailed, "\(what()) failed: \(AMQPConnection.describe(reply.library_error))", retryable: true)
            markLost(error)
            throw error
        default:
            let error = ConveyorError(.connectionFailed, "\(what()) failed: no reply", retryable: true)
            markLost(error)
            throw error
        }
    }

    /// Checks the status of an asynchronous method (publish, ack). Thread only.
    func check(status: Int32, _ what: @autoclosure () -> String) throws(ConveyorError) {
        guard status != AMQP_STATUS_OK.rawValue else { return }
        let error = ConveyorError(.connectionFailed, "\(what()) failed: \(AMQPConnection.describe(status))", retryable: true)
        markLost(error)
        throw error
    }

    // MARK: Error text

    static func describe(_ status: Int32) -> String {
        guard let text = amqp_error_string2(status) else { return "error \(status)" }
        return String(cString: text)
    }

    static func closeReason(_ method: amqp_method_t) -> (UInt16, String) {
        guard let decoded = method.decoded else { return (0, "") }
        switch method.id {
        case conveyor_method_connection_close:
            let m = decoded.assumingMemoryBound(to: amqp_connection_close_t.self).pointee
            return (m.reply_code, m.reply_text.string)
        case conveyor_method_channel_close:
            let m = decoded.assumingMemoryBound(to: amqp_channel_close_t.self).pointee
            return (m.reply_code, m.reply_text.string)
        default:
            return (0, "unexpected method 0x\(String(method.id, radix: 16))")
        }
    }

    static func serverError(code: UInt16, text: String, context: String) -> ConveyorError {
        let message = "\(context): \(text.isEmpty ? "reply code \(code)" : text)"
        switch code {
        case 404: return ConveyorError(.queueNotFound, message)
        case 403, 530: return ConveyorError(.accessDenied, message)
        case 406 where text.contains("'x-queue-type'"):
            return ConveyorError(.invalidParameter, message + " (the queue exists with another type: set Configuration.queueType, or the CLI's --queue-type, to match it)")
        case 406: return ConveyorError(.invalidParameter, message)
        case 320, 541: return ConveyorError(.connectionFailed, message, retryable: true)
        default: return ConveyorError(.brokerError, message, retryable: code == 0)
        }
    }
}

extension timeval {
    init(_ duration: Duration) {
        let (s, atto) = duration.components
        self.init(tv_sec: Int(s), tv_usec: Int(atto / 1_000_000_000_000))
    }
}
