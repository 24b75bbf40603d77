// swift-tools-version:6.1
import PackageDescription

// A standalone worker executable with two tasks; the broker comes from the environment.
// Build: `swift build --package-path Examples/StandaloneWorker`.
let package = Package(
    name: "StandaloneWorker",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Conveyor", path: "../.."),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
    ],
    targets: [
        .executableTarget(
            name: "StandaloneWorker",
            dependencies: [
                .product(name: "Conveyor", package: "Conveyor"),
                .product(name: "ConveyorSQS", package: "Conveyor"),
                .product(name: "ConveyorRabbitMQ", package: "Conveyor"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
