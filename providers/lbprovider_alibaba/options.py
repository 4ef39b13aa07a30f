"""The Service annotations this provider reads (the Alibaba CCM's names), parsed once.

:func:`parse_options` turns a Service's annotations and the class settings
into a frozen :class:`Options`, or raises ``InvalidService`` naming the
annotation that is wrong.  Pure: no SDK, no cloud call.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lbprovider.cloud import InvalidService, ServiceRef
from lbprovider_alibaba.settings import ADDRESS_TYPES, Settings

PREFIX = "service.beta.kubernetes.io/alibaba-cloud-loadbalancer-"
ADDRESS_TYPE = PREFIX + "address-type"
VSWITCH_ID = PREFIX + "vswitch-id"
SPEC = PREFIX + "spec"
LOADBALANCER_ID = PREFIX + "id"
# Health-check overrides, named as cloud-provider-alibaba-cloud names them
# (pkg/controller/service/reconcile/annotation/annotations.go).
HEALTH_CHECK_TYPE = PREFIX + "health-check-type"
HEALTH_CHECK_CONNECT_PORT = PREFIX + "health-check-connect-port"
HEALTH_CHECK_URI = PREFIX + "health-check-uri"
HEALTH_CHECK_HTTP_CODE = PREFIX + "health-check-httpcode"
HEALTH_CHECK_SWITCH = PREFIX + "health-check-switch"

HEALTH_CHECK_TYPES = ("tcp", "http")
HTTP_CODES = ("http_2xx", "http_3xx", "http_4xx", "http_5xx")
# HealthCheckURI (SetLoadBalancerTCPListenerAttribute field doc): 1-80 characters of
# letters, digits and - / . % ? # &, starting with "/" but not "/" alone.
_URI_RE = re.compile(r"^/[A-Za-z0-9\-/.%?#&]{1,79}$")

_VSWITCH_RE = re.compile(r"^vsw-[a-z0-9]+$")
_LB_ID_RE = re.compile(r"^lb-[a-z0-9]+$")
_SPEC_RE = re.compile(r"^slb\.[a-z0-9]+\.[a-z0-9.]+$")


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthOverride:
    """The health-check annotations of one Service (None: not set)."""

    type: str | None = None
    """``tcp`` or ``http`` (TCP listeners; a UDP listener can only check UDP)."""
    port: int | None = None
    uri: str | None = None
    http_code: str | None = None
    switch: str | None = None
    """``on`` or ``off``."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What the annotations and class settings ask for one Service."""

    address_type: str
    vswitch_id: str | None
    spec: str | None
    reuse_id: str | None
    """An existing load balancer to reuse (never deleted by us)."""
    health: HealthOverride = field(default_factory=HealthOverride)
    """What the health-check annotations ask for (each unset: the class's choice)."""

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
    return Options(
        address_type=address_type,
        vswitch_id=vswitch_id,
        spec=spec,
        reuse_id=reused,
        health=_health_override(ref),
    )


def _health_override(ref: ServiceRef) -> HealthOverride:
    kind = (ref.annotation(HEALTH_CHECK_TYPE) or "").lower() or None
    if kind is not None and kind not in HEALTH_CHECK_TYPES:
        raise InvalidService(
            f"annotation {HEALTH_CHECK_TYPE}: {kind!r} is not one of "
            f"{', '.join(HEALTH_CHECK_TYPES)}"
        )
    port = None
    raw_port = ref.annotation(HEALTH_CHECK_CONNECT_PORT)
    if raw_port:
        # HealthCheckConnectPort: "Valid values: 1 to 65535" (Create/Set*ListenerAttribute docs).
        if not raw_port.isdigit() or not 1 <= int(raw_port) <= 65535:
            raise InvalidService(
                f"annotation {HEALTH_CHECK_CONNECT_PORT}: {raw_port!r} is not a port (1-65535)"
            )
        port = int(raw_port)
    uri = ref.annotation(HEALTH_CHECK_URI) or None
    if uri is not None and (uri == "/" or not _URI_RE.match(uri)):
        raise InvalidService(
            f"annotation {HEALTH_CHECK_URI}: {uri!r} is not an SLB health-check URI "
            "(1-80 characters, starting with / but not / alone)"
        )
    code = ref.annotation(HEALTH_CHECK_HTTP_CODE) or None
    if code is not None and not set(code.split(",")) <= set(HTTP_CODES):
        raise InvalidService(
            f"annotation {HEALTH_CHECK_HTTP_CODE}: {code!r} is not a comma-separated list of "
            f"{', '.join(HTTP_CODES)}"
        )
    switch = (ref.annotation(HEALTH_CHECK_SWITCH) or "").lower() or None
    if switch is not None and switch not in ("on", "off"):
        raise InvalidService(f"annotation {HEALTH_CHECK_SWITCH}: {switch!r} is not on or off")
    return HealthOverride(type=kind, port=port, uri=uri, http_code=code, switch=switch)
