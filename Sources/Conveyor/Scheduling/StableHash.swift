/// A small, stable (process- and platform-independent) hash for names and versions. Not cryptographic.
package enum StableHash {
    /// 64-bit FNV-1a of `bytes`, starting from `basis`.
    package static func fnv1a(_ bytes: some Sequence<UInt8>, basis: UInt64 = 0xcbf2_9ce4_8422_2325) -> UInt64 {
        var hash = basis
        for byte in bytes {
            hash ^= UInt64(byte)
            hash = hash &* 0x0000_0100_0000_01b3
        }
        return hash
    }

    /// 32 lowercase hex digits: two FNV-1a hashes of `text` with different bases.
    package static func hex128(_ text: String) -> String {
        hex(fnv1a(text.utf8)) + hex(fnv1a(text.utf8, basis: 0x6c62_272e_07bb_0142))
    }

    /// 16 lowercase hex digits of `value`.
    package static func hex(_ value: UInt64) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: 16 - digits.count) + digits
    }
}
