// swift-tools-version:6.1
import PackageDescription

// A Hummingbird app that enqueues a job from `POST /signup`, starts report jobs from a page (`GET /`, `POST /jobs`)
// whose progress and result it streams to the browser as server-sent events (`GET /jobs/{id}/events`), and runs
// Conveyor workers in the same ServiceGroup as the HTTP server. Build: `swift build --package-path
// Examples/HummingbirdApp`; the browser test: `scripts/browser-test.sh`.
let package = Package(
    name: "HummingbirdApp",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Conveyor", path: "../.."),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    targets: [
        .executableTarget(
            name: "HummingbirdApp",
            dependencies: [
                .product(name: "Conveyor", package: "Conveyor"),
                .product(name: "ConveyorSQS", package: "Conveyor"),
                .product(name: "ConveyorRabbitMQ", package: "Conveyor"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
