/// Redacted views of credentials and of the environments credential providers read, for descriptions and
/// reflection (`String(describing:)`, string interpolation, `dump`): names only, never a value.
enum CredentialsRedaction {
    /// What stands in for a secret value.
    static let placeholder = "<redacted>"

    /// The variables among `names` that are set in `environment`, each with a redacted value. Other variables
    /// (the rest of the process environment) are left out.
    static func environment(_ environment: [String: String], reading names: [String]) -> [String: String] {
        var shown: [String: String] = [:]
        for name in names where environment[name] != nil {
            shown[name] = placeholder
        }
        return shown
    }

    /// `[NAME: <redacted>, ...]` for the variables among `names` that are set, in the order of `names`.
    static func describeEnvironment(_ environment: [String: String], reading names: [String]) -> String {
        let set = names.filter { environment[$0] != nil }
        if set.isEmpty { return "[:]" }
        return "[" + set.map { "\($0): \(placeholder)" }.joined(separator: ", ") + "]"
    }
}
