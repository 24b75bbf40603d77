import Conveyor

extension SQSQueueProvider {
    /// An entry of a `*Batch` call that failed.
    struct BatchFailure {
        var id: String
        var code: String
        var message: String
    }

    /// A request that threw: its error, and whether it (or an earlier attempt of it) may have been processed by SQS.
    struct BatchInterruption {
        var error: any Error
        var mayHaveReachedSQS: Bool
    }

    /// What a `*Batch` call with retries ended with. Every entry of the call ends in exactly one of `successful`,
    /// `failed`, `ignored`, `unanswered` and `unsettled`.
    struct BatchOutcome {
        /// The `Successful` items of every round.
        var successful: [JSONValue] = []
        /// Entries that failed for good (the sender's fault, or still failing after the last attempt).
        var failed: [BatchFailure] = []
        /// Entries dropped without a retry because `ignore` said so.
        var ignored = 0
        /// Ids of entries that a 2xx answer listed neither as successful nor as failed: their outcome is unknown.
        var unanswered: [String] = []
        /// Ids of entries whose request threw (or whose retry was cancelled), with `interruption` saying why.
        var unsettled: [String] = []
        /// Why `unsettled` entries were left, and whether their request may have been processed.
        var interruption: BatchInterruption?
    }

    /// Calls the batch `action` on the queue at `url` with `entries` (each one's fields, without `Id`, under its
    /// `id`), then again with the entries that failed for a transient reason (not the sender's fault) after the
    /// client's backoff, until none is left or the client's attempts run out. Failures for which `ignore` is true
    /// are neither retried nor reported (e.g. receipts that are no longer valid).
    ///
    /// It never throws: a request that throws (after the client's own retries), or a cancellation during the
    /// backoff, ends the call with the entries still pending in ``BatchOutcome/unsettled``, so that what the
    /// earlier rounds achieved is kept.
    func callBatch(
        _ action: String,
        url: String,
        queue: String? = nil,
        entries: [(id: String, fields: [String: JSONValue])],
        ignore: (BatchFailure) -> Bool = { _ in false }
    ) async -> BatchOutcome {
        var outcome = BatchOutcome()
        var pending = entries
        var attempt = 1
        while !pending.isEmpty {
            let body: [JSONValue] = pending.map { entry in
                var fields = entry.fields
                fields["Id"] = .string(entry.id)
                return .object(fields)
            }
            let response: JSONValue
            var mayHaveReachedSQS = false
            do {
                response = try await client.call(
                    action, ["QueueUrl": .string(url), "Entries": .array(body)], queue: queue, mayHaveReachedSQS: &mayHaveReachedSQS
                )
            } catch {
                outcome.unsettled = pending.map(\.id)
                outcome.interruption = BatchInterruption(error: error, mayHaveReachedSQS: mayHaveReachedSQS)
                return outcome
            }
            var answered = Set<String>()
            for item in response["Successful"]?.array ?? [] {
                guard let id = item["Id"]?.string, answered.insert(id).inserted else { continue }
                outcome.successful.append(item)
            }
            let byID = Dictionary(pending.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            var retry: [(id: String, fields: [String: JSONValue])] = []
            for item in response["Failed"]?.array ?? [] {
                guard let id = item["Id"]?.string, let entry = byID[id], answered.insert(id).inserted else { continue }
                let failure = BatchFailure(id: id, code: item["Code"]?.string ?? "unknown", message: item["Message"]?.string ?? "")
                if ignore(failure) {
                    outcome.ignored += 1
                } else if !(item["SenderFault"]?.bool ?? false) && attempt < client.retry.maxAttempts {
                    retry.append(entry)
                } else {
                    outcome.failed.append(failure)
                }
            }
            outcome.unanswered += pending.map(\.id).filter { !answered.contains($0) }
            pending = retry
            if !pending.isEmpty {
                do {
                    try await Task.sleep(for: client.retry.delay(beforeRetry: attempt))
                } catch {
                    // The retry was not sent: SQS had refused these entries.
                    outcome.unsettled = pending.map(\.id)
                    outcome.interruption = BatchInterruption(error: error, mayHaveReachedSQS: false)
                    return outcome
                }
                attempt += 1
            }
        }
        return outcome
    }

    /// A short description of `error` for reports: `code: message` for a ``ConveyorError``.
    static func describe(_ error: any Error) -> String {
        if let error = error as? ConveyorError { return "\(error.code): \(error.message)" }
        if error is CancellationError { return "cancelled" }
        return "\(error)"
    }
}
