"""API errors of the mock (SLB and ECS): one class per error code, with Alibaba's HTTP status.

Each is a :class:`~lbprovider.mockkit.MockApiError`; the frontend
(``responses.py``) renders it as Alibaba's ``{"RequestId","HostId","Code","Message"}``
with ``Content-Type: application/json;charset=utf-8``, which the SDK turns into
``aliyunsdkcore.acs_exception.exceptions.ServerException``.
"""

from __future__ import annotations

from lbprovider.mockkit import MockApiError


class InternalError(MockApiError):
    """An unexpected failure (500)."""

    code = "InternalError"
    status = 500
    message = "The request processing has failed due to some unknown error."


class ServiceUnavailable(MockApiError):
    """A temporary server failure (503), used by fault injection."""

    code = "ServiceUnavailable"
    status = 503
    message = "The request has failed due to a temporary failure of the server."


class ThrottlingUser(MockApiError):
    """User flow control (400 on SLB)."""

    code = "Throttling.User"
    status = 400
    message = "Request was denied due to user flow control."


class Throttling(MockApiError):
    """API flow control; SLB answers 503 for it."""

    code = "Throttling"
    status = 503
    message = "Request was denied due to request throttling."


class SignatureDoesNotMatch(MockApiError):
    """The HMAC-SHA1 signature is wrong.

    The message ends with ``:<string to sign>`` like Alibaba's: the SDK compares it
    with its own and reports ``InvalidAccessKeySecret`` when they are equal.
    """

    code = "SignatureDoesNotMatch"
    status = 400
    message = "Specified signature is not matched with our calculation."


class InvalidAccessKeyIdNotFound(MockApiError):
    """The AccessKeyId is unknown."""

    code = "InvalidAccessKeyId.NotFound"
    status = 404
    message = "Specified access key is not found."


class InvalidTimeStampExpired(MockApiError):
    """The Timestamp is more than 15 minutes away from the server clock."""

    code = "InvalidTimeStamp.Expired"
    status = 400
    message = "Specified time stamp or date value is expired."


class InvalidTimeStampFormat(MockApiError):
    """The Timestamp is not ``YYYY-MM-DDThh:mm:ssZ``."""

    code = "InvalidTimeStamp.Format"
    status = 400
    message = "Specified time stamp or date value is not well formatted."


class SignatureNonceUsed(MockApiError):
    """The SignatureNonce was already used (a replay)."""

    code = "SignatureNonceUsed"
    status = 400
    message = "Specified signature nonce was used already."


class IncompleteSignature(MockApiError):
    """A signature parameter is missing or unsupported."""

    code = "IncompleteSignature"
    status = 400
    message = "The request signature does not conform to Aliyun standards."


class MissingParameter(MockApiError):
    """A mandatory parameter is absent."""

    code = "MissingParameter"
    status = 400

    def __init__(self, name: str) -> None:
        super().__init__(
            f'The input parameter "{name}" that is mandatory for processing this request '
            "is not supplied."
        )


class InvalidParameter(MockApiError):
    """A parameter is malformed or refers to something that does not exist."""

    code = "InvalidParameter"
    status = 400
    message = "The specified parameter is not valid."


class InvalidVersion(MockApiError):
    """The API Version is neither SLB's 2014-05-15 nor ECS's 2014-05-26."""

    code = "InvalidVersion"
    status = 400
    message = "Specified parameter Version is not valid."


class InvalidActionNotFound(MockApiError):
    """The Action is not an SLB API (or not one the mock implements)."""

    code = "InvalidAction.NotFound"
    status = 404
    message = "Specified api is not found, please check your url and method."


class InvalidLoadBalancerIdNotFound(MockApiError):
    """No load balancer with that id."""

    code = "InvalidLoadBalancerId.NotFound"
    status = 400
    message = "The specified LoadBalancerId does not exist."


class VServerGroupNotFound(MockApiError):
    """No VServerGroup with that id (SLB reports it as an InvalidParameter)."""

    code = "InvalidParameter.VServerGroupId"
    status = 400
    message = "The specified VServerGroupId does not exist."


class ListenerNotFound(MockApiError):
    """No listener on that port and protocol."""

    code = "InvalidParameter.ListenerNotExist"
    status = 400
    message = "The specified resource does not exist."


class ListenerAlreadyExists(MockApiError):
    """A listener already uses that port for that protocol."""

    code = "ListenerAlreadyExists"
    status = 400
    message = "The listener already exists."


class RspoolVipExist(MockApiError):
    """A VServerGroup still used by a listener cannot be deleted."""

    code = "RspoolVipExist"
    status = 400
    message = "There are vips associating with this vServer group."


class BackendServerNotExist(MockApiError):
    """A backend ServerId is not a known ECS instance or ENI of the VPC."""

    code = "InvalidBackendServers.ServerIdNotExist"
    status = 400
    message = "The specified backend server does not exist."


class VSwitchIdNotFound(MockApiError):
    """The VSwitchId is unknown, or missing for an intranet load balancer."""

    code = "InvalidVSwitchId.NotFound"
    status = 400
    message = "The specified VSwitchId does not exist."


class VpcIdNotFound(MockApiError):
    """The VpcId is unknown."""

    code = "InvalidVpcId.NotFound"
    status = 400
    message = "The specified VpcId does not exist."


class InvalidAddress(MockApiError):
    """The requested Address is not inside the vSwitch CIDR."""

    code = "InvalidParameter.Address"
    status = 400
    message = "The specified Address is not in the CIDR block of the vSwitch."


class AddressAlreadyUsed(MockApiError):
    """The requested Address is already taken."""

    code = "InvalidIpAddress.AlreadyUsed"
    status = 400
    message = "The specified Address is already used."


class DeleteProtectionEnabled(MockApiError):
    """DeleteLoadBalancer refused while deletion protection is on.

    Code and message from the DeleteLoadBalancer API reference (2014-05-15): "If the SLB
    instance that you want to delete has deletion protection enabled, the system reports
    an error"; the OpenAPI metadata's errorCodes list it too.
    """

    code = "OperationDenied.DeleteProtectionIsOn"
    status = 400
    message = "The loadbalancer can't be deleted due to DeleteProtection is enabled."


class ServiceIsConfiguring(MockApiError):
    """A write on a load balancer whose previous change is still being applied.

    SLB's common error codes: "400 ServiceIsConfiguring: A previous configuration is
    pending; please try again later." (terraform-provider-alicloud retries it as busy).
    """

    code = "ServiceIsConfiguring"
    status = 400
    message = "A previous configuration is pending; please try again later."


class MissingParamLoadBalancerSpec(MockApiError):
    """CreateLoadBalancer pay-by-specification (the default) without LoadBalancerSpec.

    CreateLoadBalancer errorCodes (OpenAPI metadata, Slb 2014-05-15); the field doc of
    LoadBalancerSpec: shared-resource instances are no longer sold, "you must specify
    this parameter" unless InstanceChargeType is PayByCLCU.
    """

    code = "MissingParam.LoadBalancerSpec"
    status = 400
    message = "The param LoadBalancerSpec is required."


class IllegalParamInstanceChargeType(MockApiError):
    """CreateLoadBalancer InstanceChargeType other than PayBySpec / PayByCLCU."""

    code = "IllegalParam.InstanceChargeType"
    status = 400
    message = "The parameter InstanceChargeType is illegal."


class OverQuota(MockApiError):
    """CreateLoadBalancer beyond the account's instance quota.

    CreateLoadBalancer errorCodes (OpenAPI metadata, Slb 2014-05-15): ``OverQuota`` "The
    Total is over the quota"; there is no ``QuotaExceeded.LoadBalancer`` in SLB's list.
    """

    code = "OverQuota"
    status = 400
    message = "The Total is over the quota"


class BackendServerDuplicated(MockApiError):
    """The same (server, port) twice in one group."""

    code = "BackendServer.Duplicated"
    status = 400
    message = "The backend server with the same port already exists in the group."


def _all_errors() -> dict[str, type[MockApiError]]:
    found: dict[str, type[MockApiError]] = {}
    for value in list(globals().values()):
        if (
            isinstance(value, type)
            and issubclass(value, MockApiError)
            and value is not MockApiError
        ):
            found[value.code] = value
    return found


BY_CODE: dict[str, type[MockApiError]] = _all_errors()
"""Error class by Alibaba code: tests inject faults with the status the cloud uses."""
