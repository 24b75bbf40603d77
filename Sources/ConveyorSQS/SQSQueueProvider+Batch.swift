import Conveyor

extension SQSQueueProvider {
    /// An entry of a `*Batch` call that failed.
    struct BatchFailure {
        var id: String
        var code: String
        var message: String
    }

    /// What a `*Batch` call with retries ended with.
    struct BatchOutcome {
        /// The `Successful` items of every round.
        var successful: [SQSJSON] = []
        /// Entries that failed for good (the sender's fault, or still failing after the last attempt).
        var failed: [BatchFailure] = []
        /// Entries dropped without a retry because `ignore` said so.
        var ignored = 0
    }

    /// Calls the batch `action` on the queue at `url` with `entries` (each one's fields, without `Id`, under its
    /// `id`), then again with the entries that failed for a transient reason (not the sender's fault) after the
    /// client's backoff, until none is left or the client's attempts run out. Failures for which `ignore` is true
    /// are neither retried nor reported (e.g. receipts that are no longer valid).
    func callBatch(
        _ action: String,
        url: String,
        queue: String? = nil,
        entries: [(id: String, fields: [String: Any])],
        ignore: (BatchFailure) -> Bool = { _ in false }
    ) async throws -> BatchOutcome {
        var outcome = BatchOutcome()
        var pending = entries
        var attempt = 1
        while !pending.isEmpty {
            let body: [[String: Any]] = pending.map { entry in
                var fields = entry.fields
                fields["Id"] = entry.id
                return fields
            }
            let response = try await client.call(action, ["QueueUrl": url, "Entries": body], queue: queue)
            outcome.successful += response["Successful"]?.array ?? []
            let byID = Dictionary(pending.map { ($0.id, $0) }, uniquingKeysWith: { first, _ in first })
            var retry: [(id: String, fields: [String: Any])] = []
            for item in response["Failed"]?.array ?? [] {
                guard let id = item["Id"]?.string, let entry = byID[id] else { continue }
                let failure = BatchFailure(id: id, code: item["Code"]?.string ?? "unknown", message: item["Message"]?.string ?? "")
                if ignore(failure) {
                    outcome.ignored += 1
                } else if !(item["SenderFault"]?.bool ?? false) && attempt < client.retry.maxAttempts {
                    retry.append(entry)
                } else {
                    outcome.failed.append(failure)
                }
            }
            pending = retry
            if !pending.isEmpty {
                try await Task.sleep(for: client.retry.delay(beforeRetry: attempt))
                attempt += 1
            }
        }
        return outcome
    }
}
