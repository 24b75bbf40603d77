import Foundation

/// Names of the temporary queues Conveyor makes for itself (reply queues, event subscriptions): a prefix, a dash and
/// 16 random lowercase hex digits, so that the prefix (up to the last dash) finds the queues of one kind.
package enum TemporaryQueueName {
    /// `<prefix>-<16 hex digits>`.
    package static func make(_ prefix: String) -> String {
        prefix + "-" + UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased().prefix(16)
    }
}
