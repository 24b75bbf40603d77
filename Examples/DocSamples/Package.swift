// swift-tools-version:6.1
import Foundation
import PackageDescription

// The Swift samples of README.md, docs/*.md and the DocC articles, one module per document, generated into
// Sources/ by scripts/doc-samples.py (not checked in). Build: `scripts/build-examples.sh`, which generates them first.
let sources = Context.packageDirectory + "/Sources"
let modules = ((try? FileManager.default.contentsOfDirectory(atPath: sources)) ?? []).filter { $0.hasPrefix("Sample_") }.sorted()

let package = Package(
    name: "DocSamples",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Conveyor", path: "../.."),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
    ],
    // Executable targets: a document's samples are one script (top-level code in main.swift).
    targets: modules.map { name in
        .executableTarget(
            name: name,
            dependencies: [
                .product(name: "Conveyor", package: "Conveyor"),
                .product(name: "ConveyorTesting", package: "Conveyor"),
                .product(name: "ConveyorSQS", package: "Conveyor"),
                .product(name: "ConveyorRabbitMQ", package: "Conveyor"),
                .product(name: "ConveyorDashboard", package: "Conveyor"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            // A sample that compiles only with a warning (a deprecated API, an unused result) is wrong too.
            swiftSettings: [.unsafeFlags(["-warnings-as-errors"])]
        )
    },
    swiftLanguageModes: [.v6]
)
