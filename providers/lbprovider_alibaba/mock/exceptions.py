"""API errors of the mock (SLB and ECS): one class per error code, with Alibaba's HTTP status.

The response body is Alibaba's ``{"RequestId","HostId","Code","Message"}``;
the SDK turns it into ``aliyunsdkcore.acs_exception.exceptions.ServerException``.
"""

from __future__ import annotations

from typing import ClassVar


class SlbError(Exception):
    """A failed SLB API call; subclasses fix ``code`` and ``status``."""

    code: ClassVar[str] = "InternalError"
    status: ClassVar[int] = 500
    default_message: ClassVar[str] = "The request processing has failed due to some unknown error."

    def __init__(self, message: str | None = None) -> None:
        self.message = message or self.default_message
        super().__init__(f"{self.code}: {self.message}")


class InternalError(SlbError):
    """An unexpected failure (500)."""


class ServiceUnavailable(SlbError):
    """A temporary server failure (503), used by fault injection."""

    code = "ServiceUnavailable"
    status = 503
    default_message = "The request has failed due to a temporary failure of the server."


class ThrottlingUser(SlbError):
    """User flow control (400 on SLB)."""

    code = "Throttling.User"
    status = 400
    default_message = "Request was denied due to user flow control."


class Throttling(SlbError):
    """API flow control; SLB answers 503 for it."""

    code = "Throttling"
    status = 503
    default_message = "Request was denied due to request throttling."


class SignatureDoesNotMatch(SlbError):
    """The HMAC-SHA1 signature is wrong.

    The message ends with ``:<string to sign>`` like Alibaba's: the SDK compares it
    with its own and reports ``InvalidAccessKeySecret`` when they are equal.
    """

    code = "SignatureDoesNotMatch"
    status = 400
    default_message = "Specified signature is not matched with our calculation."


class InvalidAccessKeyIdNotFound(SlbError):
    """The AccessKeyId is unknown."""

    code = "InvalidAccessKeyId.NotFound"
    status = 404
    default_message = "Specified access key is not found."


class InvalidTimeStampExpired(SlbError):
    """The Timestamp is more than 15 minutes away from the server clock."""

    code = "InvalidTimeStamp.Expired"
    status = 400
    default_message = "Specified time stamp or date value is expired."


class InvalidTimeStampFormat(SlbError):
    """The Timestamp is not ``YYYY-MM-DDThh:mm:ssZ``."""

    code = "InvalidTimeStamp.Format"
    status = 400
    default_message = "Specified time stamp or date value is not well formatted."


class SignatureNonceUsed(SlbError):
    """The SignatureNonce was already used (a replay)."""

    code = "SignatureNonceUsed"
    status = 400
    default_message = "Specified signature nonce was used already."


class IncompleteSignature(SlbError):
    """A signature parameter is missing or unsupported."""

    code = "IncompleteSignature"
    status = 400
    default_message = "The request signature does not conform to Aliyun standards."


class MissingParameter(SlbError):
    """A mandatory parameter is absent."""

    code = "MissingParameter"
    status = 400

    def __init__(self, name: str) -> None:
        super().__init__(
            f'The input parameter "{name}" that is mandatory for processing this request '
            "is not supplied."
        )


class InvalidParameter(SlbError):
    """A parameter is malformed or refers to something that does not exist."""

    code = "InvalidParameter"
    status = 400
    default_message = "The specified parameter is not valid."


class InvalidVersion(SlbError):
    """The API Version is neither SLB's 2014-05-15 nor ECS's 2014-05-26."""

    code = "InvalidVersion"
    status = 400
    default_message = "Specified parameter Version is not valid."


class InvalidActionNotFound(SlbError):
    """The Action is not an SLB API (or not one the mock implements)."""

    code = "InvalidAction.NotFound"
    status = 404
    default_message = "Specified api is not found, please check your url and method."


class InvalidLoadBalancerIdNotFound(SlbError):
    """No load balancer with that id."""

    code = "InvalidLoadBalancerId.NotFound"
    status = 400
    default_message = "The specified LoadBalancerId does not exist."


class VServerGroupNotFound(SlbError):
    """No VServerGroup with that id (SLB reports it as an InvalidParameter)."""

    code = "InvalidParameter.VServerGroupId"
    status = 400
    default_message = "The specified VServerGroupId does not exist."


class ListenerNotFound(SlbError):
    """No listener on that port and protocol."""

    code = "InvalidParameter.ListenerNotExist"
    status = 400
    default_message = "The specified resource does not exist."


class ListenerAlreadyExists(SlbError):
    """A listener already uses that port for that protocol."""

    code = "ListenerAlreadyExists"
    status = 400
    default_message = "The listener already exists."


class RspoolVipExist(SlbError):
    """A VServerGroup still used by a listener cannot be deleted."""

    code = "RspoolVipExist"
    status = 400
    default_message = "There are vips associating with this vServer group."


class BackendServerNotExist(SlbError):
    """A backend ServerId is not a known ECS instance or ENI of the VPC."""

    code = "InvalidBackendServers.ServerIdNotExist"
    status = 400
    default_message = "The specified backend server does not exist."


class VSwitchIdNotFound(SlbError):
    """The VSwitchId is unknown, or missing for an intranet load balancer."""

    code = "InvalidVSwitchId.NotFound"
    status = 400
    default_message = "The specified VSwitchId does not exist."


class VpcIdNotFound(SlbError):
    """The VpcId is unknown."""

    code = "InvalidVpcId.NotFound"
    status = 400
    default_message = "The specified VpcId does not exist."


class InvalidAddress(SlbError):
    """The requested Address is not inside the vSwitch CIDR."""

    code = "InvalidParameter.Address"
    status = 400
    default_message = "The specified Address is not in the CIDR block of the vSwitch."


class AddressAlreadyUsed(SlbError):
    """The requested Address is already taken."""

    code = "InvalidIpAddress.AlreadyUsed"
    status = 400
    default_message = "The specified Address is already used."


class DeleteProtectionEnabled(SlbError):
    """DeleteLoadBalancer refused while deletion protection is on."""

    code = "OperationDenied.LoadBalancerDeleteProtection"
    status = 400
    default_message = "The load balancer cannot be deleted while its deletion protection is on."


class BackendServerDuplicated(SlbError):
    """The same (server, port) twice in one group."""

    code = "BackendServer.Duplicated"
    status = 400
    default_message = "The backend server with the same port already exists in the group."


#: Codes an admin fault may inject, by name.
FAULTS: dict[str, type[SlbError]] = {
    cls.code: cls for cls in (Throttling, ThrottlingUser, ServiceUnavailable, InternalError)
}
