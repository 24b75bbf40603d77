import Conveyor
import Foundation

/// The JSON document both the container endpoint and IMDS return.
enum CredentialsJSON {
    static func parse(_ body: [UInt8], source: String) throws(ConveyorError) -> AWSCredentials {
        guard let object = try? JSONReader.read(body, limits: .init(maximumBytes: 1 << 20, maximumDepth: 16)), case .object = object else {
            throw ConveyorError(.invalidConfiguration, "\(source): response is not a JSON object")
        }
        guard let key = object["AccessKeyId"]?.string, let secret = object["SecretAccessKey"]?.string else {
            throw ConveyorError(.invalidConfiguration, "\(source): response lacks AccessKeyId or SecretAccessKey")
        }
        let token = object["Token"]?.string
        let expiration = object["Expiration"]?.string.flatMap { ISO8601DateFormatter().date(from: $0) }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token, expiration: expiration)
    }
}
