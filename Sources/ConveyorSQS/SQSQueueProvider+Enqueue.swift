import Conveyor
import Foundation

extension SQSQueueProvider {
    /// One prepared `SendMessageBatch` entry.
    struct SendEntry: Sendable {
        var index: Int
        var jobID: JobID
        /// The message's fields.
        var message: SQSAPI.MessageFields
        var size: Int
    }

    /// What became of one job of an `enqueue`.
    enum SendOutcome: Sendable {
        /// SQS accepted it, with this message id (if its answer gave one).
        case sent(messageID: String?)
        /// SQS did not store it: sending it again does not duplicate it.
        case failed(SendProblem)
        /// Its request failed after it may have reached SQS: it may be stored.
        case uncertain(SendProblem)
    }

    /// Why a job was not confirmed.
    struct SendProblem: Sendable {
        var reason: String
        /// The code of the underlying error (``ConveyorError/Code/cancelled`` for a cancellation).
        var code: ConveyorError.Code
        var retryable: Bool
    }

    // MARK: - Enqueue

    /// Sends messages with `SendMessage` (one) or `SendMessageBatch` (chunks of at most 10 messages whose sizes add up
    /// to at most the queue's `MaximumMessageSize`, which SQS allows up to 1 MiB, up to
    /// ``Configuration/maxConcurrentBatches`` in flight). Entries that fail for a transient reason are retried.
    ///
    /// A message larger than the queue's `MaximumMessageSize` (envelope plus message attributes; read once per queue
    /// with `GetQueueAttributes`, SQS's default of 256 KiB when it cannot be read) is refused before anything is sent,
    /// with ``Conveyor/ConveyorError/Code/messageTooLarge`` naming the queue, its limit and the job's size.
    ///
    /// Every chunk runs to its end, even when another one fails or the calling task is cancelled (chunks not started
    /// by then are not sent). When any message was not confirmed, the call throws a ``Conveyor/ConveyorError`` whose
    /// ``Conveyor/ConveyorError/enqueueReport`` puts every job of the call in exactly one list: `sent` (SQS accepted
    /// it), `failed` (SQS did not store it, with the reason: sending it again does not duplicate it) or `uncertain`
    /// (its request failed after it may have reached SQS: a timeout, a dropped connection, a 5xx answer, a
    /// cancellation or close while it was in flight). Its message says the same. The code is
    /// ``Conveyor/ConveyorError/Code/cancelled`` when the task was cancelled, the failure's own code when every job
    /// failed for one cause (e.g. ``Conveyor/ConveyorError/Code/messageTooLarge`` for a message refused before
    /// anything was sent, which sends none of them), and ``Conveyor/ConveyorError/Code/notConfirmed`` otherwise. A
    /// cancellation before anything was sent throws `CancellationError`.
    ///
    /// A request that fails with a connection error, a timeout or a 5xx answer is retried, although SQS may have
    /// processed it: its messages may then be stored twice. Such a retry is never silent: it is logged at info level
    /// ("SendMessageBatch retried after a timeout; its N messages may be duplicated", with `conveyor.queue`,
    /// `sqs.action` and `job.count`) and counted in `conveyor_possible_duplicate_sends_total{provider="sqs", action}`.
    /// Both copies carry the same envelope job id, so handlers should be idempotent by ``Conveyor/Envelope/id``; on a
    /// FIFO queue SQS drops the copy by its deduplication id (the deduplication key, else the job id) within 5
    /// minutes.
    public func enqueue(_ messages: [OutgoingMessage], to queue: String) async throws -> [EnqueueResult] {
        guard !messages.isEmpty else { return [] }
        let ids = messages.map(\.envelope.id)
        let outcomes: [SendOutcome]
        do {
            outcomes = try await withQueue(queue) { info in try await send(messages, info: info, queue: queue) }
        } catch var error as ConveyorError {
            // Nothing was sent: the queue could not be resolved, or a message was refused before sending.
            if messages.count > 1 { error.message += "; none of the \(messages.count) messages was sent" }
            var failed: [JobID: String] = [:]
            for id in ids { failed[id] = "\(error.code): \(error.message)" }
            error.enqueueReport = ConveyorError.EnqueueReport(failed: failed)
            throw error
        }
        if outcomes.contains(where: { if case .failed(let problem) = $0 { problem.code == .queueNotFound } else { false } }) {
            forget(queue)
        }
        if let error = Self.enqueueError(ids: ids, outcomes: outcomes, queue: queue) { throw error }
        return zip(ids, outcomes).map { id, outcome in
            guard case .sent(let messageID) = outcome else { return EnqueueResult(jobID: id) }
            return EnqueueResult(jobID: id, brokerMessageID: messageID)
        }
    }

    /// Prepares and sends `messages`; returns what became of each, in order. Throws only before anything was sent.
    func send(_ messages: [OutgoingMessage], info: QueueInfo, queue: String) async throws -> [SendOutcome] {
        let limit = await messageSizeLimit(of: info, key: queue)
        var entries: [SendEntry] = []
        entries.reserveCapacity(messages.count)
        for (index, message) in messages.enumerated() {
            entries.append(try prepare(message, index: index, info: info, limit: limit.bytes, limitRead: limit.read))
        }
        if entries.count == 1 {
            let request = SQSAPI.SendMessage(queueURL: info.url, message: entries[0].message)
            var mayHaveReachedSQS = false
            do {
                let messageID = try await client.call(request, queue: queue, mayHaveReachedSQS: &mayHaveReachedSQS)
                return [.sent(messageID: messageID)]
            } catch {
                return [Self.outcome(of: error, mayHaveReachedSQS: mayHaveReachedSQS)]
            }
        }
        let chunks = Self.chunks(entries, maximumBytes: limit.bytes)

        // Every chunk runs to its end (the bodies never throw), then the outcomes are put together.
        var outcomes = [SendOutcome?](repeating: nil, count: messages.count)
        for chunk in try await forEachChunk(chunks, { chunk in await self.sendBatch(chunk, url: info.url, queue: queue) }) {
            for (index, outcome) in chunk { outcomes[index] = outcome }
        }
        return outcomes.map {
            $0 ?? .uncertain(SendProblem(reason: "its outcome is unknown", code: .brokerError, retryable: false))
        }
    }

    /// `entries` in order, in `SendMessageBatch` chunks of at most 10 entries whose sizes add up to at most
    /// `maximumBytes` (SQS counts a batch's total against the queue's `MaximumMessageSize`, at most 1 MiB). An
    /// entry is never larger than `maximumBytes` (``prepare(_:index:info:limit:limitRead:)`` refuses it).
    static func chunks(_ entries: [SendEntry], maximumBytes: Int) -> [[SendEntry]] {
        var chunks: [[SendEntry]] = []
        var current: [SendEntry] = []
        var currentSize = 0
        for entry in entries {
            if current.count == 10 || (entry.size > maximumBytes - currentSize && !current.isEmpty) {
                chunks.append(current)
                current = []
                currentSize = 0
            }
            current.append(entry)
            currentSize += entry.size
        }
        if !current.isEmpty { chunks.append(current) }
        return chunks
    }

    /// Sends one chunk with `SendMessageBatch`, retrying entries that failed for a transient reason; returns the
    /// outcome of each entry by its index in the `enqueue` call. Never throws.
    func sendBatch(_ chunk: [SendEntry], url: String, queue: String) async -> [(Int, SendOutcome)] {
        let byID = Dictionary(uniqueKeysWithValues: chunk.map { ("m\($0.index)", $0.index) })
        let request = SQSAPI.SendMessageBatch(
            queueURL: url, entries: chunk.map { SQSAPI.SendMessageBatch.Entry(id: "m\($0.index)", message: $0.message) })
        let outcome = await callBatch(request, queue: queue)
        var outcomes: [(Int, SendOutcome)] = []
        for success in outcome.successful {
            guard let index = byID[success.id] else { continue }
            outcomes.append((index, .sent(messageID: success.messageID)))
        }
        for failure in outcome.failed {
            guard let index = byID[failure.id] else { continue }
            let error = ConveyorError.sqs(type: failure.code, message: String(failure.message.prefix(200)), status: 400, action: "SendMessageBatch")
            let reason = failure.message.isEmpty ? failure.code : "\(failure.code): \(failure.message.prefix(200))"
            outcomes.append((index, .failed(SendProblem(reason: reason, code: error.code, retryable: error.isRetryable))))
        }
        for id in outcome.unanswered {
            guard let index = byID[id] else { continue }
            outcomes.append((index, .uncertain(SendProblem(reason: "SQS answered SendMessageBatch without mentioning it", code: .brokerError, retryable: false))))
        }
        if let interruption = outcome.interruption {
            let result = Self.outcome(of: interruption.error, mayHaveReachedSQS: interruption.mayHaveReachedSQS)
            for id in outcome.unsettled {
                guard let index = byID[id] else { continue }
                outcomes.append((index, result))
            }
        }
        return outcomes
    }

    /// The outcome of a job whose request threw `error`.
    static func outcome(of error: any Error, mayHaveReachedSQS: Bool) -> SendOutcome {
        let conveyorError = error as? ConveyorError
        let code = conveyorError?.code ?? (error is CancellationError ? .cancelled : .brokerError)
        var reason = describe(error)
        if error is CancellationError {
            reason = mayHaveReachedSQS ? "cancelled while its request was in flight" : "cancelled before its request was sent"
        }
        let problem = SendProblem(reason: reason, code: code, retryable: conveyorError?.isRetryable ?? false)
        return mayHaveReachedSQS ? .uncertain(problem) : .failed(problem)
    }

    /// The error of an `enqueue` whose `outcomes` are not all `sent`, with its report; nil when all were sent.
    static func enqueueError(ids: [JobID], outcomes: [SendOutcome], queue: String) -> (any Error)? {
        var report = ConveyorError.EnqueueReport()
        var problems: [(id: JobID, problem: SendProblem, uncertain: Bool)] = []
        for (id, outcome) in zip(ids, outcomes) {
            switch outcome {
            case .sent: report.sent.append(id)
            case .failed(let problem):
                report.failed[id] = problem.reason
                problems.append((id, problem, false))
            case .uncertain(let problem):
                report.uncertain.append(id)
                problems.append((id, problem, true))
            }
        }
        guard !problems.isEmpty else { return nil }
        let codes = Set(problems.map(\.problem.code))
        // Nothing left: a cancellation before any request went out is an ordinary cancellation.
        if codes == [.cancelled] && report.sent.isEmpty && report.uncertain.isEmpty { return CancellationError() }
        let code: ConveyorError.Code
        if codes.contains(.cancelled) {
            code = .cancelled
        } else if report.sent.isEmpty && codes.count == 1 {
            code = codes.first!
        } else {
            code = .notConfirmed
        }
        let message: String
        if ids.count == 1, let only = problems.first {
            message = only.uncertain
                ? "job \(only.id) may have been sent to \(queue) (sending it again may duplicate it): \(only.problem.reason)"
                : "job \(only.id) was not sent to \(queue): \(only.problem.reason)"
        } else {
            func list(_ selected: [(id: JobID, problem: SendProblem, uncertain: Bool)]) -> String {
                // Grouped by reason, at most 20 job ids in all.
                var order: [String] = []
                var byReason: [String: [JobID]] = [:]
                for item in selected {
                    if byReason[item.problem.reason] == nil { order.append(item.problem.reason) }
                    byReason[item.problem.reason, default: []].append(item.id)
                }
                var budget = 20
                var groups: [String] = []
                for reason in order {
                    let group = byReason[reason] ?? []
                    let shown = group.prefix(Swift.max(budget, 0))
                    budget -= shown.count
                    let more = group.count > shown.count ? ", … (\(group.count - shown.count) more)" : ""
                    groups.append("jobs \(shown.map(\.rawValue).joined(separator: ", "))\(more): \(reason)")
                }
                return groups.joined(separator: "; ")
            }
            let failed = problems.filter { !$0.uncertain }
            let uncertain = problems.filter(\.uncertain)
            var parts: [String] = []
            if !failed.isEmpty {
                parts.append("\(failed.count) of \(ids.count) messages were not sent to \(queue) (\(list(failed)))")
            }
            if !uncertain.isEmpty {
                parts.append(
                    "\(uncertain.count) of \(ids.count) messages may have been sent to \(queue) (sending them again may duplicate them) (\(list(uncertain)))"
                )
            }
            parts.append("\(report.sent.count) of \(ids.count) were sent")
            message = parts.joined(separator: "; ")
        }
        let retryable = report.sent.isEmpty && problems.allSatisfy(\.problem.retryable)
        return ConveyorError(code, message, retryable: retryable, enqueueReport: report)
    }

    /// The `SendMessage` fields of `message`, after checking its size against the queue's `limit` (`limitRead`: read
    /// from the queue's `MaximumMessageSize`, else SQS's default assumed).
    func prepare(_ message: OutgoingMessage, index: Int, info: QueueInfo, limit: Int, limitRead: Bool = true) throws -> SendEntry {
        let envelope = message.envelope
        let body = String(decoding: EnvelopeCodec.encode(envelope), as: UTF8.self)
        var size = body.utf8.count
        var attributes: [String: SQSAPI.MessageAttribute] = [:]
        func attribute(_ name: String, _ value: String?) {
            guard let value = value.map(Self.sqsSafe), !value.isEmpty else { return }
            attributes[name] = .string(value)
            size += name.utf8.count + value.utf8.count + "String".utf8.count
        }
        attribute("conveyor.task", envelope.task)
        attribute("conveyor.correlation_id", envelope.correlationID)
        attribute("traceparent", envelope.traceContext["traceparent"])
        attribute("tracestate", envelope.traceContext["tracestate"])
        guard size <= limit else {
            throw Self.messageTooLarge(envelope, size: size, queue: info.name, limit: limit, limitRead: limitRead)
        }
        var fields = SQSAPI.MessageFields(body: body, attributes: attributes)
        if info.fifo {
            guard message.delay <= .zero else {
                throw ConveyorError(
                    .unsupported,
                    "job \(envelope.id): SQS FIFO queue \(info.name) has no per-message delay; set DelaySeconds on the queue or enqueue without a delay"
                )
            }
            // A group SQS would refuse (empty, over 128 characters, not printable ASCII) is replaced: empty by the
            // default group, others by their SHA-256, which keeps jobs of one group together and in order.
            fields.groupID = message.groupID.flatMap { $0.isEmpty ? nil : Self.deduplicationID($0) } ?? "default"
            fields.deduplicationID = Self.deduplicationID(envelope.deduplicationKey ?? envelope.id.rawValue)
        } else if message.delay > .zero {
            fields.delaySeconds = min(Self.seconds(message.delay), 900)
        }
        return SendEntry(index: index, jobID: envelope.id, message: fields, size: size)
    }

    /// The error of a job over its queue's size limit: which limit (the queue's `MaximumMessageSize`, or SQS's
    /// default when it could not be read), the job's size as SQS counts it, and what to do.
    static func messageTooLarge(_ envelope: Envelope, size: Int, queue: String, limit: Int, limitRead: Bool) -> ConveyorError {
        let maximum = maximumMessageSizeRange.upperBound
        let which =
            limitRead
            ? "the \(limit)-byte limit of SQS queue \(queue) (its MaximumMessageSize)"
            : "the \(limit)-byte limit assumed for SQS queue \(queue) (SQS's default MaximumMessageSize: the queue's own could not be read; allow sqs:GetQueueAttributes)"
        let remedy =
            limit < maximum && size <= maximum
            ? "raise the queue's MaximumMessageSize, up to \(maximum) bytes (SetQueueAttributes on the queue and its dead-letter queue; a new queue: conveyor queue create --max-message-size \(maximum) or QueueOptions.maximumMessageBytes), or store the payload elsewhere (e.g. S3) and send a reference"
            : "that is over SQS's largest MaximumMessageSize (\(maximum) bytes): store the payload elsewhere (e.g. S3) and send a reference"
        return ConveyorError(
            .messageTooLarge,
            "job \(envelope.id) (\(envelope.task)) is \(size) bytes with its message attributes, over \(which); \(remedy)"
        )
    }
}
