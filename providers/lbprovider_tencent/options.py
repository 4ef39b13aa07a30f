"""The Service annotations the Tencent provider reads, parsed once into :class:`Options`.

Pure (no SDK): a malformed annotation is :class:`InvalidService` with a reason
that names it, before any cloud call.

- ``service.kubernetes.io/qcloud-loadbalancer-internal-subnetid: subnet-...``:
  an internal (``INTERNAL``) CLB in that subnet; ``loadBalancerIP`` is then
  honoured as its VIP.
- ``service.kubernetes.io/tke-existed-lbid: lb-...``: reuse an existing CLB;
  only our own listeners are ever touched there, and it is never deleted.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lbprovider.cloud import InvalidService, ServiceRef

ANNOTATION_INTERNAL_SUBNET = "service.kubernetes.io/qcloud-loadbalancer-internal-subnetid"
ANNOTATION_EXISTED_LBID = "service.kubernetes.io/tke-existed-lbid"
_SUBNET_ID = re.compile(r"^subnet-[0-9a-z]+$")
_LB_ID = re.compile(r"^lb-[0-9a-z]+$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What one Service's annotations ask of CLB."""

    internal_subnet: str | None = None
    """The subnet of an internal CLB; None for a public (``OPEN``) one."""
    reuse_lb_id: str | None = None
    """An existing CLB to put the listeners on; None to create our own."""


def parse_options(ref: ServiceRef) -> Options:
    """The options of ``ref``; InvalidService when an annotation is malformed."""
    subnet = ref.annotation(ANNOTATION_INTERNAL_SUBNET)
    if subnet is not None and not _SUBNET_ID.match(subnet):
        raise InvalidService(
            f"annotation {ANNOTATION_INTERNAL_SUBNET} must be a subnet id like subnet-abcd1234, "
            f"got {subnet!r}"
        )
    reuse = ref.annotation(ANNOTATION_EXISTED_LBID)
    if reuse is not None and not _LB_ID.match(reuse):
        raise InvalidService(
            f"annotation {ANNOTATION_EXISTED_LBID} must be a CLB id like lb-abcd1234, got {reuse!r}"
        )
    return Options(internal_subnet=subnet or None, reuse_lb_id=reuse or None)


def reused_lb_id(ref: ServiceRef) -> str | None:
    """The reused CLB named by ``ref``, if well formed; never raises.

    Deletion must go on when the annotation was mangled: a malformed id names
    no CLB, so there is nothing to spare.
    """
    reuse = ref.annotation(ANNOTATION_EXISTED_LBID)
    return reuse if reuse and _LB_ID.match(reuse) else None
