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

INTERNAL = "internal"
INTERNET_FACING = "internet-facing"

_SUBNET_ID = re.compile(r"^subnet-[0-9a-zA-Z]+$")
_TRUE = {"true", "0.0.0.0/0"}  # the legacy annotation historically took a CIDR meaning "yes"
_FALSE = {"false"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Options:
    """What a Service's annotations ask of its NLB."""

    scheme: str = INTERNET_FACING
    subnets: tuple[str, ...] = ()
    """Subnet ids from the annotation; empty means the class settings' subnets."""


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


def parse_options(ref: ServiceRef) -> Options:
    """Validate ``ref``'s AWS annotations; InvalidService names the bad one."""
    return Options(scheme=_scheme(ref), subnets=_subnets(ref))
