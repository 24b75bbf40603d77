import Conveyor
import Foundation

/// The JSON document both the container endpoint and IMDS return.
enum CredentialsJSON {
    static func parse(_ body: [UInt8], source: String) throws(ConveyorError) -> AWSCredentials {
        guard let object = (try? JSONSerialization.jsonObject(with: Data(body))) as? [String: Any] else {
            throw ConveyorError(.invalidConfiguration, "\(source): response is not a JSON object")
        }
        guard let key = object["AccessKeyId"] as? String, let secret = object["SecretAccessKey"] as? String else {
            throw ConveyorError(.invalidConfiguration, "\(source): response lacks AccessKeyId or SecretAccessKey")
        }
        let token = object["Token"] as? String
        let expiration = (object["Expiration"] as? String).flatMap { ISO8601DateFormatter().date(from: $0) }
        return AWSCredentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token, expiration: expiration)
    }
}
