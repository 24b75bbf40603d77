import ArgumentParser
import Conveyor
import ConveyorSQS

/// Exit codes scripts can rely on.
enum ExitCodes {
    /// Bad usage: unknown option, missing argument, invalid value.
    static let usage = ExitCode(2)

    /// The broker could not be reached or is misconfigured.
    static let brokerUnavailable = ExitCode(3)

    /// Maps a thrown error to a message on standard error and an exit code.
    static func report(_ error: any Error) -> ExitCode {
        if let error = error as? ConveyorError {
            Terminal.error("error: \(error.message) [\(error.code)]")
            switch error.code {
            case .connectionFailed, .accessDenied, .invalidConfiguration, .queueNotFound, .signatureMismatch, .clockSkew:
                return brokerUnavailable
            default:
                return .failure
            }
        }
        Terminal.error("error: \(error)")
        return .failure
    }
}

extension AsyncParsableCommand {
    /// Runs `body`, turning Conveyor errors into a clear message and an exit code.
    func reportingErrors(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as ExitCode {
            throw error
        } catch let error as ValidationError {
            throw error
        } catch {
            throw ExitCodes.report(error)
        }
    }
}
