"""Class settings of the Tencent provider and the credentials they point at.

Parsed once by the factory; unknown keys and wrong types raise
``ProviderConfigError`` naming the key.  Secrets are read from
``credentials_file`` (YAML or JSON, mounted from a Secret) or from the SDK's
environment variables, and never appear in a message.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lbprovider.cloud import ProviderConfigError

ENV_SECRET_ID = "TENCENTCLOUD_SECRET_ID"  # noqa: S105 - a variable name, not a secret
ENV_SECRET_KEY = "TENCENTCLOUD_SECRET_KEY"  # noqa: S105 - a variable name, not a secret
ENV_TOKEN = "TENCENTCLOUD_SESSION_TOKEN"  # noqa: S105 - a variable name, not a secret


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """A SecretId/SecretKey pair (and an optional STS token); repr hides the secrets."""

    secret_id: str = field(repr=False)
    secret_key: str = field(repr=False)
    token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class TencentSettings:
    """Validated class settings."""

    region: str
    endpoint: str | None = None
    """``host:port`` of the CLB API (default: ``clb.tencentcloudapi.com``)."""
    scheme: str = "https"
    vpc_id: str | None = None
    credentials_file: str | None = None
    task_wait_seconds: float = 1.5
    """How long one call waits inline for a CLB task before answering RetryAfter."""
    retry_after_seconds: float = 2.0
    request_timeout_seconds: int = 10
    max_attempts: int = 4
    """Attempts per API call on throttling, 5xx and network errors (tenacity)."""


_STR_KEYS = ("region", "endpoint", "scheme", "vpc_id", "credentials_file")
_FLOAT_KEYS = ("task_wait_seconds", "retry_after_seconds")
_INT_KEYS = ("request_timeout_seconds", "max_attempts")


def parse_settings(settings: Mapping[str, Any]) -> TencentSettings:
    """Validate the ``settings:`` block; ProviderConfigError names the offending key."""
    known = set(_STR_KEYS + _FLOAT_KEYS + _INT_KEYS)
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ProviderConfigError(
            f"tencent: unknown settings key(s) {', '.join(unknown)} "
            f"(known: {', '.join(sorted(known))})"
        )
    values: dict[str, Any] = {}
    for key in _STR_KEYS:
        if key in settings and settings[key] is not None:
            value = settings[key]
            if not isinstance(value, str) or not value.strip():
                raise ProviderConfigError(
                    f"tencent: settings key {key!r} must be a non-empty string"
                )
            values[key] = value.strip()
    for key in _FLOAT_KEYS:
        if key in settings:
            value = settings[key]
            if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
                raise ProviderConfigError(f"tencent: settings key {key!r} must be a number >= 0")
            values[key] = float(value)
    for key in _INT_KEYS:
        if key in settings:
            value = settings[key]
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ProviderConfigError(f"tencent: settings key {key!r} must be an integer >= 1")
            values[key] = value
    if "region" not in values:
        raise ProviderConfigError("tencent: settings key 'region' is required (e.g. ap-guangzhou)")
    if values.get("scheme", "https") not in ("http", "https"):
        raise ProviderConfigError("tencent: settings key 'scheme' must be 'http' or 'https'")
    return TencentSettings(**values)


def load_credentials(settings: TencentSettings) -> Credentials:
    """Credentials from ``credentials_file`` or the environment; ProviderConfigError otherwise."""
    if settings.credentials_file is not None:
        path = Path(settings.credentials_file)
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            # The parser's message may quote file content: keep only its type.
            raise ProviderConfigError(
                f"tencent: settings key 'credentials_file': cannot read {path} "
                f"({type(error).__name__})"
            ) from None
        if not isinstance(data, dict):
            raise ProviderConfigError(
                "tencent: settings key 'credentials_file' must hold a mapping "
                "with secret_id and secret_key"
            )
        secret_id, secret_key, token = (
            data.get("secret_id"),
            data.get("secret_key"),
            data.get("token"),
        )
        if not isinstance(secret_id, str) or not isinstance(secret_key, str):
            raise ProviderConfigError(
                "tencent: settings key 'credentials_file' must hold string keys "
                "secret_id and secret_key"
            )
        if token is not None and not isinstance(token, str):
            raise ProviderConfigError("tencent: credentials_file key 'token' must be a string")
        return Credentials(secret_id=secret_id, secret_key=secret_key, token=token)
    secret_id = os.environ.get(ENV_SECRET_ID, "")
    secret_key = os.environ.get(ENV_SECRET_KEY, "")
    if not secret_id or not secret_key:
        raise ProviderConfigError(
            f"tencent: no credentials: set settings key 'credentials_file' "
            f"or the environment variables {ENV_SECRET_ID} and {ENV_SECRET_KEY}"
        )
    return Credentials(
        secret_id=secret_id, secret_key=secret_key, token=os.environ.get(ENV_TOKEN) or None
    )
