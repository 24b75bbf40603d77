extension Duration {
    /// The duration in seconds, as a `Double` (for `Date` arithmetic and broker fields in seconds). For the
    /// package's own use: a public extension of a standard-library type would leak into every importer.
    package var seconds: Double {
        let (seconds, attoseconds) = components
        return Double(seconds) + Double(attoseconds) / 1e18
    }

    /// The duration in whole nanoseconds (a fraction of a nanosecond is dropped, toward zero), saturating at the
    /// ends of `Int64` (about 292 years either way), so that no duration can trap. For the package's own use, as
    /// ``seconds``.
    package var nanoseconds: Int64 {
        // Compared first: `components` itself traps when the whole seconds do not fit in `Int64`.
        if self >= Duration.nanoseconds(Int64.max) { return .max }
        if self <= Duration.nanoseconds(Int64.min) { return .min }
        // Within those bounds neither the seconds scaled to nanoseconds nor the sum can overflow.
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
