import Foundation

extension ConveyorClient {
    /// Sets the global concurrency limit of `task` to `limit` (1...10,000) for every worker on this broker, without a
    /// restart: sends a new generation of `limit` permits to the task's permit queue and deletes the waiting permits of
    /// older generations. Workers adopt the new generation as they receive its permits (within seconds while jobs
    /// flow) and delete older permits from then on. Set while no job of the limit runs, the new limit holds at once;
    /// set while jobs run, the permits they hold come back when they end and may be taken by workers that have not yet
    /// seen the new generation, so for a while the old and new limits may add up. `key`: the limit of one limit key
    /// (``ConveyorTask/limitKey(for:)``), `nil` for the task's. See the Flow control article.
    public func setGlobalConcurrency(_ limit: Int, for task: String, key: String? = nil) async throws {
        guard (1...TaskOptions.maximumGlobalConcurrency).contains(limit) else {
            throw ConveyorError(.invalidParameter, "global concurrency of \(task) is \(limit); use 1...\(TaskOptions.maximumGlobalConcurrency)")
        }
        let queues = FlowQueues(task: task, key: key, provider: provider)
        let generation = FlowTicket.generationNow()
        try await PermitPool.seed(queues: queues, provider: provider, generation: generation, limit: limit, onlyIfUnseeded: false)
        // Delete the waiting permits of older generations: they were sent before this generation's, so they come out
        // of the queue first (RabbitMQ puts a permit handed back where it was). Hold this generation's meanwhile, so
        // that each is seen once, until all `limit` of them are held (or 5 s passed), and give them back at the end.
        var kept: [ReceivedMessage] = []
        /// Keeps this generation's permits and deletes the others.
        func sort(_ messages: [ReceivedMessage]) async throws {
            var stale: [ReceivedMessage] = []
            for message in messages {
                if let ticket = FlowTicket(message), ticket.generation >= generation { kept.append(message) } else { stale.append(message) }
            }
            if !stale.isEmpty { try await provider.acknowledge(stale) }
        }
        provider.prefetching?.prepareToReceive(from: queues.permits, capacity: limit)
        let deadline = ContinuousClock.now + .seconds(5)
        do {
            while kept.count < limit, ContinuousClock.now < deadline {
                try await sort(try await provider.receive(from: queues.permits, max: 10, wait: .milliseconds(500)))
            }
            // What was delivered after the last permit of this generation is older: delete it too.
            while true {
                let late = try await provider.receive(from: queues.permits, max: 10, wait: .zero)
                if late.isEmpty { break }
                try await sort(late)
            }
        } catch {
            await giveBack(kept)
            throw error
        }
        await provider.prefetching?.stopPrefetching(from: queues.permits)
        await giveBack(kept)
    }

    /// Sets the global rate limit of `task` for every worker on this broker, without a restart: sends one token of a
    /// new generation carrying `rate`; workers adopt it as its tokens spread (each worker that wins a refill slot
    /// refills with the newest rate it has seen), within a few intervals while jobs flow. `rate.scope` is ignored
    /// (a process-scoped limit lives in each worker's configuration). `key`: the limit of one limit key, `nil` for the
    /// task's.
    public func setRateLimit(_ rate: RateLimit, for task: String, key: String? = nil) async throws {
        let rate = try rate.validated()
        let queues = FlowQueues(task: task, key: key, provider: provider)
        try await TokenQueue.createQueues(queues, provider: provider)
        let token = FlowTicket.token(generation: FlowTicket.generationNow(), rate: rate)
        _ = try await provider.enqueue([token.message(deduplicationKey: nil, groupID: nil)], to: queues.tokens)
    }

    private func giveBack(_ messages: [ReceivedMessage]) async {
        guard !messages.isEmpty else { return }
        try? await PermitPool.handBack(messages, to: provider)
    }
}

extension ConveyorClient {
    /// Deletes the broker queues that hold the global limits of `task` (or of one of its limit keys): its permits,
    /// seed marker, tokens and refill claims. Workers that still run with a limit seed it again. Needs a provider
    /// that can delete queues (``QueueProvisioningProvider``); does nothing otherwise.
    public func removeLimits(for task: String, key: String? = nil) async throws {
        guard let provisioning = provider.provisioning else { return }
        let queues = FlowQueues(task: task, key: key, provider: provider)
        for queue in [queues.permits, queues.seeded, queues.tokens, queues.refills] {
            try await provisioning.deleteQueue(queue)
        }
    }
}

/// The broker queues of one task's (or limit key's) global limits and what waits in them
/// (``ConveyorClient/limitQueues(for:key:)``).
public struct LimitQueues: Sendable, Hashable {
    /// The queue of the permits of ``TaskOptions/globalConcurrency``.
    public var permitQueue: String
    /// Permits no worker holds (a push-consuming provider, RabbitMQ, counts those buffered for a waiting worker as
    /// held).
    public var permitsWaiting: Int
    /// Permits received and not handed back, where the broker counts them (SQS); `nil` where it does not.
    public var permitsHeld: Int?
    /// The queue of the tokens of a global ``RateLimit``.
    public var tokenQueue: String
    /// Tokens waiting to be taken.
    public var tokensWaiting: Int
}

extension ConveyorClient {
    /// The queues that hold the global limits of `task` (or of one limit key) and their counts; a queue that does not
    /// exist yet counts 0.
    public func limitQueues(for task: String, key: String? = nil) async throws -> LimitQueues {
        let queues = FlowQueues(task: task, key: key, provider: provider)
        func stats(_ queue: String) async throws -> QueueStats? {
            do {
                return try await provider.stats(of: queue)
            } catch let error as ConveyorError where error.code == .queueNotFound {
                return nil
            }
        }
        let permits = try await stats(queues.permits)
        let tokens = try await stats(queues.tokens)
        return LimitQueues(
            permitQueue: queues.permits, permitsWaiting: permits?.ready ?? 0,
            permitsHeld: provider.capabilities.visibilityTimeout ? (permits?.inFlight ?? 0) : nil,
            tokenQueue: queues.tokens, tokensWaiting: tokens?.ready ?? 0
        )
    }
}
