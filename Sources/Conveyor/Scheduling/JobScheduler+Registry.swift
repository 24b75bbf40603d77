import Foundation

// The registry: one `conveyor.schedule.definition` message per schedule in `registryQueue` (tombstones for removed
// ones). It is read like the dead-letter listing: every message is received (so it is invisible to other readers
// for a moment), then released at once. Concurrent readers may therefore miss entries; readers that act on what
// they read (claims of schedules this instance does not own) only ever drop a firing on a positive finding.
// Push-consuming providers (RabbitMQ) keep a queue's messages in their prefetch buffer once they read it; they are
// `SessionOpeningProvider`s, and each registry access then runs on its own short-lived session, whose close returns
// everything it did not acknowledge.

extension JobScheduler {
    /// The schedules in the registry (newest record per id, removed ones left out), sorted by id.
    public func registeredJobs() async throws -> [ScheduledJob] {
        var latest: [String: ScheduleRecord] = [:]
        for record in try await withRegistry({ try await self.registryRecords($0) }) { latest[record.definition.id] = record }
        return latest.values.filter { !$0.removed }.map(\.definition).sorted { $0.id < $1.id }
    }

    /// Sends the next firing of every schedule in the registry without taking ownership of it, so that a chain
    /// lost with its messages (a purged queue) starts again. Copies of firings that still exist are dropped by the
    /// claim queue. Returns the schedules resumed.
    @discardableResult
    public func resumeRegisteredJobs() async throws -> [ScheduledJob] {
        try await prepareQueues()
        let jobs = try await registeredJobs()
        let now = configuration.now()
        for job in jobs {
            if let slot = job.schedule.nextFireDate(after: now) { try await sendFiring(job, slot: slot, now: now) }
        }
        return jobs
    }

    /// Removes schedule `id`: this instance stops owning it, its registry records are deleted and a tombstone is
    /// left so that other instances drop its pending firings. Returns whether it was registered.
    ///
    /// An instance that defines the schedule in code keeps running it (its definition wins) and registers it again
    /// when it restarts: remove such schedules from the code.
    @discardableResult
    public func remove(_ id: String) async throws -> Bool {
        _ = local.withLock { $0.removeValue(forKey: id) }
        registrySnapshot.withLock { $0 = nil }
        try await prepareQueues()
        return try await withRegistry { try await self.remove(id, $0) }
    }

    private func remove(_ id: String, _ provider: any QueueProvider) async throws -> Bool {
        let (messages, records) = try await readRegistry(provider)
        var found: ScheduledJob?
        var keep: [ReceivedMessage] = []
        var delete: [ReceivedMessage] = []
        for (message, record) in zip(messages, records) {
            if let record, record.definition.id == id, !record.removed {
                found = record.definition
                delete.append(message)
            } else {
                keep.append(message)
            }
        }
        if let found {
            let tombstone = ScheduleRecord(definition: found, date: configuration.now(), removed: true)
            try await provider.enqueue(OutgoingMessage(envelope: registryEnvelope(tombstone)), to: configuration.registryQueue)
        }
        try await provider.acknowledge(delete)
        try await release(keep, provider)
        return found != nil
    }

    /// Adds `job` to the registry unless its newest record is the same version; older records of it are deleted.
    func putInRegistry(_ job: ScheduledJob) async throws {
        try await withRegistry { try await self.putInRegistry(job, $0) }
    }

    private func putInRegistry(_ job: ScheduledJob, _ provider: any QueueProvider) async throws {
        let (messages, records) = try await readRegistry(provider)
        var same: [ReceivedMessage] = []
        var others: [ReceivedMessage] = []
        var current = false
        for (message, record) in zip(messages, records) {
            if let record, record.definition.id == job.id {
                current = !record.removed && record.definition.version == job.version
                same.append(message)
            } else {
                others.append(message)
            }
        }
        if current {
            try await release(same + others, provider)
            return
        }
        try await provider.enqueue(OutgoingMessage(envelope: registryEnvelope(ScheduleRecord(definition: job, date: configuration.now()))), to: configuration.registryQueue)
        try await provider.acknowledge(same)
        try await release(others, provider)
    }

    /// Every record in the registry, oldest first.
    func registryRecords() async throws -> [ScheduleRecord] {
        try await withRegistry { try await self.registryRecords($0) }
    }

    private func registryRecords(_ provider: any QueueProvider) async throws -> [ScheduleRecord] {
        let (messages, records) = try await readRegistry(provider)
        try await release(messages, provider)
        return records.compactMap { $0 }.sorted { $0.date < $1.date }
    }

    /// Receives every registry message (left in flight: release or acknowledge them) with its record (nil when it
    /// is not a definition; those are released too).
    private func readRegistry(_ provider: any QueueProvider) async throws -> ([ReceivedMessage], [ScheduleRecord?]) {
        var messages: [ReceivedMessage] = []
        while true {
            let batch = try await provider.receive(from: configuration.registryQueue, max: 10, wait: .milliseconds(500))
            if batch.isEmpty { break }
            messages += batch
        }
        let records = messages.map { message -> ScheduleRecord? in
            guard let envelope = try? message.envelope.get(), envelope.task == Self.definitionTask else { return nil }
            return try? ScheduleRecord(decoding: envelope.payload)
        }
        return (messages, records)
    }

    private func release(_ messages: [ReceivedMessage], _ provider: any QueueProvider) async throws {
        for message in messages {
            try await provider.fail(message, reason: FailureReason(code: "released", message: "registry read"), retryAfter: .zero)
        }
    }

    /// Runs `body` with the registry's provider: a session of the scheduler's provider when it is a
    /// ``SessionOpeningProvider`` (or one from the deprecated `Configuration.registryProvider`), closed afterwards;
    /// else the scheduler's provider itself.
    private func withRegistry<T: Sendable>(_ body: @Sendable (any QueueProvider) async throws -> T) async throws -> T {
        let registry: any QueueProvider
        if let make = configuration._registrySession {
            registry = try make()
        } else if let sessions = provider.sessions {
            registry = try sessions.openSession()
        } else {
            return try await body(provider)
        }
        do {
            let result = try await body(registry)
            try await registry.close()
            return result
        } catch {
            try? await registry.close()
            throw error
        }
    }

    private func registryEnvelope(_ record: ScheduleRecord) -> Envelope {
        Envelope(task: Self.definitionTask, payload: record.encode(), createdAt: record.date)
    }
}
