"""The AWS Service annotations this provider understands, parsed once into :class:`Options`.

Pure (no SDK): a bad value raises :class:`InvalidService` naming the
annotation, before any cloud call is made.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from lbprovider.cloud import InvalidService
from lbprovider.cloud.types import ServiceRef

SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
INTERNAL_LEGACY = "service.beta.kubernetes.io/aws-load-balancer-internal"
SUBNETS = "service.beta.kubernetes.io/aws-load-balancer-subnets"
# Health-check overrides: cloud-provider-aws's annotation names (its NLB support).
HC_PROTOCOL = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-protocol"
HC_PORT = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-port"
HC_PATH = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-path"
HC_INTERVAL = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-interval"
HC_TIMEOUT = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-timeout"
HC_HEALTHY = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-healthy-threshold"
HC_UNHEALTHY = "service.beta.kubernetes.io/aws-load-balancer-healthcheck-unhealthy-threshold"
TRAFFIC_PORT = "traffic-port"
HC_RANGES = {
    # The ranges of the ELBv2 CreateTargetGroup field docs (checked here, before any call).
    HC_INTERVAL: (5, 300),
    HC_TIMEOUT: (2, 120),
    HC_HEALTHY: (2, 10),
    HC_UNHEALTHY: (2, 10),
}

INTERNAL = "internal"
INTERNET_FACING = "internet-facing"

_SUBNET_ID = re.compile(r"^subnet-[0-9a-zA-Z]+$")
_TRUE = {"true", "0.0.0.0/0"}  # the legacy annotation historically took a CIDR meaning "yes"
_FALSE = {"false"}


@dataclass(frozen=True, slots=True, kw_only=True)
class HealthOverride:
    """The health-check annotations a Service set (None: the provider's default)."""

    protocol: str | None = None
    """``TCP``, ``HTTP`` or ``HTTPS``."""
    port: str | None = None
    """A port number or ``traffic-port``."""
    path: str | None = None
    interval: int | None = None
    timeout: int | None = None
    healthy_threshold: int | None = None
    unhealthy_threshold: int | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What a Service's annotations ask of its NLB."""

    scheme: str = INTERNET_FACING
    subnets: tuple[str, ...] = ()
    """Subnet ids from the annotation; empty means the class settings' subnets."""
    health: HealthOverride = HealthOverride()


def _scheme(ref: ServiceRef) -> str:
    explicit = ref.annotation(SCHEME)
    legacy = ref.annotation(INTERNAL_LEGACY)
    scheme_from_legacy: str | None = None
    if legacy is not None:
        lowered = legacy.lower()
        if lowered in _TRUE:
            scheme_from_legacy = INTERNAL
        elif lowered in _FALSE:
            scheme_from_legacy = INTERNET_FACING
        else:
            raise InvalidService(
                f'annotation {INTERNAL_LEGACY} must be "true" or "false", got {legacy!r}'
            )
    if explicit is not None:
        if explicit not in (INTERNAL, INTERNET_FACING):
            raise InvalidService(
                f"annotation {SCHEME} must be {INTERNAL!r} or {INTERNET_FACING!r}, got {explicit!r}"
            )
        if scheme_from_legacy is not None and scheme_from_legacy != explicit:
            raise InvalidService(
                f"annotations {SCHEME}={explicit!r} and {INTERNAL_LEGACY}={legacy!r} disagree"
            )
        return explicit
    return scheme_from_legacy or INTERNET_FACING


def _subnets(ref: ServiceRef) -> tuple[str, ...]:
    raw = ref.annotation(SUBNETS)
    if raw is None:
        return ()
    items = tuple(item.strip() for item in raw.split(",") if item.strip())
    if not items:
        raise InvalidService(f"annotation {SUBNETS} is empty")
    for item in items:
        if not _SUBNET_ID.match(item):
            raise InvalidService(
                f"annotation {SUBNETS}: {item!r} is not a subnet id (subnet-...); "
                "subnet names are not supported"
            )
    return tuple(dict.fromkeys(items))


def _number(ref: ServiceRef, name: str) -> int | None:
    raw = ref.annotation(name)
    if raw is None:
        return None
    low, high = HC_RANGES[name]
    if not raw.strip().isdigit() or not low <= int(raw) <= high:
        raise InvalidService(f"annotation {name} must be a whole number {low}-{high}, got {raw!r}")
    return int(raw)


def _health(ref: ServiceRef) -> HealthOverride:
    protocol = ref.annotation(HC_PROTOCOL)
    if protocol is not None:
        protocol = protocol.strip().upper()
        if protocol not in ("TCP", "HTTP", "HTTPS"):
            # NLB health checks are TCP, HTTP or HTTPS whatever the listener protocol.
            raise InvalidService(f"annotation {HC_PROTOCOL} must be TCP, HTTP or HTTPS")
    port = ref.annotation(HC_PORT)
    if port is not None:
        port = port.strip()
        if port != TRAFFIC_PORT and (not port.isdigit() or not 1 <= int(port) <= 65535):
            raise InvalidService(
                f"annotation {HC_PORT} must be a port (1-65535) or {TRAFFIC_PORT!r}, got {port!r}"
            )
    path = ref.annotation(HC_PATH)
    if path is not None and (not path.startswith("/") or len(path) > 1024):
        raise InvalidService(f"annotation {HC_PATH} must start with / (at most 1024 characters)")
    return HealthOverride(
        protocol=protocol,
        port=port,
        path=path,
        interval=_number(ref, HC_INTERVAL),
        timeout=_number(ref, HC_TIMEOUT),
        healthy_threshold=_number(ref, HC_HEALTHY),
        unhealthy_threshold=_number(ref, HC_UNHEALTHY),
    )


def parse_options(ref: ServiceRef) -> Options:
    """Validate ``ref``'s AWS annotations; InvalidService names the bad one."""
    return Options(scheme=_scheme(ref), subnets=_subnets(ref), health=_health(ref))
