/// A provider whose ``ReceivedMessage/enqueuedAt`` is the broker's own clock at the moment it accepted that copy
/// of the message (SQS `SentTimestamp`).
///
/// The worker and the scheduler then compute when a hopping job is due from the broker's timestamps rather than
/// from the local clock, so a worker whose clock is off does not run a long-delayed job early or late.
public protocol BrokerTimestampingProvider: QueueProvider {}
