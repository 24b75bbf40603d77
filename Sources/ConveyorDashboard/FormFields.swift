import Foundation

/// The fields of an `application/x-www-form-urlencoded` body or a query string, in order, with repeated names kept
/// (the redrive form sends one `id` per selected job).
struct FormFields: Sendable {
    var pairs: [(name: String, value: String)]

    init(body: String) { pairs = Self.parse(body) }
    init(query: String?) { pairs = Self.parse(query ?? "") }

    /// The first value of `name`.
    func first(_ name: String) -> String? { pairs.first { $0.name == name }?.value }
    /// Every value of `name`.
    func all(_ name: String) -> [String] { pairs.filter { $0.name == name }.map(\.value) }

    private static func parse(_ text: String) -> [(name: String, value: String)] {
        text.split(separator: "&").compactMap { part in
            let pieces = part.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            guard let name = decode(pieces[0]) else { return nil }
            return (name, pieces.count > 1 ? decode(pieces[1]) ?? "" : "")
        }
    }

    private static func decode(_ text: Substring) -> String? {
        text.replacingOccurrences(of: "+", with: " ").removingPercentEncoding
    }

    /// `path` with its query minus `name`; a path that would leave the site (`//host/...`) becomes `/`.
    static func path(_ path: String, without name: String, query: String?) -> String {
        let path = path.hasPrefix("/") && !path.hasPrefix("//") && !path.hasPrefix("/\\") ? path : "/"
        let kept = (query ?? "").split(separator: "&").filter { !$0.hasPrefix("\(name)=") && $0 != name }
        return kept.isEmpty ? path : path + "?" + kept.joined(separator: "&")
    }
}
