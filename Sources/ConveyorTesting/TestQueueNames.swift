/// Queue names for tests.
public enum TestQueueNames {
    /// A unique queue name such as `t-round-trip-k3x9q2mz`: lowercase, only `[a-z0-9-_]`, at most 64
    /// characters, valid for SQS (also with a `.fifo` or dead-letter suffix) and RabbitMQ.
    public static func unique(_ hint: String) -> String {
        var cleaned = ""
        for scalar in hint.lowercased().unicodeScalars {
            guard cleaned.utf8.count < 40 else { break }
            switch scalar {
            case "a"..."z", "0"..."9", "_": cleaned.unicodeScalars.append(scalar)
            default: if !cleaned.isEmpty && !cleaned.hasSuffix("-") { cleaned.append("-") }
            }
        }
        while cleaned.hasSuffix("-") { cleaned.removeLast() }
        let alphabet = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        let suffix = String((0..<8).map { _ in alphabet.randomElement()! })
        return cleaned.isEmpty ? "t-\(suffix)" : "t-\(cleaned)-\(suffix)"
    }
}
