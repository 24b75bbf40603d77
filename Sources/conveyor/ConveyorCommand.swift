import ArgumentParser

@main
struct ConveyorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(commandName: "conveyor", abstract: "Background jobs on real message brokers.")
}
