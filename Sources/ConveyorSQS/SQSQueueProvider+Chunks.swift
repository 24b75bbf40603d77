import Conveyor

extension SQSQueueProvider {
    /// Runs `body` for every chunk, at most ``Configuration/maxConcurrentBatches`` at a time, and returns the results
    /// in chunk order. Every chunk runs even when another one throws; then the first error thrown is rethrown.
    package func forEachChunk<Element: Sendable, Output: Sendable>(
        _ chunks: [[Element]], _ body: @escaping @Sendable ([Element]) async throws -> Output
    ) async throws -> [Output] {
        if chunks.count == 1 { return [try await body(chunks[0])] }
        var outputs = [Output?](repeating: nil, count: chunks.count)
        var firstError: (any Error)?
        await withTaskGroup(of: (Int, Result<Output, any Error>).self) { group in
            var next = 0
            func addNext() {
                guard next < chunks.count else { return }
                let index = next
                let chunk = chunks[index]
                next += 1
                group.addTask {
                    do {
                        return (index, .success(try await body(chunk)))
                    } catch {
                        return (index, .failure(error))
                    }
                }
            }
            for _ in 0..<Swift.min(configuration.maxConcurrentBatches, chunks.count) { addNext() }
            while let (index, result) = await group.next() {
                switch result {
                case .success(let output): outputs[index] = output
                case .failure(let error): if firstError == nil { firstError = error }
                }
                addNext()
            }
        }
        if let firstError { throw firstError }
        return outputs.compactMap { $0 }
    }

    /// Runs a batch action on receipts (`DeleteMessageBatch`, `ChangeMessageVisibilityBatch`, as `request` builds it
    /// from a chunk's entries) for `handles` in chunks of 10, up to ``Configuration/maxConcurrentBatches`` in flight.
    ///
    /// Every chunk runs to its end even when another one fails; then, if any entry was not settled, one error says
    /// how many messages could not be `verb` and why, and how many may or may not have been (a request that failed
    /// after it may have reached SQS). Entries for which `isStale` is true (receipts no longer valid) are ignored;
    /// their count is returned. A call whose only trouble is the caller's cancellation before any request left
    /// throws `CancellationError`.
    func receiptBatch<Request: SQSBatchRequest>(
        handles: [String], queue: String, verb: String,
        request: @escaping @Sendable ([SQSAPI.ReceiptEntry]) -> Request,
        isStale: @escaping @Sendable (SQSAPI.BatchFailure) -> Bool
    ) async throws -> Int {
        let outcomes = try await forEachChunk(Self.chunked(handles)) { chunk -> ReceiptChunkOutcome in
            let entries = chunk.enumerated().map { index, handle in SQSAPI.ReceiptEntry(id: "r\(index)", receiptHandle: handle) }
            let outcome = await self.callBatch(request(entries), ignore: isStale)
            return ReceiptChunkOutcome(outcome)
        }
        var failed: [String] = []
        var uncertain = 0
        var notSent = 0
        var errors: [any Error] = []
        for outcome in outcomes {
            failed += outcome.failed
            uncertain += outcome.uncertain
            notSent += outcome.notSent
            if let error = outcome.error { errors.append(error) }
        }
        let ignored = outcomes.reduce(0) { $0 + $1.ignored }
        if failed.isEmpty && uncertain == 0 && notSent == 0 { return ignored }
        if failed.isEmpty && uncertain == 0 && errors.allSatisfy({ $0 is CancellationError }) {
            throw CancellationError()
        }
        var parts: [String] = []
        if !failed.isEmpty || notSent > 0 {
            let reasons = Array(Set(failed + errors.map(Self.describe))).sorted().prefix(5).joined(separator: "; ")
            parts.append("\(failed.count + notSent) of \(handles.count) messages of \(queue) could not be \(verb) (\(reasons))")
        }
        if uncertain > 0 {
            let reasons = Array(Set(errors.map(Self.describe))).sorted().prefix(3).joined(separator: "; ")
            parts.append("\(uncertain) of \(handles.count) messages of \(queue) may or may not have been \(verb): a request failed after it may have reached SQS (\(reasons))")
        }
        // One common cause of every problem gives its code; entry failures or mixed causes are broker errors.
        let codes = Set(errors.map { ($0 as? ConveyorError)?.code ?? .cancelled })
        let code = failed.isEmpty && codes.count == 1 ? codes.first! : .brokerError
        throw ConveyorError(code, parts.joined(separator: "; "))
    }

    /// `items` in chunks of at most `size`.
    static func chunked<Element>(_ items: [Element], size: Int = 10) -> [[Element]] {
        stride(from: 0, to: items.count, by: size).map { Array(items[$0..<Swift.min($0 + size, items.count)]) }
    }
}

/// What became of the entries of one chunk of ``SQSQueueProvider/receiptBatch(handles:queue:verb:request:isStale:)``.
struct ReceiptChunkOutcome: Sendable {
    /// `code: message` of each entry SQS refused for good.
    var failed: [String]
    /// Entries whose request threw after it may have reached SQS, or that a 2xx answer did not mention.
    var uncertain: Int
    /// Entries whose request threw without reaching SQS.
    var notSent: Int
    /// Receipts no longer valid.
    var ignored: Int
    /// The error of a request that threw.
    var error: (any Error)?

    init(_ outcome: SQSQueueProvider.BatchOutcome) {
        failed = outcome.failed.map { $0.message.isEmpty ? $0.code : "\($0.code): \($0.message.prefix(200))" }
        ignored = outcome.ignored
        error = outcome.interruption?.error
        let reached = outcome.interruption?.mayHaveReachedSQS ?? false
        uncertain = outcome.unanswered.count + (reached ? outcome.unsettled.count : 0)
        notSent = reached ? 0 : outcome.unsettled.count
    }
}
