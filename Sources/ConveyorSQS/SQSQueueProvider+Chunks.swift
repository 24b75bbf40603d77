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

    /// `items` in chunks of at most `size`.
    static func chunked<Element>(_ items: [Element], size: Int = 10) -> [[Element]] {
        stride(from: 0, to: items.count, by: size).map { Array(items[$0..<Swift.min($0 + size, items.count)]) }
    }
}
