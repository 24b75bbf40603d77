import Foundation

/// Reads what the documentation says about defaults: the tables of README.md, docs/*.md and the DocC articles that
/// have a `Default` column, and the doc comments of a struct's stored properties.
enum DocumentationSources {
    /// A markdown table with a `Default` column.
    struct DefaultsTable {
        /// Where it is, relative to the package root, and the line of its header.
        var file: String
        var line: Int
        /// The heading above the table.
        var heading: String
        /// Field name (the first column, without backticks) → the `Default` cell, with the line of its row.
        var rows: [(field: String, cell: String, line: Int)]
    }

    /// Every markdown document: README.md, docs/*.md, Sources/*/*.docc/*.md.
    static func markdownFiles(root: URL) -> [String] {
        var files = ["README.md"]
        let manager = FileManager.default
        let docs = ((try? manager.contentsOfDirectory(atPath: root.appendingPathComponent("docs").path)) ?? []).filter { $0.hasSuffix(".md") }
        files += docs.sorted().map { "docs/\($0)" }
        let modules = (try? manager.contentsOfDirectory(atPath: root.appendingPathComponent("Sources").path)) ?? []
        for module in modules.sorted() {
            let moduleDirectory = root.appendingPathComponent("Sources/\(module)")
            for catalog in ((try? manager.contentsOfDirectory(atPath: moduleDirectory.path)) ?? []).sorted() where catalog.hasSuffix(".docc") {
                let articles = (try? manager.contentsOfDirectory(atPath: moduleDirectory.appendingPathComponent(catalog).path)) ?? []
                files += articles.filter { $0.hasSuffix(".md") }.sorted().map { "Sources/\(module)/\(catalog)/\($0)" }
            }
        }
        return files
    }

    /// The tables of `text` whose header has a cell `Default`.
    static func defaultsTables(in text: String, file: String) -> [DefaultsTable] {
        let lines = text.components(separatedBy: "\n")
        var tables: [DefaultsTable] = []
        var heading = ""
        var index = 0
        while index < lines.count {
            let line = lines[index]
            if line.hasPrefix("#") { heading = line.trimmingCharacters(in: CharacterSet(charactersIn: "# ")) }
            guard line.hasPrefix("|"), index + 1 < lines.count, lines[index + 1].hasPrefix("|"),
                lines[index + 1].contains("---"),
                let column = cells(line).firstIndex(where: { $0.caseInsensitiveCompare("Default") == .orderedSame })
            else {
                index += 1
                continue
            }
            var table = DefaultsTable(file: file, line: index + 1, heading: heading, rows: [])
            index += 2
            while index < lines.count, lines[index].hasPrefix("|") {
                let row = cells(lines[index])
                if row.count > column {
                    table.rows.append((row[0].trimmingCharacters(in: CharacterSet(charactersIn: "`")), row[column], index + 1))
                }
                index += 1
            }
            tables.append(table)
        }
        return tables
    }

    /// The cells of a table row, trimmed (`|` inside backticks does not split).
    static func cells(_ row: String) -> [String] {
        var cells: [String] = []
        var current = ""
        var inCode = false
        for character in row.trimmingCharacters(in: .whitespaces).dropFirst() {
            if character == "`" { inCode.toggle() }
            if character == "|" && !inCode {
                cells.append(current.trimmingCharacters(in: .whitespaces))
                current = ""
            } else {
                current.append(character)
            }
        }
        return cells
    }

    /// The doc comments of the stored properties declared directly in `struct` (not in nested types), by
    /// property name, each with the line of its declaration. Only `public` and `package` properties.
    static func propertyDocComments(ofStruct name: String, in source: String) -> [String: (comment: String, line: Int)] {
        let lines = source.components(separatedBy: "\n")
        guard let start = lines.firstIndex(where: { $0.contains(try! Regex("\\bstruct \(name)\\b")) }) else { return [:] }
        var result: [String: (String, Int)] = [:]
        var depth = 0
        var comment: [String] = []
        for index in start..<lines.count {
            let line = lines[index]
            let trimmed = line.trimmingCharacters(in: .whitespaces)
            let depthBefore = depth
            depth += braceBalance(trimmed)
            if index > start, depthBefore <= 0 { break }  // the struct's closing brace was on an earlier line
            guard depthBefore == 1 else {
                if index > start { comment = [] }
                continue
            }
            if trimmed.hasPrefix("///") {
                comment.append(String(trimmed.dropFirst(3)).trimmingCharacters(in: .whitespaces))
            } else if trimmed.hasPrefix("@") {
                continue  // an attribute between the comment and the declaration
            } else {
                if let match = trimmed.firstMatch(of: /^(?:public|package)\s+(?:var|let)\s+([A-Za-z_][A-Za-z0-9_]*)\s*[:=]/) {
                    result[String(match.output.1)] = (comment.joined(separator: " "), index + 1)
                }
                comment = []
            }
        }
        return result
    }

    /// `{` minus `}` in a line of code, outside string literals and `//` comments.
    private static func braceBalance(_ line: String) -> Int {
        var balance = 0
        var inString = false
        var previous: Character = " "
        for character in line {
            if !inString, previous == "/", character == "/" { break }
            if character == "\"", previous != "\\" { inString.toggle() }
            if !inString {
                if character == "{" { balance += 1 }
                if character == "}" { balance -= 1 }
            }
            previous = character
        }
        return balance
    }

    /// The default a doc comment states: the text after `Default` (followed by `:` or a value) up to the end of its
    /// sentence, or a code span followed by `(the default)`; nil when it states none.
    static func statedDefault(in comment: String) -> String? {
        if let match = comment.firstMatch(of: /`([^`]*)`\s+\(the default\)/) {
            return "`\(match.output.1)`"
        }
        let phrase = /\bDefault(?::\s*|\s+(?=[`"×\d]|empty\b))(.*?)(?:[.;](?=\s|$)|$)/
        return comment.firstMatch(of: phrase).map { String($0.output.1) }
    }
}
