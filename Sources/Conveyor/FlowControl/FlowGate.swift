import Logging
import Synchronization

/// The flow limits of one worker run: before a job of a limited task starts, it must get a permit
/// (``TaskOptions/globalConcurrency``) and a token (``TaskOptions/rateLimit``), counted per task or per the job's
/// limit key (``Envelope/HeaderKey/limitKey``); a job that gets none within ``admissionWait`` is sent back with a
/// short, jittered delay, without counting an attempt.
///
/// A task without limits costs nothing here: ``limits(_:)`` is false and no broker request is made.
final class FlowGate: Sendable {
    /// What a job gets before it runs.
    enum Admission: Sendable {
        /// Run it; give `lease` back with ``FlowGate/release(_:)`` when it ends.
        case admitted(Lease?)
        /// Send it back to run after this delay; give back `release` (a permit taken before the token was missing).
        case deferred(Duration, reason: String, release: Lease?)
    }

    /// A held permit.
    struct Lease: Sendable {
        let id: Int
        let pool: PermitPool
        let permit: ReceivedMessage
    }

    /// Longest a job waits in its executor slot for a permit or token before it is sent back.
    static let admissionWait: Duration = .seconds(2)
    /// Most limit keys of one kind a worker keeps state for; beyond, idle ones are forgotten (their broker queues
    /// stay).
    static let maximumKeys = 1_000

    /// Which tasks have which limits (from the worker's options).
    private let options: [String: TaskOptions]
    private let concurrency: Int
    /// Most jobs of one limit that wait in executor slots for a permit or token; the others are sent back at once,
    /// so that a limited task cannot fill every slot and hold up the other tasks of its queue.
    let maximumWaiters: Int
    let provider: any QueueProvider
    let logger: Logger

    private struct State {
        var pools: [LimitID: PermitPool] = [:]
        var tokenQueues: [LimitID: TokenQueue] = [:]
        var buckets: [LimitID: LocalTokenBucket] = [:]
        /// Jobs waiting in executor slots, per limit and kind (permit, token).
        var waiting: [WaitID: Int] = [:]
        var nextLease = 0
        var leases: [Int: ReceivedMessage] = [:]
    }
    private let state = Mutex(State())
    /// Token queues made after ``run()`` started, for it to run their refill loops.
    private let newTokenQueues: AsyncStream<(LimitID, TokenQueue)>
    private let newTokenQueue: AsyncStream<(LimitID, TokenQueue)>.Continuation

    /// Jobs waiting for one kind of ticket of one limit.
    struct WaitID: Hashable, Sendable {
        let limit: LimitID
        let permit: Bool
    }

    /// One limit: a task, and a limit key or none.
    struct LimitID: Hashable, Sendable {
        let task: String
        let key: String?
    }

    init(entries: some Sequence<TaskEntry>, provider: any QueueProvider, concurrency: Int, logger: Logger) {
        var options: [String: TaskOptions] = [:]
        for entry in entries where entry.options.globalConcurrency != nil || entry.options.rateLimit != nil {
            options[entry.name] = entry.options
        }
        self.options = options
        self.concurrency = concurrency
        self.maximumWaiters = max(1, concurrency / 2)
        self.provider = provider
        self.logger = logger
        (newTokenQueues, newTokenQueue) = AsyncStream.makeStream(of: (LimitID, TokenQueue).self)
    }

    /// Whether any task has a limit.
    var isEmpty: Bool { options.isEmpty }

    /// Whether `task` has a limit (so ``admit(_:key:)`` may wait or defer).
    func limits(_ task: String) -> Bool { options[task] != nil }

    /// Gets what a job of `task` (with limit key `key`) needs to start: a permit, then a token.
    func admit(_ task: String, key: String?) async -> Admission {
        guard let options = options[task] else { return .admitted(nil) }
        let id = LimitID(task: task, key: key)
        var lease: Lease?
        if let limit = options.globalConcurrency {
            guard let pool = self.pool(id, limit: limit) else {
                return .deferred(Self.jitter(.seconds(1)), reason: "over \(Self.maximumKeys) limit keys in use", release: nil)
            }
            let wait = WaitID(limit: id, permit: true)
            guard enter(wait) else { return .deferred(Self.jitter(.seconds(1)), reason: "no permit free", release: nil) }
            let acquired: ReceivedMessage?
            do {
                acquired = try await pool.acquire(wait: Self.admissionWait)
                leave(wait)
            } catch {
                leave(wait)
                return .deferred(Self.jitter(.seconds(1)), reason: "could not read permits: \(error)", release: nil)
            }
            guard let permit = acquired else { return .deferred(Self.jitter(.seconds(1)), reason: "no permit free", release: nil) }
            let leaseID = state.withLock { state in
                state.nextLease += 1
                state.leases[state.nextLease] = permit
                return state.nextLease
            }
            lease = Lease(id: leaseID, pool: pool, permit: permit)
        }
        if let rate = options.rateLimit, let refusal = await takeToken(id, rate) {
            if let lease { forget(lease) }
            return .deferred(refusal.delay, reason: refusal.text, release: lease)
        }
        return .admitted(lease)
    }

    /// Counts a job waiting for `wait`'s kind of ticket, unless ``maximumWaiters`` already do.
    private func enter(_ wait: WaitID) -> Bool {
        state.withLock { state in
            guard state.waiting[wait, default: 0] < maximumWaiters else { return false }
            state.waiting[wait, default: 0] += 1
            return true
        }
    }

    private func leave(_ wait: WaitID) {
        state.withLock { state in
            let left = state.waiting[wait, default: 1] - 1
            state.waiting[wait] = left > 0 ? left : nil
        }
    }

    /// The permit pool of `id`; `nil` when ``maximumKeys`` pools are in use and none is idle.
    private func pool(_ id: LimitID, limit: Int) -> PermitPool? {
        state.withLock { state in
            if let pool = state.pools[id] { return pool }
            if state.pools.count >= Self.maximumKeys {
                let held = Set(state.leases.values.map(\.queue))
                guard let idle = state.pools.first(where: { key, pool in
                    state.waiting[WaitID(limit: key, permit: true)] == nil && !held.contains(pool.queues.permits)
                })?.key else { return nil }
                state.pools[idle] = nil
            }
            let pool = PermitPool(task: id.task, key: id.key, limit: limit, provider: provider, capacity: concurrency, logger: logger)
            state.pools[id] = pool
            return pool
        }
    }

    /// Takes a token of the rate limit `id`; `nil` when it got one.
    private func takeToken(_ id: LimitID, _ rate: RateLimit) async -> (delay: Duration, text: String)? {
        let wait = WaitID(limit: id, permit: false)
        if rate.scope == .global {
            let (queue, created) = state.withLock { state -> (TokenQueue?, Bool) in
                if let queue = state.tokenQueues[id] { return (queue, false) }
                guard state.tokenQueues.count < Self.maximumKeys else { return (nil, false) }
                let queue = TokenQueue(task: id.task, key: id.key, rate: rate, provider: provider, logger: logger)
                state.tokenQueues[id] = queue
                return (queue, true)
            }
            guard let queue else { return (Self.jitter(.seconds(1)), "over \(Self.maximumKeys) limit keys in use") }
            if created { newTokenQueue.yield((id, queue)) }
            guard enter(wait) else { return (Self.jitter(queue.untilNextSlot()), "no token left in this interval") }
            defer { leave(wait) }
            do {
                if try await queue.take(wait: min(Self.admissionWait, queue.untilNextSlot() + .milliseconds(200))) { return nil }
                return (Self.jitter(queue.untilNextSlot()), "no token left in this interval")
            } catch {
                return (Self.jitter(.seconds(1)), "could not read tokens: \(error)")
            }
        }
        let now = ContinuousClock.now
        state.withLock { state in
            guard state.buckets[id] == nil else { return }
            if state.buckets.count >= Self.maximumKeys,
                let idle = state.buckets.keys.first(where: { state.waiting[WaitID(limit: $0, permit: false)] == nil })
            {
                state.buckets[idle] = nil
            }
            state.buckets[id] = LocalTokenBucket(rate: rate, now: now)
        }
        guard enter(wait) else { return (Self.jitter(.seconds(1)), "no token left in this interval") }
        defer { leave(wait) }
        let deadline = now + Self.admissionWait
        while true {
            let now = ContinuousClock.now
            guard let wait = state.withLock({ $0.buckets[id]?.take(now: now) }) else { return nil }
            guard now + wait <= deadline else { return (Self.jitter(wait), "no token left in this interval") }
            do { try await Task.sleep(for: wait) } catch { return (.seconds(1), "the worker is stopping") }
        }
    }

    /// Stops heartbeating `lease`'s permit (it is about to be given back).
    private func forget(_ lease: Lease) {
        _ = state.withLock { $0.leases.removeValue(forKey: lease.id) }
    }

    /// Gives a permit back.
    func release(_ lease: Lease) async {
        forget(lease)
        await lease.pool.release(lease.permit)
    }

    /// A delay from `base` (at least 1 second, as brokers count delays in whole seconds) plus up to half of it more,
    /// so that jobs sent back together do not come back together.
    static func jitter(_ base: Duration) -> Duration {
        let floor = max(base, .seconds(1))
        return floor + floor * Double.random(in: 0...0.5)
    }

    /// Refills the global rate limits and keeps held permits invisible (SQS) until cancelled.
    func run() async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withTaskGroup(of: Void.self) { refills in
                    for await (id, queue) in self.newTokenQueues {
                        refills.addTask {
                            await queue.refillLoop()
                            // Idle (or cancelled): forgotten, so that the next job of the limit starts a new loop.
                            self.state.withLock { state in
                                if state.tokenQueues[id] === queue { state.tokenQueues[id] = nil }
                            }
                        }
                    }
                    refills.cancelAll()
                }
            }
            if provider.capabilities.visibilityTimeout, options.values.contains(where: { $0.globalConcurrency != nil }) {
                group.addTask { await self.heartbeatPermits() }
            }
            // Cancellation ends the stream of new token queues, and with it their refill loops.
            await withTaskCancellationHandler {
                await group.next()
            } onCancel: {
                self.newTokenQueue.finish()
            }
            group.cancelAll()
        }
    }

    /// Extends the visibility of every held permit at 70 % of the permit queues' visibility timeout (read from the
    /// first permit queue used).
    private func heartbeatPermits() async {
        var timeout: Duration?
        while timeout == nil {
            do { try await Task.sleep(for: .milliseconds(500)) } catch { return }
            guard let queue = state.withLock({ $0.pools.values.first?.queues.permits }) else { continue }
            if let read = try? await provider.visibilityTimeout(of: queue), read > .zero { timeout = read }
        }
        guard let timeout else { return }
        while true {
            do { try await Task.sleep(for: timeout * 0.7) } catch { return }
            let permits = state.withLock { Array($0.leases.values) }
            guard !permits.isEmpty else { continue }
            // Queue by queue, so that one failing does not leave the others' permits to expire.
            for (queue, messages) in Dictionary(grouping: permits, by: \.queue) {
                do {
                    try await provider.extendVisibility(messages, by: timeout)
                } catch {
                    logger.info(
                        "could not extend the visibility of held permits",
                        metadata: [
                            "conveyor.queue": .string(queue), "flow.permits": .stringConvertible(messages.count),
                            "error.message": .string(String(describing: error)),
                        ]
                    )
                }
            }
        }
    }
}
