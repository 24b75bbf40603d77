import Conveyor
import ConveyorRabbitMQ
import ConveyorSQS
import Foundation
import Logging

/// Chooses the broker from `CONVEYOR_PROVIDER`: `memory` (default), `sqs` (AWS_REGION, AWS_ENDPOINT_URL_SQS, the
/// AWS credential chain) or `rabbitmq` (AMQP_URL).
func makeProvider(logger: Logger) throws -> any QueueProvider {
    let environment = ProcessInfo.processInfo.environment
    switch environment["CONVEYOR_PROVIDER"]?.lowercased() ?? "memory" {
    case "memory":
        return MemoryQueueProvider()
    case "sqs":
        return try SQSQueueProvider(configuration: .fromEnvironment(environment), logger: logger)
    case "rabbitmq":
        return try RabbitMQQueueProvider(configuration: .fromEnvironment(environment), logger: logger)
    case let other:
        throw ConveyorError(.invalidConfiguration, "CONVEYOR_PROVIDER=\(other) is unknown; use memory, sqs or rabbitmq")
    }
}
