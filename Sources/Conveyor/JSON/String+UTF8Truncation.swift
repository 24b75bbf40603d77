extension String {
    /// This text cut to at most `bytes` bytes of UTF-8 at a character boundary, ending in "…" when cut (empty when
    /// not even the ellipsis fits).
    package func truncated(toUTF8Bytes bytes: Int) -> String {
        if utf8.count <= bytes { return self }
        let ellipsis = "…"
        let budget = bytes - ellipsis.utf8.count
        guard budget > 0 else { return "" }
        var used = 0
        var end = startIndex
        for character in self {
            let length = character.utf8.count
            if used + length > budget { break }
            used += length
            end = index(after: end)
        }
        return String(self[..<end]) + ellipsis
    }
}
