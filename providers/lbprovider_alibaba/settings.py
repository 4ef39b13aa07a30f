"""Class settings of the Alibaba provider: validation and credential loading.

Unknown keys and wrong types raise ``ProviderConfigError`` naming the key.
Credentials come from ``credentials_file`` (YAML or JSON, e.g. a mounted
Secret) or the ``ALIBABA_CLOUD_ACCESS_KEY_ID`` / ``ALIBABA_CLOUD_ACCESS_KEY_SECRET``
environment variables; they are never logged nor put in an error message.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lbprovider.cloud import ProviderConfigError

ADDRESS_TYPES = ("internet", "intranet")

# key -> (type, required)
_SCHEMA: dict[str, tuple[type, bool]] = {
    "region": (str, True),
    "endpoint": (str, False),
    "ecs_endpoint": (str, False),
    "vpc_id": (str, False),
    "vswitch_id": (str, False),
    "credentials_file": (str, False),
    "spec": (str, False),
    "address_type": (str, False),
    "delete_protection": (bool, False),
}

# Accepted spellings in a credentials file (ours, and the Alibaba CCM's cloud-config).
_AK_KEYS = ("access_key_id", "accessKeyID", "AccessKeyId")
_SECRET_KEYS = ("access_key_secret", "accessKeySecret", "AccessKeySecret")


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """An AccessKey pair; ``repr`` hides the secret."""

    access_key_id: str
    access_key_secret: str = field(repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class AlibabaSettings:
    """Validated class settings."""

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
    """Default LoadBalancerSpec (e.g. ``slb.s1.small``); unset means pay-by-usage."""
    address_type: str = "internet"
    """Default address type when a Service has no address-type annotation."""
    delete_protection: bool = False
    """Turn SLB deletion protection on for created load balancers (lifted by our own delete)."""

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


def parse_settings(settings: Mapping[str, Any]) -> AlibabaSettings:
    """Validate the ``settings:`` block of a class bound to this provider."""
    unknown = sorted(set(settings) - set(_SCHEMA))
    if unknown:
        raise ProviderConfigError(
            f"alibaba: unknown settings key(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(_SCHEMA))})"
        )
    values: dict[str, Any] = {}
    for key, (kind, required) in _SCHEMA.items():
        value = settings.get(key)
        if value is None:
            if required:
                raise ProviderConfigError(f"alibaba: settings key {key!r} is required")
            continue
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProviderConfigError(
                f"alibaba: settings key {key!r} must be a {kind.__name__}, "
                f"not {type(value).__name__}"
            )
        if isinstance(value, str) and not value.strip():
            raise ProviderConfigError(f"alibaba: settings key {key!r} must not be empty")
        values[key] = value.strip() if isinstance(value, str) else value
    if values.get("address_type", "internet") not in ADDRESS_TYPES:
        raise ProviderConfigError(
            f"alibaba: settings key 'address_type' must be one of {', '.join(ADDRESS_TYPES)}"
        )
    for key in ("endpoint", "ecs_endpoint"):
        endpoint = values.get(key)
        if endpoint is not None and "://" in endpoint:
            scheme = endpoint.split("://", 1)[0].lower()
            if scheme not in ("http", "https"):
                raise ProviderConfigError(f"alibaba: settings key {key!r} must use http or https")
    return AlibabaSettings(**values)


def load_credentials(settings: AlibabaSettings) -> Credentials:
    """The AccessKey pair from ``credentials_file`` or the environment."""
    if settings.credentials_file is not None:
        path = Path(settings.credentials_file)
        try:
            data = yaml.safe_load(path.read_text())
        except OSError as error:
            raise ProviderConfigError(
                f"alibaba: settings key 'credentials_file': cannot read {path} ({error.strerror})"
            ) from None
        except yaml.YAMLError:
            raise ProviderConfigError(
                f"alibaba: settings key 'credentials_file': {path} is not YAML/JSON"
            ) from None
        if not isinstance(data, dict):
            raise ProviderConfigError(
                f"alibaba: settings key 'credentials_file': {path} must hold a mapping"
            )
        ak = next((str(data[k]) for k in _AK_KEYS if data.get(k)), "")
        secret = next((str(data[k]) for k in _SECRET_KEYS if data.get(k)), "")
        if not ak or not secret:
            raise ProviderConfigError(
                f"alibaba: settings key 'credentials_file': {path} must contain "
                "access_key_id and access_key_secret"
            )
        return Credentials(access_key_id=ak, access_key_secret=secret)
    ak = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_ID", "")
    secret = os.environ.get("ALIBABA_CLOUD_ACCESS_KEY_SECRET", "")
    if not ak or not secret:
        raise ProviderConfigError(
            "alibaba: no credentials: set settings key 'credentials_file' or the "
            "ALIBABA_CLOUD_ACCESS_KEY_ID and ALIBABA_CLOUD_ACCESS_KEY_SECRET variables"
        )
    return Credentials(access_key_id=ak, access_key_secret=secret)
