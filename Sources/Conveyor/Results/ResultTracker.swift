import Foundation
import Logging
import ServiceLifecycle
import Synchronization

/// Receives the outcomes and events of the jobs a process enqueued with tracking, through one reply queue shared by
/// every tracked job of the tracker (see ``ConveyorClient/enqueue(_:_:options:tracking:)``).
///
/// The reply queue is created on first use with ``ReplyingProvider/createReplyQueue(named:)``, and one task
/// long-polls it until ``close()``; each reply goes to the handles waiting for its job, duplicates (a job retried,
/// redelivered or run twice) are dropped by job id, and replies for jobs this tracker does not know are dropped.
/// Nothing polls on a timer: a waiting handle costs no broker request.
///
/// Limits: the tracker lives in its process. A process that restarts loses the results it was waiting for (the jobs
/// still run, and their replies go to a reply queue nobody reads, which the broker then removes); when the outcome
/// must survive a restart, let the job enqueue a follow-up job (or write its result where it belongs) instead of
/// awaiting it. Outcomes that came but were not asked for are kept for the ``Configuration/retainedOutcomes`` most
/// recent jobs.
///
/// A tracker is a `Service`: run it in your `ServiceGroup` so that graceful shutdown closes it (deleting its reply
/// queue), or call ``close()``.
public final class ResultTracker: Service, Sendable {
    /// How a tracker works.
    public struct Configuration: Sendable {
        /// Final outcomes kept for handles that ask after they came (the oldest are forgotten first). Default 10,000.
        public var retainedOutcomes: Int
        /// The start of the reply queue's name; the provider adds a unique suffix. Default `"conveyor-replies"`.
        public var replyQueuePrefix: String
        /// The longest wait of one receive on the reply queue (a long poll). Default 20 s.
        public var receiveWait: Duration

        /// Creates a configuration with the documented defaults.
        public init(retainedOutcomes: Int = 10_000, replyQueuePrefix: String = "conveyor-replies", receiveWait: Duration = .seconds(20)) {
            self.retainedOutcomes = retainedOutcomes
            self.replyQueuePrefix = replyQueuePrefix
            self.receiveWait = receiveWait
        }
    }

    private enum Channel {
        case idle
        case opening([CheckedContinuation<String, any Error>])
        case open(address: String, reader: Task<Void, Never>)
        case closed
    }

    /// The provider replies come through.
    public let provider: any QueueProvider
    /// The configuration in use.
    public let configuration: Configuration
    private let logger: Logger
    private let state: Mutex<ResultTrackerState>
    private let channel = Mutex<Channel>(.idle)
    /// The task sleeping until the earliest deadline of the waiters with a timeout (see ``ResultTrackerState/Timer``).
    /// Generation `UInt64.max` once closed: a timer armed after that cancels itself.
    private let timer = Mutex<(generation: UInt64, task: Task<Void, Never>?)>((0, nil))

    /// Creates a tracker; nothing is created on the broker until a job is enqueued with tracking.
    public init(provider: any QueueProvider, configuration: Configuration = .init(), logger: Logger = Logger(label: "conveyor.results")) {
        self.provider = provider
        self.configuration = configuration
        self.logger = logger
        self.state = Mutex(ResultTrackerState(retainedOutcomes: configuration.retainedOutcomes))
    }

    /// Waits for graceful shutdown, then closes the tracker.
    public func run() async throws {
        try? await gracefulShutdown()
        await close()
    }

    /// Stops receiving, deletes the reply queue, and fails every waiting handle with ``ConveyorError/Code/closed``.
    public func close() async {
        let previous = channel.withLock { channel in
            defer { channel = .closed }
            return channel
        }
        state.withLock { $0.close(ConveyorError(.closed, "the result tracker was closed; the jobs go on")) }.run()
        stopTimer()
        switch previous {
        case .open(let address, let reader):
            reader.cancel()
            _ = await reader.value
            do {
                try await provider.replying?.deleteReplyQueue(address)
            } catch {
                logger.debug("could not delete the reply queue", metadata: ["conveyor.queue": "\(address)", "error.message": "\(error)"])
            }
        case .opening(let waiters):
            for waiter in waiters { waiter.resume(throwing: ConveyorError(.closed, "the result tracker was closed")) }
        case .idle, .closed:
            break
        }
    }

    /// Jobs tracked whose final outcome has not come yet.
    public var pendingCount: Int { state.withLock { $0.pendingCount } }

    // MARK: - Producer side (package)

    /// The error of tracking on a provider that is not a ``ReplyingProvider``.
    static func cannotCarryResults(_ provider: any QueueProvider) -> ConveyorError {
        ConveyorError(
            .unsupported,
            "the \(provider.name) provider cannot carry job results; use the memory, RabbitMQ or SQS provider to enqueue with tracking"
        )
    }

    /// The reply queue's address, creating the queue and starting its reader on first use.
    package func replyAddress() async throws -> String {
        guard let replying = provider.replying else { throw Self.cannotCarryResults(provider) }
        enum Step { case ready(String), wait, create, closed }
        let step: Step = channel.withLock { channel in
            switch channel {
            case .open(let address, _): return .ready(address)
            case .closed: return .closed
            case .opening: return .wait
            case .idle:
                channel = .opening([])
                return .create
            }
        }
        switch step {
        case .ready(let address): return address
        case .closed: throw ConveyorError(.closed, "the result tracker was closed")
        case .create: return try await open(replying).get()
        case .wait:
            return try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<String, any Error>) in
                let now: Result<String, any Error>? = channel.withLock { channel in
                    switch channel {
                    case .opening(var waiters):
                        waiters.append(continuation)
                        channel = .opening(waiters)
                        return nil
                    case .open(let address, _): return .success(address)
                    case .idle: return .failure(ConveyorError(.brokerError, "creating the reply queue failed; try again"))
                    case .closed: return .failure(ConveyorError(.closed, "the result tracker was closed"))
                    }
                }
                if let now { continuation.resume(with: now) }
            }
        }
    }

    /// Creates the reply queue and starts its reader; wakes every caller that waited for the address.
    private func open(_ replying: any ReplyingProvider) async -> Result<String, any Error> {
        let name = TemporaryQueueName.make(configuration.replyQueuePrefix)
        let result: Result<String, any Error>
        do {
            result = .success(try await replying.createReplyQueue(named: name))
        } catch {
            result = .failure(error)
        }
        var orphaned = false
        let waiters: [CheckedContinuation<String, any Error>] = channel.withLock { channel in
            guard case .opening(let waiters) = channel else {
                orphaned = true  // closed meanwhile
                return []
            }
            switch result {
            case .success(let address):
                // The reader lives until close() cancels it (or the provider closes).
                channel = .open(address: address, reader: Task { await self.read(address) })
            case .failure:
                channel = .idle  // the next tracked enqueue tries again
            }
            return waiters
        }
        if case .success(let address) = result {
            if orphaned {
                try? await replying.deleteReplyQueue(address)
                return .failure(ConveyorError(.closed, "the result tracker was closed"))
            }
            logger.debug("reply queue created", metadata: ["conveyor.queue": "\(address)"])
        }
        for waiter in waiters { waiter.resume(with: result) }
        return result
    }

    /// Starts tracking `ids`, before they are sent.
    package func track(_ ids: [JobID]) {
        state.withLock { $0.track(ids) }
    }

    /// Stops tracking `ids`, whose enqueue failed.
    package func untrack(_ ids: [JobID], error: any Error) {
        state.withLock { $0.untrack(ids, error: error) }.run()
    }

    /// The final event of `id`: at once when it came already; otherwise when it comes, until `timeout` (then
    /// ``ConveyorError/Code/timeout``) or the caller's cancellation (`CancellationError`). Either only stops the
    /// waiting: the job goes on.
    ///
    /// Timeouts cost no task each: one timer per tracker sleeps until the earliest deadline of its waiters.
    package func finalEvent(for id: JobID, timeout: Duration?) async throws -> JobEvent {
        let token = state.withLock { $0.makeToken() }
        return try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (waiter: ResultTrackerState.Waiter) in
                run(state.withLock { $0.wait(for: id, token: token, timeout: timeout, waiter) })
                // Cancelled before the waiter was registered: the handler below found nothing to resume.
                if Task.isCancelled {
                    state.withLock { $0.stopWaiting(for: id, token: token, error: CancellationError()) }.run()
                }
            }
        } onCancel: {
            state.withLock { $0.stopWaiting(for: id, token: token, error: CancellationError()) }.run()
        }
    }

    /// Runs `actions`, starting the timer they arm (and cancelling the one it supersedes).
    private func run(_ actions: ResultTrackerState.Actions) {
        actions.run()
        guard let timer = actions.arm else { return }
        let sleeping = Task { [weak self] in
            do { try await Task.sleep(until: timer.at, clock: .continuous) } catch { return }
            guard let self else { return }
            self.run(self.state.withLock { $0.expire(now: .now, timer: timer) })
        }
        // Two callers may arm at once: the later generation is the armed one, whatever order they get here in.
        let superseded = self.timer.withLock { current -> Task<Void, Never>? in
            if current.generation > timer.generation { return sleeping }
            defer { current = (timer.generation, sleeping) }
            return current.task
        }
        superseded?.cancel()
    }

    /// Cancels the timer for good (the tracker or its provider closed).
    private func stopTimer() {
        timer.withLock { current -> Task<Void, Never>? in
            defer { current = (.max, nil) }
            return current.task
        }?.cancel()
    }

    /// `id`'s events, from the first one received (up to ``ResultTrackerState/maximumHistory``); the sequence ends
    /// after the final event.
    package func events(for id: JobID) -> AsyncStream<JobEvent> {
        AsyncStream(bufferingPolicy: .unbounded) { continuation in
            let token = state.withLock { $0.makeToken() }
            continuation.onTermination = { [self] _ in self.state.withLock { $0.unsubscribe(from: id, token: token) } }
            state.withLock { $0.subscribe(to: id, token: token, continuation) }.run()
        }
    }

    // MARK: - Reader

    /// Long-polls the reply queue until cancelled or the provider closes.
    private func read(_ address: String) async {
        let reader = TemporaryQueueReader(
            provider: provider, address: address, wait: configuration.receiveWait, what: "replies", logger: logger,
            refresh: { [provider] in try await provider.replying?.refreshReplyQueue(address) },
            retryDelay: { failures in .milliseconds(min(5_000, 100 << min(failures, 6))) }
        )
        let closed = await reader.run { messages in
            for message in messages { deliver(message) }
        }
        if closed != nil {
            state.withLock { $0.close(ConveyorError(.closed, "the provider was closed; the jobs go on")) }.run()
            stopTimer()
        }
    }

    private func deliver(_ message: ReceivedMessage) {
        let event: JobEvent
        do {
            let envelope = try message.envelope.get()
            guard envelope.task == JobEvent.replyTask else {
                throw ConveyorError(.malformedEnvelope, "task \(envelope.task) is not \(JobEvent.replyTask)")
            }
            event = try JobEvent(json: envelope.payload)
        } catch {
            logger.debug("dropped a message of the reply queue that is not a reply", metadata: [
                "conveyor.queue": "\(message.queue)", "error.message": "\(error)",
            ])
            return
        }
        let (delivery, actions) = state.withLock { $0.deliver(event) }
        actions.run()
        if delivery != .delivered {
            logger.trace("reply dropped", metadata: ["job.id": "\(event.jobID)", "conveyor.reply": "\(delivery)"])
        }
    }
}
