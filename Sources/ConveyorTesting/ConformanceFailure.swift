/// A provider did not behave as the conformance suite expects.
public struct ConformanceFailure: Error, CustomStringConvertible {
    /// What went wrong.
    public let message: String
    /// Where in the suite the check failed.
    public let fileID: String
    /// The line of the failed check.
    public let line: Int

    /// Creates a failure.
    public init(_ message: String, fileID: String = #fileID, line: Int = #line) {
        self.message = message
        self.fileID = fileID
        self.line = line
    }

    /// `fileID:line: message`.
    public var description: String { "\(fileID):\(line): \(message)" }
}
