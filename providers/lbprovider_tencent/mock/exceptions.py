"""CLB API errors, one class per Tencent Cloud error code (moto style).

Every error travels as HTTP 200 with ``{"Response": {"Error": {"Code",
"Message"}, "RequestId"}}``, like the real API; ``responses`` renders them,
and injected faults (``lbprovider.mockkit``) take the same shape.
"""

from __future__ import annotations

from lbprovider.mockkit import MockApiError


class ClbError(MockApiError):
    """Base of every error the mock CLB answers with; ``code`` is Tencent's error code."""

    code = "InternalError"
    message = "An internal error has occurred. Retry your request."


class SignatureFailureError(ClbError):
    code = "AuthFailure.SignatureFailure"
    message = (
        "The provided credentials could not be validated. Please check your signature is correct."
    )


class SecretIdNotFoundError(ClbError):
    code = "AuthFailure.SecretIdNotFound"
    message = "The SecretId is not found, please ensure that your SecretId is correct."


class SignatureExpireError(ClbError):
    code = "AuthFailure.SignatureExpire"
    message = "Signature expired. Timestamp is out of the allowed window of 300 seconds."


class InvalidAuthorizationError(ClbError):
    code = "AuthFailure.InvalidAuthorization"
    message = "Authorization header is malformed or missing."


class InvalidActionError(ClbError):
    code = "InvalidAction"
    message = "The requested action does not exist."


class UnsupportedVersionError(ClbError):
    code = "NoSuchVersion"
    message = "The requested API version does not exist."


class UnsupportedRegionError(ClbError):
    code = "UnsupportedRegion"
    message = "The region is not supported by this endpoint."


class MissingParameterError(ClbError):
    code = "MissingParameter"


class UnknownParameterError(ClbError):
    """A parameter the action does not define (common code "UnknownParameter: 未知参数错误")."""

    code = "UnknownParameter"


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
    message = "The load balancer has a task in progress; retry when it finishes."


class TargetNumCheckRiskError(ClbError):
    """DeleteLoadBalancer of a CLB with 20+ bound backends without ``ForceDelete``."""

    code = "FailedOperation.TargetNumCheckRisk"
    message = (
        "Deleting a load balancer with 20 or more bound real servers is high risk; "
        "pass ForceDelete=true to delete it."
    )


class ClientTokenLimitExceededError(ClbError):
    """A ClientToken whose creation failed (or went stale) is used again."""

    code = "InvalidParameter.ClientTokenLimitExceeded"
    message = "The ClientToken has expired: its order ended without delivering the resource."


class RequestLimitExceededError(ClbError):
    code = "RequestLimitExceeded"
    message = "Your request rate exceeds the limit."


class InternalServerError(ClbError):
    code = "InternalError"
