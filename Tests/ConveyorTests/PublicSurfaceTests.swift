import Foundation
import Testing

/// What the library modules make public, read from their sources: helpers shared by the package's targets are
/// `package`, and no standard-library or Foundation type gains public members (an importer would see them on every
/// `Duration`, say).
@Suite("Public surface")
struct PublicSurfaceTests {
    static let sourcesRoot = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Sources")
    static let libraryModules = ["Conveyor", "ConveyorSQS", "ConveyorRabbitMQ", "ConveyorTesting"]

    /// Every Swift file of the library modules: (path relative to Sources, lines).
    static func sources() throws -> [(path: String, lines: [Substring])] {
        var files: [(String, [Substring])] = []
        for module in libraryModules {
            let root = sourcesRoot.appendingPathComponent(module)
            let enumerator = try #require(FileManager.default.enumerator(at: root, includingPropertiesForKeys: nil))
            for case let url as URL in enumerator where url.pathExtension == "swift" {
                let text = try String(contentsOf: url, encoding: .utf8)
                files.append(("\(module)/\(url.path.dropFirst(root.path.count + 1))", text.split(separator: "\n", omittingEmptySubsequences: false)))
            }
        }
        return files.sorted { $0.0 < $1.0 }
    }

    @Test("helpers used only inside the package are not public")
    func packageHelpersAreNotPublic() throws {
        let helpers = ["JSONText", "RFC3339"]
        var found: [String] = []
        for (path, lines) in try Self.sources() {
            for (index, line) in lines.enumerated() {
                for helper in helpers where line.contains("public enum \(helper)") || line.contains("public struct \(helper)") {
                    found.append("\(path):\(index + 1): \(line.trimmingCharacters(in: .whitespaces))")
                }
            }
        }
        #expect(found.isEmpty, "declare these `package`: \(found)")
    }

    @Test("no public member is added to a type the package does not declare")
    func noPublicExtensionsOfForeignTypes() throws {
        let files = try Self.sources()
        // The types the package declares (any module, nested ones included by their last name component).
        let declaration = /(?:struct|class|enum|protocol|actor)\s+([A-Za-z_][A-Za-z0-9_]*)/
        var declared: Set<String> = []
        for (_, lines) in files {
            for line in lines {
                for match in line.matches(of: declaration) { declared.insert(String(match.1)) }
            }
        }
        let extensionLine = /^(public\s+)?extension\s+([A-Za-z_][A-Za-z0-9_.]*)/
        var found: [String] = []
        for (path, lines) in files {
            var foreign: (name: String, line: Int)?
            for (index, line) in lines.enumerated() {
                if let match = line.firstMatch(of: extensionLine) {
                    let name = String(match.2.split(separator: ".").last ?? match.2)
                    if declared.contains(name) {
                        foreign = nil
                    } else if match.1 != nil {
                        found.append("\(path):\(index + 1): public extension \(match.2)")
                    } else {
                        foreign = (String(match.2), index + 1)
                    }
                    continue
                }
                if line.hasPrefix("}") {
                    foreign = nil
                } else if let extended = foreign, line.trimmingCharacters(in: .whitespaces).hasPrefix("public ") {
                    found.append("\(path):\(index + 1): public member of \(extended.name) (extension at line \(extended.line))")
                }
            }
        }
        #expect(found.isEmpty, "make these `package` or internal: \(found)")
    }
}
