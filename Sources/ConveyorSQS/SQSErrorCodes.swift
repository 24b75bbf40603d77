import Conveyor

extension ConveyorError.Code {
    /// AWS rejected the request signature (`SignatureDoesNotMatch`, `IncompleteSignature`): check the secret
    /// access key and that no proxy rewrites signed headers.
    public static let signatureMismatch = ConveyorError.Code("signature_mismatch")
    /// AWS rejected the request time (`RequestExpired`, `RequestTimeTooSkewed`): check the machine's clock.
    public static let clockSkew = ConveyorError.Code("clock_skew")
}

extension ConveyorError {
    /// Maps an SQS error type (the `__type` suffix, or the `x-amzn-query-error` code) and HTTP status to an error.
    package static func sqs(type: String, message: String, status: Int, action: String) -> ConveyorError {
        let text = "SQS \(action) failed: \(type)\(message.isEmpty ? "" : " (\(message))")"
        switch type {
        case "QueueDoesNotExist", "AWS.SimpleQueueService.NonExistentQueue", "NonExistentQueue":
            return ConveyorError(.queueNotFound, text)
        case "QueueNameExists", "QueueAlreadyExists", "AWS.SimpleQueueService.QueueNameExists", "AWS.SimpleQueueService.QueueAlreadyExists":
            return ConveyorError(.queueAlreadyExists, text)
        case _ where AWSRetryableErrors.throttlingCodes.contains(type):
            // The AWS SDKs' throttling codes and SQS's own (`OverLimit`, `KmsThrottled`...).
            return ConveyorError(.throttled, text, retryable: true)
        case "AccessDenied", "AccessDeniedException", "InvalidClientTokenId", "UnrecognizedClientException",
             "MissingAuthenticationToken", "InvalidSecurity", "AWS.SimpleQueueService.InvalidSecurity", "ExpiredToken",
             "MissingAuthenticationTokenException", "OptInRequired", "KmsAccessDenied":
            return ConveyorError(.accessDenied, text)
        case "SignatureDoesNotMatch", "IncompleteSignature", "IncompleteSignatureException", "InvalidSignatureException":
            return ConveyorError(.signatureMismatch, text + "; check the credentials (AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or the profile) and the region")
        case "RequestExpired", "RequestTimeTooSkewed", "SignatureExpired":
            return ConveyorError(.clockSkew, text + "; check the system clock")
        case "ReceiptHandleIsInvalid", "InvalidReceiptHandle", "MessageNotInflight", "AWS.SimpleQueueService.MessageNotInflight":
            return ConveyorError(.invalidReceipt, text)
        case "InvalidParameterValue", "InvalidParameterValueException", "InvalidAttributeName", "InvalidAttributeValue",
             "MissingParameter", "ValidationException", "ValidationError", "InvalidMessageContents", "InvalidBatchEntryId",
             "AWS.SimpleQueueService.InvalidBatchEntryId", "BatchEntryIdsNotDistinct", "EmptyBatchRequest",
             "TooManyEntriesInBatchRequest", "BatchRequestTooLong", "InvalidIdFormat", "UnsupportedOperation",
             "InvalidAddress", "AWS.SimpleQueueService.UnsupportedOperation", "MalformedQueryString", "InvalidAction",
             "AWS.SimpleQueueService.BatchEntryIdsNotDistinct", "AWS.SimpleQueueService.EmptyBatchRequest",
             "AWS.SimpleQueueService.TooManyEntriesInBatchRequest", "AWS.SimpleQueueService.BatchRequestTooLong":
            return ConveyorError(.invalidParameter, text)
        case _ where AWSRetryableErrors.transientCodes.contains(type):
            // The AWS SDKs' transient codes (`RequestTimeout`, `PriorRequestNotComplete`...) and SQS's 5xx codes.
            return ConveyorError(.brokerError, text, retryable: true)
        default:
            if status == 403 { return ConveyorError(.accessDenied, text) }
            if status == 429 { return ConveyorError(.throttled, text, retryable: true) }
            return ConveyorError(.brokerError, text, retryable: status >= 500)
        }
    }
}
