import Foundation

#if canImport(FoundationXML)
import FoundationXML
#endif

/// The text of the leaf elements of an STS answer (`AccessKeyId`, `Expiration`, `Code`, `Message`...), read with
/// Foundation's `XMLParser`. STS answers are small and flat enough that the first element of a name is the one
/// wanted. An answer that is not XML, or larger than 1 MiB, reads as empty. External entities are not resolved.
struct STSXMLDocument {
    private var texts: [String: String] = [:]

    init(_ bytes: [UInt8]) {
        guard bytes.count <= 1 << 20 else { return }
        let collector = Collector()
        let parser = XMLParser(data: Data(bytes))
        parser.shouldResolveExternalEntities = false
        parser.delegate = collector
        guard parser.parse() else { return }
        texts = collector.texts
    }

    /// The text of the first element named `name` (trimmed), or `nil`.
    func first(_ name: String) -> String? { texts[name] }

    private final class Collector: NSObject, XMLParserDelegate {
        var texts: [String: String] = [:]
        private var text = ""

        func parser(_ parser: XMLParser, didStartElement elementName: String, namespaceURI: String?, qualifiedName: String?, attributes: [String: String] = [:]) {
            text = ""
        }

        func parser(_ parser: XMLParser, foundCharacters string: String) {
            text += string
        }

        func parser(_ parser: XMLParser, didEndElement elementName: String, namespaceURI: String?, qualifiedName: String?) {
            let trimmed = text.trimmingCharacters(in: .whitespacesAndNewlines)
            if texts[elementName] == nil, !trimmed.isEmpty { texts[elementName] = trimmed }
            text = ""
        }
    }
}
