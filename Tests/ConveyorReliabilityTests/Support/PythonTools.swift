import Conveyor
import Foundation

/// Python with the peer clients the tests publish with: boto3 (usually installed) and pika (from PyPI). A venv is
/// made once under `.build/reliability-venv` (`--system-site-packages`, so a system boto3 is reused), or
/// `CONVEYOR_PYTHON` names an interpreter that already has both.
enum PythonTools {
    /// A Python with `modules` importable: `CONVEYOR_PYTHON`, or a venv under `.build` made and filled on first
    /// use. Calls run one at a time: tests running in parallel would otherwise create the venv and run pip in it at
    /// the same time (on a fresh clone one pip broke the other's install).
    static func python(needing modules: [String]) async throws -> String {
        try await setup.serially { try await pythonNow(needing: modules) }
    }

    private static let setup = SerialSetup()

    private static func pythonNow(needing modules: [String]) async throws -> String {
        if let python = ReliabilityEnvironment.environment["CONVEYOR_PYTHON"] { return python }
        let venv = ReliabilityEnvironment.packageRoot.appendingPathComponent(".build/reliability-venv").path
        let python = venv + "/bin/python"
        if try await hasModules(python, modules) { return python }
        if !FileManager.default.isExecutableFile(atPath: python) {
            let made = try await ChildProcess.run("/usr/bin/env", ["python3", "-m", "venv", "--system-site-packages", venv], timeout: .seconds(120))
            guard made.status == 0 else { throw ConveyorError(.invalidConfiguration, "python3 -m venv failed: \(made.stderr.suffix(500))") }
        }
        let packages = modules.filter { $0 != "boto3" } + (try await hasModules(python, ["boto3"]) ? [] : ["boto3"])
        guard !packages.isEmpty else { return python }
        let installed = try await ChildProcess.run(python, ["-m", "pip", "install", "-q", "--disable-pip-version-check"] + packages, timeout: .seconds(300))
        guard installed.status == 0 else { throw ConveyorError(.invalidConfiguration, "pip install \(packages) failed: \(installed.stderr.suffix(500))") }
        return python
    }

    private static func hasModules(_ python: String, _ modules: [String]) async throws -> Bool {
        guard FileManager.default.isExecutableFile(atPath: python) else { return false }
        let result = try await ChildProcess.run(python, ["-c", "import " + modules.joined(separator: ", ")], timeout: .seconds(60))
        return result.status == 0
    }
}

/// Runs async closures one after another, in the order they were given.
private actor SerialSetup {
    private var tail: Task<Void, Never>?

    func serially<T: Sendable>(_ body: @escaping @Sendable () async throws -> T) async throws -> T {
        let previous = tail
        let task = Task {
            await previous?.value
            return try await body()
        }
        tail = Task { _ = try? await task.value }
        return try await task.value
    }
}
