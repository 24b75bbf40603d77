import Foundation
import Logging
import Tracing

/// Enqueues jobs on a ``QueueProvider``.
///
/// ```swift
/// let client = ConveyorClient(provider: provider)
/// let handle = try await client.enqueue(SendEmail.self, .init(to: "a@example.com", subject: "Hi"))
/// ```
///
/// A client is a cheap value; share it freely. Jobs enqueued from inside a handler inherit the running job's
/// correlation id (see ``JobContext/current``), and every enqueue injects the current trace context (W3C
/// `traceparent`) from the bootstrapped `InstrumentationSystem` into the envelope, under a producer span named
/// `conveyor.enqueue <task>`.
public struct ConveyorClient: Sendable {
    /// The provider jobs are sent to.
    public let provider: any QueueProvider
    /// The client's logger (debug level for each enqueue).
    public var logger: Logger
    /// Replaces the queue named `"default"`: jobs of tasks whose ``TaskOptions/queue`` is `"default"` (the
    /// default), and untyped jobs without a queue, go to this queue instead. A queue named in
    /// ``EnqueueOptions/queue`` or a task's own non-default queue always wins. `nil`: `"default"`.
    public var defaultQueue: String? {
        didSet { ProcessQueueDirectory.shared.noteDefaultQueue(defaultQueue) }
    }

    /// Receives the outcomes and events of the jobs this client enqueues with tracking (one reply queue for all of
    /// them, created on the first such enqueue). Copies of the client share it; run it in your `ServiceGroup`, or
    /// close it, to delete its reply queue at shutdown.
    public let results: ResultTracker

    private let encoder: JSONEncoder
    private let decoder: JSONDecoder

    /// Creates a client.
    ///
    /// - Parameters:
    ///   - provider: Where jobs are sent.
    ///   - logger: Logger for debug messages; defaults to a logger labelled `conveyor.client`.
    ///   - defaultQueue: Replaces the queue named `"default"` (see ``defaultQueue``).
    public init(
        provider: any QueueProvider,
        logger: Logger = Logger(label: "conveyor.client"),
        defaultQueue: String? = nil
    ) {
        self.provider = provider
        self.logger = logger
        self.defaultQueue = defaultQueue
        // So that a worker of this process does not report tasks on "default" as unconsumed.
        ProcessQueueDirectory.shared.noteDefaultQueue(defaultQueue)
        self.encoder = JSONEncoder()
        self.decoder = JSONDecoder()
        self.results = ResultTracker(provider: provider, logger: logger)
    }

    /// Enqueues one job of `task` with `input` and returns its handle.
    ///
    /// `options` override the task's ``ConveyorTask/options``. With the inline provider the job has already run
    /// when this returns: the handle carries its ``JobHandle/output`` and handler errors are rethrown here.
    ///
    /// Throws ``ConveyorError/Code/invalidConfiguration`` when the task's options are invalid and
    /// ``ConveyorError/Code/invalidParameter`` when `options` are (a priority outside 0...9, `maxAttempts` below
    /// 1, a run time after the year 9999), before anything is sent.
    @discardableResult
    public func enqueue<T: ConveyorTask>(
        _ task: T.Type,
        _ input: T.Input,
        options: EnqueueOptions = .init()
    ) async throws -> JobHandle<T> {
        try await enqueue(task, [input], options: options)[0]
    }

    /// Enqueues one job of `task` with `input`, asking for its outcome, and returns a handle to await it.
    ///
    /// ```swift
    /// let job = try await client.enqueue(Resize.self, input, tracking: .result)
    /// let output = try await job.result(timeout: .seconds(30))
    /// ```
    ///
    /// The worker sends the job's final outcome (and, with ``Tracking/events``, its started, progress and retrying
    /// events) to this client's reply queue (``results``), before it acknowledges the job; the handle gets exactly
    /// one outcome, whatever the retries and redeliveries. Needs a ``ReplyingProvider`` (memory, RabbitMQ, SQS) or
    /// the inline provider (the job has run when this returns); other providers throw
    /// ``ConveyorError/Code/unsupported``.
    public func enqueue<T: ConveyorTask>(
        _ task: T.Type,
        _ input: T.Input,
        options: EnqueueOptions = .init(),
        tracking: Tracking
    ) async throws -> TrackedJob<T> {
        try await enqueue(task, [input], options: options, tracking: tracking)[0]
    }

    /// Enqueues one job of `task` per input with tracking (see ``enqueue(_:_:options:tracking:)-(_,T.Input,_,_)``),
    /// and returns their handles in order.
    public func enqueue<T: ConveyorTask>(
        _ task: T.Type,
        _ inputs: [T.Input],
        options: EnqueueOptions = .init(),
        tracking: Tracking
    ) async throws -> [TrackedJob<T>] {
        guard !inputs.isEmpty else { return [] }
        if provider.replying == nil {
            // The inline provider has run the jobs when enqueue returns: their outcome is known.
            let handles = try await enqueue(task, inputs, options: options)
            return try handles.map { handle in
                guard let output = handle.output else { throw ResultTracker.cannotCarryResults(provider) }
                let bytes = (try? FastJSONEncoder.encode(output)) ?? (try? Array(encoder.encode(output))) ?? Array("null".utf8)
                let event = JobEvent(kind: .succeeded, jobID: handle.id, task: T.name, queue: handle.queue, attempt: 1, output: bytes)
                return TrackedJob(raw: TrackedRawJob(id: handle.id, queue: handle.queue, deduplicated: handle.deduplicated, tracker: nil, known: event))
            }
        }
        let handles = try await enqueue(task, inputs, options: try await replying(options, tracking))
        return handles.map {
            TrackedJob(raw: TrackedRawJob(id: $0.id, queue: $0.queue, deduplicated: $0.deduplicated, tracker: results))
        }
    }

    /// Enqueues one job of the task named `task` per JSON payload with tracking, without type checking (see
    /// ``enqueueRaw(task:payloads:options:)`` and ``enqueue(_:_:options:tracking:)-(_,T.Input,_,_)``).
    public func enqueueRaw(task: String, payloads: [[UInt8]], options: EnqueueOptions = .init(), tracking: Tracking) async throws -> [TrackedRawJob] {
        let options = try await replying(options, tracking)
        let sent = try await enqueueRaw(task: task, payloads: payloads, options: options)
        let queue = options.queue ?? defaultQueue ?? "default"
        return sent.map { TrackedRawJob(id: $0.jobID, queue: queue, deduplicated: $0.deduplicated, tracker: results) }
    }

    /// `options` with this client's reply queue (created on first use) as where outcomes go.
    private func replying(_ options: EnqueueOptions, _ tracking: Tracking) async throws -> EnqueueOptions {
        var options = options
        options.reply = EnqueueOptions.ReplyRequest(address: try await results.replyAddress(), events: tracking.events)
        return options
    }

    /// Enqueues one job of `task` per input, in one provider call where the broker allows, and returns their
    /// handles in order. Options apply to every job; ``EnqueueOptions/jobID`` and
    /// ``EnqueueOptions/deduplicationKey`` are refused for more than one input (they identify a single job).
    @discardableResult
    public func enqueue<T: ConveyorTask>(
        _ task: T.Type,
        _ inputs: [T.Input],
        options: EnqueueOptions = .init()
    ) async throws -> [JobHandle<T>] {
        guard !inputs.isEmpty else { return [] }
        let taskOptions = T.options
        try taskOptions.validate("task \"\(T.name)\"")
        var payloads: [[UInt8]] = []
        payloads.reserveCapacity(inputs.count)
        for input in inputs {
            // The fast encoder handles common shapes; when unsure it gives up and JSONEncoder decides (and words
            // the error).
            if let bytes = try? FastJSONEncoder.encode(input) {
                payloads.append(bytes)
                continue
            }
            do {
                payloads.append(Array(try encoder.encode(input)))
            } catch {
                throw ConveyorError(.payloadEncodingFailed, "\(T.name): input: \(describeCodingError(error))")
            }
        }
        let queue = options.queue ?? (taskOptions.queue == "default" ? (defaultQueue ?? "default") : taskOptions.queue)
        let results = try await send(
            task: T.name,
            payloads: payloads,
            limitKeys: options.limitKey == nil ? inputs.map { T.limitKey(for: $0) } : [],
            options: options,
            queue: queue,
            priority: options.priority ?? taskOptions.priority,
            maxAttempts: options.maxAttempts,
            groupID: options.groupID ?? taskOptions.groupID
        )
        var handles: [JobHandle<T>] = []
        handles.reserveCapacity(results.count)
        for result in results {
            var output: T.Output?
            if let bytes = result.output {
                do {
                    output = try decoder.decode(T.Output.self, from: Data(bytes))
                } catch {
                    throw ConveyorError(.payloadDecodingFailed, "\(T.name): output: \(describeCodingError(error))")
                }
            }
            handles.append(JobHandle(id: result.jobID, queue: queue, deduplicated: result.deduplicated, output: output))
        }
        return handles
    }

    /// Enqueues one job of the task named `task` with a JSON `payload`, without type checking (for command-line
    /// tools and producers that do not link the task's type). The payload must be one JSON value. Queue:
    /// ``EnqueueOptions/queue`` or ``defaultQueue`` or `"default"`.
    @discardableResult
    public func enqueueRaw(task: String, payload json: [UInt8], options: EnqueueOptions = .init()) async throws -> EnqueueResult {
        try await enqueueRaw(task: task, payloads: [json], options: options)[0]
    }

    /// Enqueues one job of the task named `task` per JSON payload, in one provider call (the provider splits it
    /// into broker batches), and returns the results in order. Options apply to every job;
    /// ``EnqueueOptions/jobID`` and ``EnqueueOptions/deduplicationKey`` are refused for more than one payload.
    @discardableResult
    public func enqueueRaw(task: String, payloads: [[UInt8]], options: EnqueueOptions = .init()) async throws -> [EnqueueResult] {
        guard !task.isEmpty else {
            throw ConveyorError(.invalidParameter, "the task name is empty")
        }
        guard !payloads.isEmpty else { return [] }
        for json in payloads {
            guard json.contains(where: { !($0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09) }) else {
                throw ConveyorError(.invalidParameter, "the payload of \(task) is empty; pass a JSON value such as {}")
            }
            guard (try? JSONSerialization.jsonObject(with: Data(json), options: [.fragmentsAllowed])) != nil else {
                throw ConveyorError(.invalidParameter, "the payload of \(task) is not valid JSON")
            }
        }
        return try await send(
            task: task,
            payloads: payloads,
            options: options,
            queue: options.queue ?? defaultQueue ?? "default",
            priority: options.priority ?? 0,
            maxAttempts: options.maxAttempts,
            groupID: options.groupID
        )
    }

    /// 9999-12-31T23:59:59.999Z in seconds since 1970: the latest time an envelope can carry (RFC 3339).
    private static let latestRunTime: Double = 253_402_300_799.999

    private func send(
        task: String,
        payloads: [[UInt8]],
        limitKeys: [String?] = [],
        options: EnqueueOptions,
        queue: String,
        priority: Int,
        maxAttempts: Int?,
        groupID: String?
    ) async throws -> [EnqueueResult] {
        if payloads.count > 1 {
            if options.jobID != nil {
                throw ConveyorError(.invalidParameter, "EnqueueOptions.jobID names one job; enqueue jobs one by one to give each an id")
            }
            if options.deduplicationKey != nil {
                throw ConveyorError(.invalidParameter, "EnqueueOptions.deduplicationKey names one job; enqueue jobs one by one to give each a key")
            }
        }
        // The task's options were checked by the typed enqueue; what is left comes from `options`.
        guard (0...9).contains(priority) else {
            throw ConveyorError(.invalidParameter, "EnqueueOptions.priority is \(priority); use 0 (lowest) to 9 (highest)")
        }
        if let maxAttempts, maxAttempts < 1 {
            throw ConveyorError(.invalidParameter, "EnqueueOptions.maxAttempts is \(maxAttempts); it must be at least 1")
        }
        for key in limitKeys + [options.limitKey] {
            if let key, key.utf8.count > 256 {
                throw ConveyorError(.invalidParameter, "the limit key of a job of \(task) has \(key.utf8.count) bytes; use at most 256")
            }
        }
        let now = Date()
        var delay: Duration = .zero
        if let runAt = options.runAt {
            // Checked before the conversion to milliseconds, which would trap for a date centuries ahead.
            guard !(runAt.timeIntervalSince1970 > Self.latestRunTime) else {
                throw ConveyorError(.invalidParameter, "EnqueueOptions.runAt \(runAt) is after the year 9999, the latest time a job can carry")
            }
            let seconds = runAt.timeIntervalSince(now)
            if seconds > 0 { delay = .milliseconds(Int64((seconds * 1000).rounded(.up))) }
        } else if let requested = options.delay, requested > .zero {
            guard requested.seconds <= Self.latestRunTime - now.timeIntervalSince1970 else {
                throw ConveyorError(.invalidParameter, "EnqueueOptions.delay \(requested) ends after the year 9999, the latest time a job can carry")
            }
            delay = requested
        }
        var notBefore: Date?
        if let cap = provider.capabilities.maximumNativeDelay, delay > cap {
            notBefore = now.addingTimeInterval(delay.seconds)
            delay = cap
        }
        let parentCorrelationID = options.correlationID ?? JobContext.current?.correlationID

        let tracer = InstrumentationSystem.tracer
        return try await tracer.withSpan("conveyor.enqueue \(task)", ofKind: .producer) { span in
            span.attributes["messaging.destination.name"] = queue
            span.attributes["messaging.system"] = provider.name
            span.attributes["messaging.batch.message_count"] = payloads.count
            var trace: [String: String] = [:]
            InstrumentationSystem.instrument.inject(span.context, into: &trace, using: TraceContextInjector())

            var messages: [OutgoingMessage] = []
            messages.reserveCapacity(payloads.count)
            let randomIDs = options.jobID == nil ? JobID.fastRandom(count: payloads.count) : []
            for (index, payload) in payloads.enumerated() {
                let id = options.jobID ?? randomIDs[index]
                var headers: [String: String] = notBefore == nil ? [:] : [Envelope.HeaderKey.hopDelay: String(delay.components.seconds * 1000)]
                if let key = options.limitKey ?? (index < limitKeys.count ? limitKeys[index] : nil) {
                    headers[Envelope.HeaderKey.limitKey] = key
                }
                let envelope = Envelope(
                    id: id,
                    task: task,
                    payload: payload,
                    createdAt: now,
                    correlationID: parentCorrelationID ?? id.rawValue,
                    deduplicationKey: options.deduplicationKey,
                    priority: priority,
                    maxAttempts: maxAttempts,
                    notBefore: notBefore,
                    traceContext: trace,
                    headers: headers,
                    replyTo: options.reply?.address,
                    replyEvents: options.reply?.events ?? false
                )
                messages.append(OutgoingMessage(envelope: envelope, delay: delay, groupID: groupID))
            }
            let results: [EnqueueResult]
            if options.reply != nil {
                // Tracked before they are sent: a fast worker's reply may come before enqueue returns.
                let ids = messages.map(\.envelope.id)
                self.results.track(ids)
                do {
                    results = try await provider.enqueue(messages, to: queue)
                } catch {
                    let report = (error as? ConveyorError)?.enqueueReport
                    let sent = Set((report?.sent ?? []) + (report?.uncertain ?? []))
                    self.results.untrack(ids.filter { !sent.contains($0) }, error: error)
                    throw error
                }
            } else {
                results = try await provider.enqueue(messages, to: queue)
            }
            if let broadcasting = provider.broadcasting, broadcasting.mayHaveEventSubscribers(queue) {
                // Observers of the queue see the jobs arrive (best effort: a failure does not fail the enqueue).
                let events = zip(messages, results).filter { !$0.1.deduplicated }.map { message, _ in
                    JobEvent(kind: .enqueued, jobID: message.envelope.id, task: task, queue: queue, attempt: 1, at: now)
                }
                do {
                    try await broadcasting.broadcastEvents(events, of: queue)
                } catch {
                    logger.debug("could not broadcast enqueued events", metadata: ["conveyor.queue": .string(queue), "error.message": .string("\(error)")])
                }
            }
            logger.debug(
                "enqueued",
                metadata: [
                    "job.task": .string(task),
                    "conveyor.queue": .string(queue),
                    "job.id": .string(messages.count == 1 ? messages[0].envelope.id.rawValue : "\(messages.count) jobs"),
                ]
            )
            return results
        }
    }
}
