// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "Conveyor",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "Conveyor", targets: ["Conveyor"]),
        .library(name: "ConveyorTesting", targets: ["ConveyorTesting"]),
        .library(name: "ConveyorSQS", targets: ["ConveyorSQS"]),
        .library(name: "ConveyorRabbitMQ", targets: ["ConveyorRabbitMQ"]),
        .library(name: "ConveyorDashboard", targets: ["ConveyorDashboard"]),
        .executable(name: "conveyor", targets: ["conveyor"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.6.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-crypto.git", "3.12.3"..<"5.0.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        // The dashboard's pages: logic-less templates that HTML-escape every value by default.
        .package(url: "https://github.com/hummingbird-project/swift-mustache.git", from: "2.1.1"),
        // Tests only: TestClock, a clock that moves when the test says (worker, provider and scheduler timing).
        .package(url: "https://github.com/pointfreeco/swift-clocks.git", from: "1.1.1"),
    ],
    targets: [
        // MARK: Core
        .target(
            name: "Conveyor",
            dependencies: [
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "HeapModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .target(
            name: "ConveyorTesting",
            dependencies: ["Conveyor"]
        ),

        // MARK: SQS
        .systemLibrary(
            name: "CCurl",
            pkgConfig: "libcurl",
            providers: [.apt(["libcurl4-openssl-dev"]), .brew(["curl"])]
        ),
        .target(
            name: "ConveyorSQS",
            dependencies: [
                "Conveyor",
                "CCurl",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Metrics", package: "swift-metrics"),
            ]
        ),

        // MARK: RabbitMQ
        .systemLibrary(
            name: "CRabbitMQ",
            pkgConfig: "librabbitmq",
            providers: [.apt(["librabbitmq-dev"]), .brew(["rabbitmq-c"])]
        ),
        .target(
            name: "ConveyorRabbitMQ",
            dependencies: [
                "Conveyor",
                "CRabbitMQ",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
            ]
        ),

        // MARK: Dashboard
        .target(
            name: "ConveyorDashboard",
            dependencies: [
                "Conveyor",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Mustache", package: "swift-mustache"),
            ]
        ),

        // MARK: Command line
        .executableTarget(
            name: "conveyor",
            dependencies: [
                "Conveyor",
                "ConveyorSQS",
                "ConveyorRabbitMQ",
                "ConveyorDashboard",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
            ]
        ),

        // MARK: Tests
        .testTarget(
            name: "ConveyorTests",
            dependencies: [
                "Conveyor", "ConveyorTesting",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "MetricsTestKit", package: "swift-metrics"),
                .product(name: "Clocks", package: "swift-clocks"),
            ]
        ),
        .testTarget(
            name: "ConveyorSQSTests",
            dependencies: ["ConveyorSQS", "ConveyorTesting"],
            resources: [.copy("Resources")]
        ),
        .testTarget(
            name: "ConveyorDashboardTests",
            dependencies: ["ConveyorDashboard", "Conveyor", .product(name: "Hummingbird", package: "hummingbird")]
        ),
        .testTarget(
            name: "ConveyorCLITests",
            dependencies: ["conveyor"]
        ),
        .testTarget(
            name: "ConveyorRabbitMQTests",
            dependencies: ["ConveyorRabbitMQ", "ConveyorTesting"]
        ),
        // Fault injection against the real brokers and the built `conveyor` binary, plus bounded fuzzing. Run it
        // in its own pass: `swift test --filter ConveyorReliabilityTests` (see scripts/reliability-test.sh).
        .testTarget(
            name: "ConveyorReliabilityTests",
            dependencies: ["Conveyor", "ConveyorTesting", "ConveyorSQS", "ConveyorRabbitMQ"],
            resources: [.copy("Resources")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
