//! Cloud errors a caller can branch on, each saying what to do about it; built from
//! the SDKs' errors by their AWS error code.

use aws_sdk_eks::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};

/// Why a cloud operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CloudError {
    #[error(
        "AWS denied {action}: {message}. Grant the IAM action `{action}` to the identity upshift runs as (docs/iam.md lists what each command needs)"
    )]
    AccessDenied { action: String, message: String },
    #[error(
        "no EKS cluster named {name:?} in region {region}: check the cluster name and the region (--region, AWS_REGION or the profile's region)"
    )]
    ClusterNotFound { name: String, region: String },
    #[error("{action}: not found: {message}")]
    NotFound { action: String, message: String },
    #[error("{action}: busy: {message}. Wait for the running update or refresh to finish, then try again")]
    InUse { action: String, message: String },
    #[error("{action}: AWS refused the request ({code}): {message}")]
    Invalid {
        action: String,
        code: String,
        message: String,
    },
    #[error("{action}: AWS kept throttling the request after retries with backoff: {message}. Try again in a minute")]
    Throttled { action: String, message: String },
    #[error(
        "{action}: AWS answered with a server error on every try, retried with backoff ({code}): {message}. Try again in a minute"
    )]
    Unavailable {
        action: String,
        code: String,
        message: String,
    },
    #[error(
        "{action}: no usable AWS credentials: {message}. Set AWS_PROFILE (run `aws sso login` for SSO profiles) or AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY"
    )]
    Credentials { action: String, message: String },
    #[error("{action}: cannot reach AWS: {message}. Check the network, the region and any endpoint override")]
    Unreachable { action: String, message: String },
    #[error("no AWS region configured: pass --region, set AWS_REGION, or give the profile a region")]
    NoRegion,
    #[error("{action} failed ({code}): {message}")]
    Service {
        action: String,
        code: String,
        message: String,
    },
}

impl CloudError {
    /// Whether retrying later may help (throttling, AWS's server errors, network).
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            CloudError::Throttled { .. } | CloudError::Unavailable { .. } | CloudError::Unreachable { .. }
        )
    }
}

/// Turns an SDK error of the IAM action `action` (e.g. `eks:DescribeCluster`) into a
/// [`CloudError`].
pub fn classify<E, R>(action: &str, err: SdkError<E, R>) -> CloudError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    let action = action.to_string();
    let code = err.code().unwrap_or_default().to_string();
    let message = err
        .message()
        .map(str::to_string)
        .unwrap_or_else(|| DisplayErrorContext(&err).to_string());
    match &err {
        SdkError::ServiceError(_) => {}
        SdkError::TimeoutError(_) => return CloudError::Unreachable { action, message },
        SdkError::DispatchFailure(d) => {
            let text = DisplayErrorContext(&err).to_string();
            if d.is_io() || d.is_timeout() {
                return CloudError::Unreachable { action, message: text };
            }
            if text.to_lowercase().contains("credential") {
                return CloudError::Credentials { action, message: text };
            }
            return CloudError::Service {
                action,
                code: "DispatchFailure".into(),
                message: text,
            };
        }
        _ if code.is_empty() => {
            let text = DisplayErrorContext(&err).to_string();
            if text.to_lowercase().contains("credential") {
                return CloudError::Credentials { action, message: text };
            }
            return CloudError::Service {
                action,
                code: "ResponseError".into(),
                message: text,
            };
        }
        _ => {}
    }
    match code.as_str() {
        "AccessDeniedException"
        | "AccessDenied"
        | "UnauthorizedOperation"
        | "UnauthorizedException"
        | "NotAuthorized" => CloudError::AccessDenied { action, message },
        "UnrecognizedClientException"
        | "InvalidClientTokenId"
        | "ExpiredToken"
        | "ExpiredTokenException"
        | "InvalidSignatureException"
        | "SignatureDoesNotMatch" => CloudError::Credentials { action, message },
        "ResourceNotFoundException" | "ResourceNotFound" | "NotFoundException" => {
            CloudError::NotFound { action, message }
        }
        "ResourceInUseException" | "ResourceInUse" | "InstanceRefreshInProgress" | "ResourceContention" => {
            CloudError::InUse { action, message }
        }
        "Throttling"
        | "ThrottlingException"
        | "TooManyRequestsException"
        | "RequestLimitExceeded"
        | "RequestThrottled" => CloudError::Throttled { action, message },
        // the names AWS gives its 500s and 503s, which the SDK retried already
        "ServerException"
        | "InternalFailure"
        | "InternalError"
        | "InternalServerError"
        | "ServiceUnavailable"
        | "ServiceUnavailableException" => CloudError::Unavailable { action, code, message },
        "InvalidParameterException"
        | "InvalidRequestException"
        | "ValidationError"
        | "InvalidParameterValue"
        | "InvalidParameterCombination"
        | "ActiveInstanceRefreshNotFound"
        | "UnsupportedAvailabilityZoneException" => CloudError::Invalid { action, code, message },
        _ => CloudError::Service { action, code, message },
    }
}
