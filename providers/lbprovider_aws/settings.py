"""Class settings of the AWS provider (the ``settings:`` block of a class) and its credentials.

Keys are declared once with the kit's schema, so every error reads
``settings.<key>: <problem>``.  Credentials come from ``credentials_file``
when given (a YAML/JSON mapping or an AWS shared-credentials INI file)
through the kit's loader; otherwise boto3's own chain applies (environment,
shared config, instance role), so the spec names no environment variables.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from lbprovider.providerkit import (
    Credentials,
    CredentialSpec,
    Field,
    RateLimit,
    SettingsSchema,
    config_error,
    load_credentials,
    rate_limit_fields,
)
from lbprovider.providerkit.healthchecks import cluster_health_fields

SUBNET_ID = r"subnet-[0-9a-zA-Z]+"
MAX_RETRY_ATTEMPTS = 10

SCHEMA = SettingsSchema(
    [
        Field(
            name="region",
            required=True,
            pattern=r"[a-z]{2}(-[a-z0-9]+)+-\d+",
            example="an AWS region name such as us-east-1",
            doc="The AWS region of the NLBs.",
        ),
        Field(
            name="endpoint_url",
            pattern=r"https?://\S+",
            example="http:// or https:// URL",
            doc="Overrides both the elbv2 and ec2 endpoints (moto, VPC interface endpoints).",
        ),
        Field(
            name="vpc_id",
            pattern=r"vpc-[0-9a-zA-Z]+",
            example="a VPC id, vpc-...",
            doc="The VPC of target groups and security groups; looked up from the subnets "
            "if unset.",
        ),
        Field(
            name="subnets",
            kind=list,
            default=(),
            pattern=SUBNET_ID,
            example="a subnet id, subnet-...",
            doc="Default NLB subnets (one per AZ); a Service may override them by annotation.",
        ),
        Field(
            name="credentials_file",
            doc="A mounted Secret with access_key_id and secret_access_key (YAML, JSON or "
            "an AWS credentials INI file); without it boto3's own chain applies.",
        ),
        Field(
            name="retry_attempts",
            kind=int,
            default=3,
            minimum=0,
            maximum=MAX_RETRY_ATTEMPTS,
            doc="Retries of one call after the first request (throttling, 5xx, "
            "connection errors); persistent throttling then waits as RetryAfter.",
        ),
        *cluster_health_fields(
            udp="NLB checks UDP target groups the same way (HTTP on another port)."
        ),
        Field(
            name="node_port_range",
            default="30000-32767",
            pattern=r"\d{1,5}-\d{1,5}",
            example="LOW-HIGH, the API server's --service-node-port-range",
            doc="The cluster's nodePort range: node security groups allow it, as one rule per "
            "protocol, from the cluster's shared NLB backend security group.",
        ),
        *rate_limit_fields(
            qps=10,
            burst=40,
            documented="AWS documents 40 burst / 10 per second for ELB Describe calls",
        ),
    ]
)

CREDENTIALS = CredentialSpec(
    keys={
        "access_key_id": ("access_key_id", "aws_access_key_id", "AWS_ACCESS_KEY_ID"),
        "secret_access_key": (
            "secret_access_key",
            "aws_secret_access_key",
            "AWS_SECRET_ACCESS_KEY",
        ),
        "session_token": ("session_token", "aws_session_token", "AWS_SESSION_TOKEN"),
    },
    required=("access_key_id", "secret_access_key"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
    """The AWS provider's validated settings."""

    region: str
    endpoint_url: str | None = None
    vpc_id: str | None = None
    subnets: tuple[str, ...] = ()
    credentials_file: str | None = None
    retry_attempts: int = 3
    kube_proxy_health_port: int = 10256
    cluster_health_check: str = "kube-proxy"
    node_port_range: str = "30000-32767"
    rate_limit_qps: float = 10.0
    """Client-side limit: cloud API calls per second on average (see the schema)."""
    rate_limit_burst: int = 40

    @property
    def node_ports(self) -> tuple[int, int]:
        """``node_port_range`` as ``(low, high)``."""
        low, _, high = self.node_port_range.partition("-")
        return int(low), int(high)

    @property
    def rate_limit(self) -> RateLimit:
        """The client-side limit every call of this class goes through."""
        return RateLimit(rate=self.rate_limit_qps, burst=self.rate_limit_burst)


def parse_settings(raw: Mapping[str, Any] | None) -> Settings:
    """Validate ``raw``; ProviderConfigError names the first bad key."""
    settings = Settings(**SCHEMA.parse(raw))
    low, high = settings.node_ports
    if not 1 <= low <= high <= 65535:
        raise config_error("node_port_range", "must be LOW-HIGH with 1 <= LOW <= HIGH <= 65535")
    return settings


def read_credentials(settings: Settings) -> Credentials | None:
    """Static credentials from ``credentials_file``; None leaves them to boto3's chain."""
    if settings.credentials_file is None:
        return None
    return load_credentials(CREDENTIALS, path=settings.credentials_file)
