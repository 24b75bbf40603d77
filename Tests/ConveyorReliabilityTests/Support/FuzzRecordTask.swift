import Conveyor
import Synchronization

/// How the worker's `run()` ended.
final class FuzzWorkerOutcome: Sendable {
    let error = Mutex<String?>(nil)
    let stopped = Atomic<Bool>(false)
}

/// Job ids the fuzz task completed, with how often.
final class FuzzRecorder: Sendable {
    private let state = Mutex<[String: Int]>([:])

    func record(_ id: String) { state.withLock { $0[id, default: 0] += 1 } }

    var runs: [String: Int] { state.withLock { $0 } }
}

/// The task of the generated jobs: fails while its attempt is at most `fail`, then records its job id.
struct FuzzRecordTask: ConveyorTask {
    struct Input: Codable, Sendable {
        var n: Int
        var fail: Int?
    }

    struct Failure: Error, CustomStringConvertible {
        var attempt: Int
        var description: String { "planned failure on attempt \(attempt)" }
    }

    static let name = WorkerFuzzGenerator.taskName
    static var options: TaskOptions {
        TaskOptions(maxAttempts: WorkerFuzzGenerator.defaultMaxAttempts, backoff: .fixed(.milliseconds(50)), timeout: .seconds(30))
    }

    let recorder: FuzzRecorder

    func run(_ input: Input, context: JobContext) async throws -> NoOutput {
        if context.attempt <= (input.fail ?? 0) { throw Failure(attempt: context.attempt) }
        recorder.record(context.jobID.rawValue)
        return NoOutput()
    }
}
