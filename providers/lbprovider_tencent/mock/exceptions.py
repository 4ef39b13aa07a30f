"""CLB API errors, one class per Tencent Cloud error code (moto style).

Every error travels as HTTP 200 with ``{"Response": {"Error": {"Code",
"Message"}, "RequestId"}}``, like the real API; ``responses`` renders them.
"""

from __future__ import annotations


class ClbError(Exception):
    """Base of every error the mock answers with; ``code`` is Tencent's error code."""

    code = "InternalError"
    default_message = "An internal error has occurred. Retry your request."

    def __init__(self, message: str | None = None) -> None:
        super().__init__(message or self.default_message)
        self.message = message or self.default_message


class SignatureFailureError(ClbError):
    code = "AuthFailure.SignatureFailure"
    default_message = (
        "The provided credentials could not be validated. Please check your signature is correct."
    )


class SecretIdNotFoundError(ClbError):
    code = "AuthFailure.SecretIdNotFound"
    default_message = "The SecretId is not found, please ensure that your SecretId is correct."


class SignatureExpireError(ClbError):
    code = "AuthFailure.SignatureExpire"
    default_message = "Signature expired. Timestamp is out of the allowed window of 300 seconds."


class InvalidAuthorizationError(ClbError):
    code = "AuthFailure.InvalidAuthorization"
    default_message = "Authorization header is malformed or missing."


class InvalidActionError(ClbError):
    code = "InvalidAction"
    default_message = "The requested action does not exist."


class UnsupportedVersionError(ClbError):
    code = "NoSuchVersion"
    default_message = "The requested API version does not exist."


class UnsupportedRegionError(ClbError):
    code = "UnsupportedRegion"
    default_message = "The region is not supported by this endpoint."


class MissingParameterError(ClbError):
    code = "MissingParameter"


class InvalidParameterError(ClbError):
    code = "InvalidParameter"


class InvalidParameterFormatError(ClbError):
    code = "InvalidParameter.FormatError"


class InvalidParameterValueError(ClbError):
    code = "InvalidParameterValue"


class PortCheckFailedError(ClbError):
    code = "InvalidParameter.PortCheckFailed"


class LBIdNotFoundError(ClbError):
    code = "InvalidParameter.LBIdNotFound"


class ListenerIdNotFoundError(ClbError):
    code = "InvalidParameter.ListenerIdNotFound"


class ResourceNotFoundError(ClbError):
    code = "ResourceNotFound"


class ResourceInOperatingError(ClbError):
    code = "FailedOperation.ResourceInOperating"
    default_message = "The load balancer has a task in progress; retry when it finishes."


class RequestLimitExceededError(ClbError):
    code = "RequestLimitExceeded"
    default_message = "Your request rate exceeds the limit."


class InternalServerError(ClbError):
    code = "InternalError"


ERRORS_BY_CODE: dict[str, type[ClbError]] = {
    cls.code: cls
    for cls in (
        SignatureFailureError,
        SecretIdNotFoundError,
        SignatureExpireError,
        InvalidAuthorizationError,
        InvalidActionError,
        UnsupportedVersionError,
        UnsupportedRegionError,
        MissingParameterError,
        InvalidParameterError,
        InvalidParameterFormatError,
        InvalidParameterValueError,
        PortCheckFailedError,
        LBIdNotFoundError,
        ListenerIdNotFoundError,
        ResourceNotFoundError,
        ResourceInOperatingError,
        RequestLimitExceededError,
        InternalServerError,
    )
}


def error_for(code: str, message: str | None = None) -> ClbError:
    """An error instance for ``code`` (admin fault injection); unknown codes keep their code."""
    cls = ERRORS_BY_CODE.get(code)
    if cls is not None:
        return cls(message)
    error = ClbError(message or f"injected {code}")
    error.code = code
    return error
