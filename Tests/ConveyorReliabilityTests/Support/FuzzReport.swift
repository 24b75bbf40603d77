import Conveyor

/// What became of the generated messages: runs by job id and dead letters, matched to messages.
struct FuzzReport {
    var problems: [String] = []
    /// Messages that must end but have not (neither run nor dead-lettered).
    var unended: [FuzzMessage] = []
    /// Messages that neither ran nor were dead-lettered and may stay delayed.
    var held: [FuzzMessage] = []
    /// Messages that ran to success.
    var completed = 0
    /// Messages that were dead-lettered.
    var deadLettered = 0

    /// Matches `runs` and `letters` to `messages`; runs of `ignoring` (other jobs of the test) are left out.
    init(messages: [FuzzMessage], runs: [String: Int], letters: [DeadLetter], ignoring: Set<String> = []) {
        var byID: [String: Int] = [:]
        for (position, message) in messages.enumerated() {
            if let id = message.jobID { byID[id] = position }
        }
        var lettersOf = [[DeadLetter]](repeating: [], count: messages.count)
        var matchedByBody = Set<Int>()
        for letter in letters {
            if case .success(let envelope) = letter.envelope, let position = byID[envelope.id.rawValue] {
                lettersOf[position].append(letter)
                continue
            }
            let body = letter.rawBody ?? (try? letter.envelope.get()).map(EnvelopeCodec.encode) ?? []
            if let position = messages.indices.first(where: { !matchedByBody.contains($0) && messages[$0].body == body }) {
                matchedByBody.insert(position)
                lettersOf[position].append(letter)
            } else {
                problems.append("a dead letter matches no generated message: \(letter.reason.code): \(letter.reason.message.prefix(160)); body \(String(decoding: body.prefix(160), as: UTF8.self))")
            }
        }
        let known = Set(messages.compactMap(\.jobID)).union(ignoring)
        for id in runs.keys where !known.contains(id) {
            problems.append("job \(id.prefix(80)) ran but was not generated")
        }
        for (position, message) in messages.enumerated() {
            let ran = message.jobID.flatMap { runs[$0] } ?? 0
            let dead = lettersOf[position]
            completed += ran > 0 ? 1 : 0
            deadLettered += dead.isEmpty ? 0 : 1
            if ran > 1 { problems.append("ran \(ran) times: \(message.summary)") }
            if dead.count > 1 { problems.append("dead-lettered \(dead.count) times: \(message.summary)") }
            if ran > 0 && !dead.isEmpty { problems.append("both completed and dead-lettered (\(dead[0].reason.code)): \(message.summary)") }
            if ran > 0 && !message.expected.mayComplete { problems.append("completed: \(message.summary)") }
            if let letter = dead.first, let problem = message.expected.checkDeadLetter(code: letter.reason.code, message: letter.reason.message) {
                problems.append("\(problem): \(message.summary)")
            }
            if ran == 0 && dead.isEmpty {
                if message.expected.mustEnd { unended.append(message) } else { held.append(message) }
            }
        }
        for message in unended.prefix(30) { problems.append("neither completed nor dead-lettered: \(message.summary)") }
    }
}
