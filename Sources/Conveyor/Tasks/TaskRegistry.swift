import Foundation
import Synchronization

/// The tasks a worker (or the inline provider) can run, keyed by ``ConveyorTask/name``.
///
/// ```swift
/// var registry = TaskRegistry()
/// try registry.register(SendEmail(mailer: mailer))
/// try registry.register(ResizeImage())
/// ```
///
/// A registry is a value: register every task before handing it to a ``Worker`` or an ``InlineQueueProvider``,
/// which keep their own copy.
public struct TaskRegistry: Sendable {
    private var handlers: [String: AnyTaskHandler] = [:]

    /// Creates an empty registry.
    public init() {}

    /// Creates a registry holding `tasks`; throws as ``register(_:)`` does (two tasks with one name, invalid
    /// options).
    public init(_ tasks: [any ConveyorTask]) throws {
        for task in tasks { try register(task) }
    }

    /// Registers `task` under `T.name`; throws ``ConveyorError/Code/duplicateTask`` when the name is taken and
    /// ``ConveyorError/Code/invalidConfiguration`` when its ``ConveyorTask/options`` are invalid (a priority
    /// outside 0...9, say).
    public mutating func register<T: ConveyorTask>(_ task: T) throws {
        try T.options.validate("task \"\(T.name)\"")
        guard handlers[T.name] == nil else {
            throw ConveyorError(
                .duplicateTask,
                "a task named \"\(T.name)\" is already registered; task names must be unique within a registry"
            )
        }
        handlers[T.name] = AnyTaskHandler(task)
    }

    /// The registered task names, sorted.
    public var taskNames: [String] { handlers.keys.sorted() }

    /// True when a task named `name` is registered.
    public func contains(_ name: String) -> Bool { handlers[name] != nil }

    /// The options of the task named `name`, or `nil` when none is registered.
    public func options(for name: String) -> TaskOptions? { handlers[name]?.options }

    /// Runs one job of the task named by `context`'s envelope at once, in the caller's task, and returns its
    /// JSON-encoded output. Throws ``ConveyorError/Code/unknownTask`` when no such task is registered,
    /// ``ConveyorError/Code/payloadDecodingFailed`` when the payload does not decode into the task's input, and
    /// whatever the handler throws.
    public func run(_ context: JobContext) async throws -> [UInt8] {
        guard let handler = handlers[context.taskName] else {
            throw ConveyorError.unknownTask(context.taskName)
        }
        return try await handler.run(payload: context.envelope.payload, context: context, encodeOutput: true) ?? []
    }

    func handler(for name: String) -> AnyTaskHandler? { handlers[name] }
}

extension ConveyorError {
    static func unknownTask(_ name: String) -> ConveyorError {
        ConveyorError(
            .unknownTask,
            "no task named \"\(name)\" is registered with this worker; register it or route its jobs elsewhere"
        )
    }
}

/// A type-erased task: decodes the input, runs the task, encodes the output.
final class AnyTaskHandler: Sendable {
    let name: String
    let options: TaskOptions
    private let body: @Sendable ([UInt8], JobContext, Bool) async throws -> [UInt8]?

    init<T: ConveyorTask>(_ task: T) {
        let name = T.name
        self.name = name
        self.options = T.options
        // JSONDecoder and JSONEncoder are thread-safe once configured; one pair per task avoids an allocation per job.
        let decoder = JSONDecoder()
        let encoder = JSONEncoder()
        // Off once the fast decoder missed on a valid input of this type: later ones would be read twice.
        let fastPath = FastPathSwitch()
        // Off once the fast encoder gave up on an output of this type: later ones would be encoded twice.
        let fastOutput = FastPathSwitch()
        self.body = { payload, context, encodeOutput in
            var fast: T.Input?
            if fastPath.isOn {
                // The fast decoder handles common shapes; when unsure it gives up and JSONDecoder decides (and
                // words the error).
                do throws(FastJSONDecoder.GiveUp) {
                    fast = try FastJSONDecoder.decode(T.Input.self, from: payload)
                } catch {
                    if error.typeMissed { fastPath.turnOff() }
                }
            }
            let input: T.Input
            if let fast {
                input = fast
            } else {
                do {
                    input = try decoder.decode(T.Input.self, from: Data(payload))
                } catch {
                    throw ConveyorError(.payloadDecodingFailed, "\(name): \(describeCodingError(error))")
                }
            }
            let output = try await JobContext.$current.withValue(context) {
                try await task.run(input, context: context) as T.Output
            }
            guard encodeOutput else { return nil }
            // As for inputs: the fast encoder handles common shapes; when unsure it gives up and JSONEncoder decides.
            if fastOutput.isOn {
                if let bytes = try? FastJSONEncoder.encode(output) { return bytes }
                fastOutput.turnOff()
            }
            do {
                return Array(try encoder.encode(output))
            } catch {
                throw ConveyorError(.payloadEncodingFailed, "\(name): output: \(describeCodingError(error))")
            }
        }
    }

    /// Runs one job; returns the encoded output when `encodeOutput` is true.
    func run(payload: [UInt8], context: JobContext, encodeOutput: Bool) async throws -> [UInt8]? {
        try await body(payload, context, encodeOutput)
    }
}

/// A one-line description of a `DecodingError` or `EncodingError` that names the coding path, e.g.
/// `missing key "to" at <root>` or `expected Int at items[2].count`.
func describeCodingError(_ error: any Error) -> String {
    func path(_ codingPath: [any CodingKey]) -> String {
        guard !codingPath.isEmpty else { return "<root>" }
        var out = ""
        for key in codingPath {
            if let index = key.intValue, key.stringValue.hasPrefix("Index ") || key.stringValue == String(index) {
                out += "[\(index)]"
            } else {
                if !out.isEmpty { out += "." }
                out += key.stringValue
            }
        }
        return out
    }
    switch error {
    case let error as DecodingError:
        switch error {
        case .typeMismatch(let type, let context):
            return "type mismatch at \(path(context.codingPath)): expected \(type) (\(context.debugDescription))"
        case .valueNotFound(let type, let context):
            return "missing value at \(path(context.codingPath)): expected \(type) (\(context.debugDescription))"
        case .keyNotFound(let key, let context):
            return "missing key \"\(key.stringValue)\" at \(path(context.codingPath))"
        case .dataCorrupted(let context):
            return "invalid data at \(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return String(describing: error)
        }
    case let error as EncodingError:
        switch error {
        case .invalidValue(_, let context):
            return "invalid value at \(path(context.codingPath)): \(context.debugDescription)"
        @unknown default:
            return String(describing: error)
        }
    default:
        return String(describing: error)
    }
}

/// Whether a task's inputs still go through the fast decoder first.
private final class FastPathSwitch: Sendable {
    private let off = Atomic<Bool>(false)

    var isOn: Bool { !off.load(ordering: .relaxed) }

    func turnOff() { off.store(true, ordering: .relaxed) }
}
