"""Class settings of the Tencent provider and the credentials they point at.

Declared once with the provider kit's schema, so every problem reads
``settings.<key>: <problem>``.  Secrets come from ``credentials_file`` (YAML,
JSON or INI, mounted from a Secret) or the SDK's environment variables,
through the kit's loader: they never appear in a ``repr``, a message or a log.
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
    rate_limit_fields,
)
from lbprovider.providerkit import load_credentials as _load
from lbprovider.providerkit.healthchecks import cluster_health_fields

ENV_SECRET_ID = "TENCENTCLOUD_SECRET_ID"  # noqa: S105 - a variable name, not a secret
ENV_SECRET_KEY = "TENCENTCLOUD_SECRET_KEY"  # noqa: S105 - a variable name, not a secret
ENV_TOKEN = "TENCENTCLOUD_SESSION_TOKEN"  # noqa: S105 - a variable name, not a secret

SCHEMA = SettingsSchema(
    [
        Field(name="region", required=True, doc="The CLB region.", example="ap-guangzhou"),
        Field(name="endpoint", doc="``host:port`` of the CLB API (default: the public one)."),
        Field(name="scheme", default="https", choices=("http", "https"), doc="API scheme."),
        Field(name="vpc_id", doc="The VPC new CLBs are created in (needed to create one)."),
        Field(name="credentials_file", doc="A mounted Secret with secret_id and secret_key."),
        Field(
            name="task_wait_seconds",
            kind=float,
            default=1.5,
            minimum=0,
            doc="How long one call waits inline for a CLB task before answering RetryAfter.",
        ),
        Field(
            name="retry_after_seconds",
            kind=float,
            default=2.0,
            minimum=0,
            doc="RetryAfter delay while a CLB task runs or the CLB is busy.",
        ),
        Field(
            name="request_timeout_seconds",
            kind=int,
            default=10,
            minimum=1,
            doc="HTTP timeout of one API request.",
        ),
        Field(
            name="max_attempts",
            kind=int,
            default=4,
            minimum=1,
            doc="Attempts per API call on throttling, 5xx and network errors.",
        ),
        *cluster_health_fields(
            udp="CLB's UDP listeners cannot check HTTP: they keep CLB's PING check either way."
        ),
        *rate_limit_fields(
            qps=20,
            burst=20,
            documented="Tencent documents 20 requests per second per CLB API",
        ),
    ]
)

CREDENTIALS = CredentialSpec(
    keys={
        "secret_id": ("secret_id", "SecretId"),
        "secret_key": ("secret_key", "SecretKey"),
        "token": ("token", "Token"),
    },
    env={"secret_id": ENV_SECRET_ID, "secret_key": ENV_SECRET_KEY, "token": ENV_TOKEN},
    required=("secret_id", "secret_key"),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class TencentSettings:
    """Validated class settings (no secret: credentials are loaded apart)."""

    region: str
    endpoint: str | None = None
    scheme: str = "https"
    vpc_id: str | None = None
    credentials_file: str | None = None
    task_wait_seconds: float = 1.5
    retry_after_seconds: float = 2.0
    request_timeout_seconds: int = 10
    max_attempts: int = 4
    cluster_health_check: str = "kube-proxy"
    """``kube-proxy`` or ``traffic-port``: how Cluster-policy node targets are checked."""
    kube_proxy_health_port: int = 10256
    rate_limit_qps: float = 20.0
    """Client-side limit: cloud API calls per second on average (see the schema)."""
    rate_limit_burst: int = 20

    @property
    def rate_limit(self) -> RateLimit:
        """The client-side limit every call of this class goes through."""
        return RateLimit(rate=self.rate_limit_qps, burst=self.rate_limit_burst)


def parse_settings(settings: Mapping[str, Any]) -> TencentSettings:
    """Validate the ``settings:`` block; ``ProviderConfigError`` names the offending key."""
    return TencentSettings(**SCHEMA.parse(settings))


def load_credentials(
    settings: TencentSettings, *, environ: Mapping[str, str] | None = None
) -> Credentials:
    """Credentials from ``credentials_file`` or the environment; ProviderConfigError otherwise."""
    loaded = _load(CREDENTIALS, path=settings.credentials_file, environ=environ)
    if loaded is None:
        raise config_error(
            "credentials_file",
            f"required when the environment has no {ENV_SECRET_ID} and {ENV_SECRET_KEY}",
        )
    return loaded
