import Conveyor

/// `ReceivedMessage.enqueuedAt` is SQS's `SentTimestamp`: hops are timed with the broker's clock.
extension SQSQueueProvider: BrokerTimestampingProvider {}
