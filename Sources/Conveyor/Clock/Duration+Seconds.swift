extension Duration {
    /// The duration in seconds, as a `Double` (for `Date` arithmetic and broker fields in seconds). For the
    /// package's own use: a public extension of a standard-library type would leak into every importer.
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }
}
