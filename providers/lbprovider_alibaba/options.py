"""The Service annotations this provider reads (the Alibaba CCM's names), parsed once.

:func:`parse_options` turns a Service's annotations and the class settings
into a frozen :class:`Options`, or raises ``InvalidService`` naming the
annotation that is wrong.  Pure: no SDK, no cloud call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lbprovider.cloud import InvalidService, ServiceRef
from lbprovider_alibaba.settings import ADDRESS_TYPES, Settings

PREFIX = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
ADDRESS_TYPE = PREFIX + "address-type"
VSWITCH_ID = PREFIX + "vswitch-id"
SPEC = PREFIX + "spec"
LOADBALANCER_ID = PREFIX + "id"

_VSWITCH_RE = re.compile(r"^vsw-[a-z0-9]+$")
_LB_ID_RE = re.compile(r"^lb-[a-z0-9]+$")
_SPEC_RE = re.compile(r"^slb\.[a-z0-9]+\.[a-z0-9.]+$")


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What the annotations and class settings ask for one Service."""

    address_type: str
    vswitch_id: str | None
    spec: str | None
    reuse_id: str | None
    """An existing load balancer to reuse (never deleted by us)."""

    @property
    def intranet(self) -> bool:
        return self.address_type == "intranet"


def reuse_id(ref: ServiceRef) -> str | None:
    """The reused load balancer's id as annotated (unchecked: ``get``/``delete`` must not fail)."""
    return ref.annotation(LOADBALANCER_ID) or None


def parse_options(ref: ServiceRef, settings: Settings) -> Options:
    """Read and validate the annotations; ``InvalidService`` says which one is wrong."""
    address_type = (ref.annotation(ADDRESS_TYPE) or settings.address_type).lower()
    if address_type not in ADDRESS_TYPES:
        raise InvalidService(
            f"annotation {ADDRESS_TYPE}: {address_type!r} is not one of {', '.join(ADDRESS_TYPES)}"
        )
    vswitch_id = ref.annotation(VSWITCH_ID) or None
    if vswitch_id is not None and not _VSWITCH_RE.match(vswitch_id):
        raise InvalidService(f"annotation {VSWITCH_ID}: {vswitch_id!r} is not a vSwitch id")
    reused = reuse_id(ref)
    if reused is not None and not _LB_ID_RE.match(reused):
        raise InvalidService(f"annotation {LOADBALANCER_ID}: {reused!r} is not a load balancer id")
    if address_type == "intranet" and reused is None:
        vswitch_id = vswitch_id or settings.vswitch_id
        if vswitch_id is None:
            raise InvalidService(
                f"an intranet load balancer needs a vSwitch: set annotation {VSWITCH_ID} "
                "or the class setting vswitch_id"
            )
    spec = ref.annotation(SPEC) or settings.spec
    if spec is not None and not _SPEC_RE.match(spec):
        raise InvalidService(f"annotation {SPEC}: {spec!r} is not an SLB spec (slb.s1.small)")
    return Options(address_type=address_type, vswitch_id=vswitch_id, spec=spec, reuse_id=reused)
