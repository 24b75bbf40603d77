import Foundation

/// Parses the INI-style AWS shared credentials and config files.
enum AWSConfigFile {
    /// Profiles and their keys (lower-cased), or an empty dictionary when the file cannot be read. In the config
    /// file, sections are `[profile name]` (and `[default]`); in the credentials file, `[name]`.
    static func load(_ path: String, isConfig: Bool) -> [String: [String: String]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        return parse(text, isConfig: isConfig)
    }

    /// The `[sso-session name]` sections of the config file at `path`, by name.
    static func ssoSessions(_ path: String) -> [String: [String: String]] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        return parse(text, isConfig: true, sectionPrefix: "sso-session ")
    }

    /// The sections of `text`: in the config file (`isConfig`), those named `[<sectionPrefix>name]` (and, for
    /// profiles, `[default]`); in the credentials file, `[name]`.
    static func parse(_ text: String, isConfig: Bool, sectionPrefix: String = "profile ") -> [String: [String: String]] {
        var result: [String: [String: String]] = [:]
        var current: String?
        for rawLine in text.split(omittingEmptySubsequences: true, whereSeparator: \.isNewline) {
            let line = rawLine.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("[") {
                guard let close = line.firstIndex(of: "]") else { current = nil; continue }
                var name = line[line.index(after: line.startIndex)..<close].trimmingCharacters(in: .whitespaces)
                if isConfig {
                    if name.hasPrefix(sectionPrefix) {
                        name = String(name.dropFirst(sectionPrefix.count)).trimmingCharacters(in: .whitespaces)
                    } else if name != "default" || sectionPrefix != "profile " {
                        current = nil  // the other kinds of section (sso-session, services, profiles...)
                        continue
                    }
                }
                current = name
                if result[name] == nil { result[name] = [:] }
                continue
            }
            guard let current, let equals = line.firstIndex(of: "=") else { continue }
            if rawLine.first == " " || rawLine.first == "\t" { continue }  // nested sub-settings
            let key = line[..<equals].trimmingCharacters(in: .whitespaces).lowercased()
            var value = line[line.index(after: equals)...].trimmingCharacters(in: .whitespaces)
            if let hash = value.range(of: " #") { value = value[..<hash.lowerBound].trimmingCharacters(in: .whitespaces) }
            result[current]?[key] = value
        }
        return result
    }
}
