// The one place where the core asks a provider which optional protocols it conforms to. Everything else (worker,
// scheduler, CLI, conformance suite) uses these typed accessors instead of casting, so the set of optional
// capabilities is visible here at a glance. Facts without operations are fields of `ProviderCapabilities`.

extension QueueProvider {
    /// This provider as a ``ReleasingQueueProvider``, if it can hand messages back without failing them.
    public var releasing: (any ReleasingQueueProvider)? { self as? any ReleasingQueueProvider }

    /// This provider as a ``DeadLetterQueueProvider``, if it can list, redrive and purge dead letters.
    public var deadLetterQueues: (any DeadLetterQueueProvider)? { self as? any DeadLetterQueueProvider }

    /// This provider as a ``QueueProvisioningProvider``, if it can create and delete queues.
    public var provisioning: (any QueueProvisioningProvider)? { self as? any QueueProvisioningProvider }

    /// This provider as a ``PrefetchingQueueProvider``, if it pushes messages ahead of `receive`.
    public var prefetching: (any PrefetchingQueueProvider)? { self as? any PrefetchingQueueProvider }

    /// This provider as a ``DelayedJobCancellingProvider``, if it can remove a delayed job before it is visible.
    public var delayedJobCancelling: (any DelayedJobCancellingProvider)? { self as? any DelayedJobCancellingProvider }

    /// This provider as a ``SessionOpeningProvider``, if reads that must not leave messages buffered on its
    /// connection need a short-lived provider of their own.
    public var sessions: (any SessionOpeningProvider)? { self as? any SessionOpeningProvider }

    /// This provider as a ``ReplyingProvider``, if it can carry job outcomes and events back to their producers.
    public var replying: (any ReplyingProvider)? { self as? any ReplyingProvider }

    /// This provider as an ``EventBroadcastingProvider``, if observers can follow a queue's job events.
    public var broadcasting: (any EventBroadcastingProvider)? { self as? any EventBroadcastingProvider }

    /// This provider as a ``PausingProvider``, if it can pause and resume a queue for every worker.
    public var pausing: (any PausingProvider)? { self as? any PausingProvider }

    /// This provider as a ``CancellingProvider``, if it can cancel jobs by id for every worker.
    public var cancelling: (any CancellingProvider)? { self as? any CancellingProvider }
}
