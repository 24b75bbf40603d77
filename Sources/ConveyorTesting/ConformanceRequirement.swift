import Conveyor

/// Something a conformance case needs from the provider or the harness.
enum ConformanceRequirement: Sendable {
    /// ``ProviderCapabilities/priorities``.
    case priorities
    /// ``ProviderCapabilities/visibilityTimeout``.
    case visibilityTimeout
    /// ``ProviderCapabilities/deduplication``.
    case deduplication
    /// The provider is a ``DeadLetterQueueProvider``.
    case deadLetterQueue
    /// The provider is a ``ReleasingQueueProvider``.
    case releasing
    /// ``ConformanceHarness/makeProvider`` is set.
    case separateProvider
    /// The provider is a ``ReplyingProvider``.
    case replying
    /// The provider is an ``EventBroadcastingProvider``.
    case broadcasting
    /// The provider is a ``PausingProvider``.
    case pausing
    /// The provider is a ``CancellingProvider``.
    case cancelling

    /// Why `harness` does not meet the requirement, or nil when it does.
    func unmetReason(_ harness: ConformanceHarness) -> String? {
        let capabilities = harness.provider.capabilities
        switch self {
        case .priorities:
            return capabilities.priorities ? nil : "capabilities.priorities is false"
        case .visibilityTimeout:
            return capabilities.visibilityTimeout ? nil : "capabilities.visibilityTimeout is false"
        case .deduplication:
            return capabilities.deduplication ? nil : "capabilities.deduplication is false"
        case .deadLetterQueue:
            return harness.provider.deadLetterQueues != nil ? nil : "the provider is not a DeadLetterQueueProvider"
        case .releasing:
            return harness.provider.releasing != nil ? nil : "the provider is not a ReleasingQueueProvider"
        case .separateProvider:
            return harness.makeProvider != nil ? nil : "the harness has no makeProvider to make a provider to close"
        case .replying:
            return harness.provider.replying != nil ? nil : "the provider is not a ReplyingProvider"
        case .broadcasting:
            return harness.provider.broadcasting != nil ? nil : "the provider is not an EventBroadcastingProvider"
        case .pausing:
            return harness.provider.pausing != nil ? nil : "the provider is not a PausingProvider"
        case .cancelling:
            return harness.provider.cancelling != nil ? nil : "the provider is not a CancellingProvider"
        }
    }
}
