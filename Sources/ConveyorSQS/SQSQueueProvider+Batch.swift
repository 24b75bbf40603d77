import Conveyor

extension SQSQueueProvider {
    /// A request that threw: its error, and whether it (or an earlier attempt of it) may have been processed by SQS.
    struct BatchInterruption {
        var error: any Error
        var mayHaveReachedSQS: Bool
    }

    /// What a `*Batch` call with retries ended with. Every entry of the call ends in exactly one of `successful`,
    /// `failed`, `ignored`, `unanswered` and `unsettled`.
    struct BatchOutcome {
        /// The `Successful` items of every round.
        var successful: [SQSAPI.BatchSuccess] = []
        /// Entries that failed for good (the sender's fault, or still failing after the last attempt).
        var failed: [SQSAPI.BatchFailure] = []
        /// Entries dropped without a retry because `ignore` said so.
        var ignored = 0
        /// Ids of entries that a 2xx answer listed neither as successful nor as failed: their outcome is unknown.
        var unanswered: [String] = []
        /// Ids of entries whose request threw (or whose retry was cancelled), with `interruption` saying why.
        var unsettled: [String] = []
        /// Why `unsettled` entries were left, and whether their request may have been processed.
        var interruption: BatchInterruption?
    }

    /// Sends the batch `request`, then again with the entries that failed for a transient reason (not the sender's
    /// fault) after the client's backoff, until none is left or the client's attempts run out. Failures for which
    /// `ignore` is true are neither retried nor reported (e.g. receipts that are no longer valid). `queue` names the
    /// queue in logs.
    ///
    /// It never throws: a request that throws (after the client's own retries), or a cancellation during the
    /// backoff, ends the call with the entries still pending in ``BatchOutcome/unsettled``, so that what the
    /// earlier rounds achieved is kept.
    func callBatch<Request: SQSBatchRequest>(
        _ request: Request, queue: String? = nil, ignore: (SQSAPI.BatchFailure) -> Bool = { _ in false }
    ) async -> BatchOutcome {
        var outcome = BatchOutcome()
        var pending = request
        var attempt = 1
        while !pending.entries.isEmpty {
            let response: SQSAPI.BatchResult
            var mayHaveReachedSQS = false
            do {
                response = try await client.call(pending, queue: queue, mayHaveReachedSQS: &mayHaveReachedSQS)
            } catch {
                outcome.unsettled = pending.entries.map(\.id)
                outcome.interruption = BatchInterruption(error: error, mayHaveReachedSQS: mayHaveReachedSQS)
                return outcome
            }
            let byID = Dictionary(pending.entries.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            var answered = Set<String>()
            for success in response.successful where byID[success.id] != nil && answered.insert(success.id).inserted {
                outcome.successful.append(success)
            }
            var retry: [Request.Entry] = []
            for failure in response.failed {
                guard let entry = byID[failure.id], answered.insert(failure.id).inserted else { continue }
                if ignore(failure) {
                    outcome.ignored += 1
                } else if !failure.senderFault && attempt < client.retry.maxAttempts {
                    retry.append(entry)
                } else {
                    outcome.failed.append(failure)
                }
            }
            outcome.unanswered += pending.entries.map(\.id).filter { !answered.contains($0) }
            pending.entries = retry
            if !pending.entries.isEmpty {
                do {
                    try await Task.sleep(for: client.retry.delay(beforeRetry: attempt))
                } catch {
                    // The retry was not sent: SQS had refused these entries.
                    outcome.unsettled = pending.entries.map(\.id)
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
