import ArgumentParser
import Foundation
import Testing

@testable import conveyor

/// The command list in README.md and the `--help` output against the commands ArgumentParser actually has
/// (`ConveyorCommand.configuration.subcommands`, recursively), so that neither drifts from the code.
@Suite("conveyor CLI documentation")
struct CLIDocsTests {
    /// Every command path: `["worker"]`, `["dlq"]`, `["dlq", "list"]`, …
    static let commandPaths: [[String]] = paths(of: ConveyorCommand.self)

    static func paths(of command: any ParsableCommand.Type, prefix: [String] = []) -> [[String]] {
        command.configuration.subcommands.flatMap { subcommand -> [[String]] in
            let path = prefix + [subcommand._commandName]
            return [path] + paths(of: subcommand, prefix: path)
        }
    }

    @Test("the command tree is what this test expects to walk (a non-empty tree with nested subcommands)")
    func commandTreeIsWalked() {
        #expect(Self.commandPaths.contains(["dlq", "list"]))
        #expect(Self.commandPaths.contains(["schedule"]))
        #expect(Self.commandPaths.contains(["queue", "delete"]))
    }

    @Test("README.md's command list has exactly the commands and subcommands the CLI has")
    func readmeCommandList() throws {
        let readme = URL(fileURLWithPath: #filePath)
            .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
            .appendingPathComponent("README.md")
        let documented = try Self.documentedPaths(in: String(contentsOf: readme, encoding: .utf8))
        for path in Self.commandPaths {
            #expect(documented.contains(path), "README.md's command list (### Command line) has no `conveyor \(path.joined(separator: " "))`")
        }
        for path in documented {
            #expect(Self.commandPaths.contains(path), "README.md's command list has `conveyor \(path.joined(separator: " "))`, which the CLI does not")
        }
    }

    @Test("every command is listed in its parent's --help, and its own --help exits 0 with a usage")
    func helpListsEveryCommand() async throws {
        var helpOfParent: [[String]: CLIResult] = [:]
        for path in Self.commandPaths {
            let parent = Array(path.dropLast())
            if helpOfParent[parent] == nil { helpOfParent[parent] = try await CLIProcess.run(parent + ["--help"]) }
            let help = try #require(helpOfParent[parent])
            #expect(help.status == 0, "\(parent): \(help)")
            #expect(
                Self.listedSubcommands(inHelp: help.stdout).contains(path.last ?? ""),
                "`conveyor \((parent + ["--help"]).joined(separator: " "))` does not list \(path.last ?? "")")

            let own = try await CLIProcess.run(path + ["--help"])
            #expect(own.status == 0, "\(path): \(own)")
            #expect(own.stdout.contains("USAGE"), "\(path): \(own)")
        }
    }

    /// Command paths in the first code block of README.md's "### Command line" section: each line
    /// `conveyor NAME [SUB|SUB…] …` gives `[NAME]` and `[NAME, SUB]` for each SUB.
    static func documentedPaths(in readme: String) throws -> Set<[String]> {
        let section = try #require(readme.range(of: "### Command line"), "README.md has no ### Command line section")
        let rest = readme[section.upperBound...]
        let open = try #require(rest.range(of: "```"), "no code block in ### Command line")
        let close = try #require(rest[open.upperBound...].range(of: "```"), "unclosed code block in ### Command line")
        var paths: Set<[String]> = []
        for line in rest[open.upperBound..<close.lowerBound].split(separator: "\n") {
            let words = line.split(whereSeparator: \.isWhitespace).map(String.init)
            guard words.count >= 2, words[0] == "conveyor" else { continue }
            paths.insert([words[1]])
            if words.count >= 3, words[2].wholeMatch(of: /[a-z]+(\|[a-z]+)*/) != nil {
                for subcommand in words[2].split(separator: "|") { paths.insert([words[1], String(subcommand)]) }
            }
        }
        return paths
    }

    /// The first word of each indented line in the SUBCOMMANDS section of a help text.
    static func listedSubcommands(inHelp help: String) -> Set<String> {
        guard let start = help.range(of: "SUBCOMMANDS:") else { return [] }
        var names: Set<String> = []
        for line in help[start.upperBound...].split(separator: "\n") {
            guard line.first == " " else { break }
            if let name = line.split(whereSeparator: \.isWhitespace).first { names.insert(String(name)) }
        }
        return names
    }
}
