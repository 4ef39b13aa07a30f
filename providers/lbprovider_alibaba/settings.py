"""Class settings of the Alibaba provider, declared once through the provider kit's schema.

Errors read ``settings.<key>: <problem>`` like every provider's.  Credentials
come from ``credentials_file`` (YAML, JSON or INI, e.g. a mounted Secret; our
spelling or the Alibaba CCM's cloud-config) or the
``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``ALIBABA_CLOUD_ACCESS_KEY_SECRET``
environment variables, through the kit's loader: no value is ever in a
``repr``, a log line or an error message.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lbprovider.providerkit.credentials import Credentials, CredentialSpec, load_credentials

# Submodules, not the package: options.py imports this module and must stay clear of
# the kit's call wrapper (an import-linter purity contract).
from lbprovider.providerkit.healthchecks import cluster_health_fields
from lbprovider.providerkit.ratelimit import RateLimit, rate_limit_fields
from lbprovider.providerkit.settings import Field, SettingsSchema, config_error

ADDRESS_TYPES = ("internet", "intranet")
_ENDPOINT = r"(?i:https?://)?[^\s/]+/?"
"""``host[:port]`` with an optional http(s) scheme; any other scheme is refused."""
_ENDPOINT_EXAMPLE = "host:port, or http(s)://host:port"

SCHEMA = SettingsSchema(
    [
        Field(name="region", required=True, doc="Region id of the cluster (cn-hangzhou)."),
        Field(
            name="endpoint",
            doc="host:port of the SLB API (plain host: https; loopback: http; or a scheme).",
            pattern=_ENDPOINT,
            example=_ENDPOINT_EXAMPLE,
        ),
        Field(
            name="ecs_endpoint",
            doc="host:port of the ECS API (ENI lookups of Pod IPs); unset: the regional one.",
            pattern=_ENDPOINT,
            example=_ENDPOINT_EXAMPLE,
        ),
        Field(name="vpc_id", doc="VPC of the cluster: intranet SLBs and the ENI lookup filter."),
        Field(name="vswitch_id", doc="Default vSwitch for intranet load balancers."),
        Field(name="credentials_file", doc="AccessKey file (a mounted Secret)."),
        Field(
            name="spec",
            doc=(
                "LoadBalancerSpec (slb.s1.small) to buy pay-by-specification instances; "
                "unset (default): pay-by-usage (InstanceChargeType PayByCLCU), the only "
                "metering SLB still sells"
            ),
        ),
        Field(
            name="address_type",
            default="internet",
            choices=ADDRESS_TYPES,
            doc="Address type when a Service has no address-type annotation.",
        ),
        Field(
            name="delete_protection",
            kind=bool,
            default=False,
            doc=(
                "Turn SLB deletion protection on for created load balancers; the class then "
                "lifts it to delete them. Off: a protection turned on by hand is respected "
                "(the Service waits, with a Warning Event)."
            ),
        ),
        *cluster_health_fields(
            udp="SLB's UDP listeners cannot check HTTP: they keep a UDP check of the node port "
            "either way."
        ),
        *rate_limit_fields(
            qps=10,
            burst=20,
            documented="SLB per-API quotas vary: see Quota Center; a conservative default",
        ),
    ]
)

CREDENTIALS = CredentialSpec(
    keys={
        "access_key_id": ("access_key_id", "accessKeyID", "AccessKeyId"),
        "access_key_secret": ("access_key_secret", "accessKeySecret", "AccessKeySecret"),
    },
    env={
        "access_key_id": "ALIBABA_CLOUD_ACCESS_KEY_ID",
        "access_key_secret": "ALIBABA_CLOUD_ACCESS_KEY_SECRET",
    },
    required=("access_key_id", "access_key_secret"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """Validated class settings (no secret: credentials are loaded apart)."""

    region: str
    endpoint: str | None = None
    """``host:port`` of the SLB API (plain host: https; loopback: http; or an explicit scheme)."""
    ecs_endpoint: str | None = None
    """``host:port`` of the ECS API (ENI lookups of Pod IPs); unset: Alibaba's regional one."""
    vpc_id: str | None = None
    """VPC of the cluster: intranet load balancers and the ENI lookup filter."""
    vswitch_id: str | None = None
    """Default vSwitch for intranet load balancers."""
    credentials_file: str | None = None
    spec: str | None = None
    """LoadBalancerSpec (e.g. ``slb.s1.small``): buy pay-by-specification; unset: PayByCLCU."""
    address_type: str = "internet"
    """Default address type when a Service has no address-type annotation."""
    delete_protection: bool = False
    """Turn SLB deletion protection on for created load balancers; only then does our delete
    lift it (off: a protection someone turned on by hand is respected, never lifted)."""
    cluster_health_check: str = "kube-proxy"
    """``kube-proxy`` (HTTP /healthz on ``kube_proxy_health_port``) or ``traffic-port``."""
    kube_proxy_health_port: int = 10256
    rate_limit_qps: float = 10.0
    """Client-side limit: cloud API calls per second on average (see the schema)."""
    rate_limit_burst: int = 20

    @property
    def rate_limit(self) -> RateLimit:
        """The client-side limit every call of this class goes through."""
        return RateLimit(rate=self.rate_limit_qps, burst=self.rate_limit_burst)

    @property
    def endpoint_host(self) -> str | None:
        """The SLB endpoint without its scheme."""
        return _host_of(self.endpoint)

    @property
    def protocol(self) -> str:
        """``http`` or ``https`` for the SDK's SLB requests."""
        return _protocol_of(self.endpoint)

    @property
    def ecs_endpoint_host(self) -> str | None:
        """The ECS endpoint without its scheme."""
        return _host_of(self.ecs_endpoint)

    @property
    def ecs_protocol(self) -> str:
        """``http`` or ``https`` for the SDK's ECS requests."""
        return _protocol_of(self.ecs_endpoint)


def _host_of(endpoint: str | None) -> str | None:
    if endpoint is None:
        return None
    return endpoint.split("://", 1)[-1].rstrip("/")


def _protocol_of(endpoint: str | None) -> str:
    """An explicit scheme wins; loopback hosts are plain http (mocks), the rest https."""
    if endpoint is None:
        return "https"
    if "://" in endpoint:
        return endpoint.split("://", 1)[0].lower()
    host = endpoint.rsplit(":", 1)[0].strip("[]")
    if host == "localhost":
        return "http"
    try:
        return "http" if ipaddress.ip_address(host).is_loopback else "https"
    except ValueError:
        return "https"


def parse_settings(settings: Mapping[str, Any] | None) -> Settings:
    """Validate the ``settings:`` block of a class bound to this provider."""
    return Settings(**SCHEMA.parse(settings))


def credentials_of(settings: Settings) -> Credentials:
    """The AccessKey pair from ``credentials_file`` or the environment."""
    found = load_credentials(CREDENTIALS, path=settings.credentials_file)
    if found is None:
        raise config_error(
            "credentials_file",
            "required unless ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET "
            "are set",
        )
    return found
