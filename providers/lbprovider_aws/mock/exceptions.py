"""The errors the AWS mock itself answers with, one class per AWS error code.

Everything else (``LoadBalancerNotFound``, ``DuplicateTargetGroupName``...) is
moto's own answer, passed through unchanged; injected faults are the kit's
``MockApiError`` with the code the test asked for.  ``responses.AwsFrontend``
renders each in the service's XML error shape.
"""

from __future__ import annotations

from lbprovider.mockkit import MockApiError


class MissingAuthenticationToken(MockApiError):
    """No SigV4 ``Authorization`` header."""

    code = "MissingAuthenticationToken"
    status = 403
    message = "Request is missing Authentication Token"


class InvalidClientTokenId(MockApiError):
    """elbv2: the access key is not the mock's."""

    code = "InvalidClientTokenId"
    status = 403
    message = "The security token included in the request is invalid."


class AuthFailure(MockApiError):
    """ec2: the access key is not the mock's, or the signature does not match."""

    code = "AuthFailure"
    status = 401
    message = "AWS was not able to validate the provided access credentials"


class SignatureDoesNotMatch(MockApiError):
    """elbv2: the signature does not match the request, or it has expired."""

    code = "SignatureDoesNotMatch"
    status = 403
    message = "The request signature we calculated does not match the signature you provided."


class RequestExpired(MockApiError):
    """ec2: ``X-Amz-Date`` is more than 15 minutes away from the mock's clock."""

    code = "RequestExpired"
    status = 400
    message = "Request has expired."


# -- semantic rules (:mod:`.rules`): the error shapes botocore's elbv2 model names -----------


class ValidationError(MockApiError):
    """A value outside the range the API reference states (botocore checks only minima)."""

    code = "ValidationError"


class InvalidConfigurationRequest(MockApiError):
    """elbv2 ``InvalidConfigurationRequestException``: the requested configuration is not valid."""

    code = "InvalidConfigurationRequest"


class DuplicateLoadBalancerName(MockApiError):
    """elbv2 ``DuplicateLoadBalancerNameException``."""

    code = "DuplicateLoadBalancerName"
    message = "A load balancer with the specified name already exists."


class DuplicateListener(MockApiError):
    """elbv2 ``DuplicateListenerException``."""

    code = "DuplicateListener"
    message = "A listener with the specified port already exists."


class InvalidTarget(MockApiError):
    """elbv2 ``InvalidTargetException``: a target does not exist or cannot be registered."""

    code = "InvalidTarget"
