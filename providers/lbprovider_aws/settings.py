"""Validated class settings of the AWS provider (the ``settings:`` block of a class).

Unknown keys and wrong types raise :class:`ProviderConfigError` naming the key,
so an operator's typo fails at start-up instead of being silently ignored.
Credentials are read from ``credentials_file`` when given (a YAML/JSON mapping
or an AWS shared-credentials INI file); otherwise boto3's usual chain applies.
"""

from __future__ import annotations

import configparser
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from lbprovider.cloud import ProviderConfigError

_SUBNET_ID = re.compile(r"^subnet-[0-9a-zA-Z]+$")
_VPC_ID = re.compile(r"^vpc-[0-9a-zA-Z]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z0-9]+)+-\d+$")

KNOWN_KEYS = frozenset(
    {"region", "endpoint_url", "vpc_id", "subnets", "credentials_file", "retry_attempts"}
)
MAX_RETRY_ATTEMPTS = 10


@dataclass(frozen=True, slots=True, kw_only=True)
class Credentials:
    """Static credentials read from ``credentials_file``; never logged (repr hides them)."""

    access_key_id: str = field(repr=False)
    secret_access_key: str = field(repr=False)
    session_token: str | None = field(default=None, repr=False)


@dataclass(frozen=True, slots=True, kw_only=True)
class AwsSettings:
    """The AWS provider's validated settings."""

    region: str
    endpoint_url: str | None = None
    """Overrides both the elbv2 and ec2 endpoints (moto, VPC interface endpoints)."""
    vpc_id: str | None = None
    """The VPC of target groups and security groups; looked up from the subnets if unset."""
    subnets: tuple[str, ...] = ()
    """Default NLB subnets (one per AZ); a Service may override them by annotation."""
    credentials_file: str | None = None
    retry_attempts: int = 3
    """botocore's ``max_attempts`` (retries after the first request, standard mode)."""


def _optional_str(settings: Mapping[str, Any], key: str) -> str | None:
    value = settings.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ProviderConfigError(f"aws settings: {key!r} must be a non-empty string")
    return value.strip()


def parse_settings(settings: Mapping[str, Any]) -> AwsSettings:
    """Validate ``settings``; raise ProviderConfigError naming the first bad key."""
    if not isinstance(settings, Mapping):
        raise ProviderConfigError("aws settings must be a mapping")
    unknown = sorted(str(key) for key in settings if key not in KNOWN_KEYS)
    if unknown:
        raise ProviderConfigError(
            f"aws settings: unknown key(s) {', '.join(repr(k) for k in unknown)} "
            f"(known: {', '.join(sorted(KNOWN_KEYS))})"
        )
    region = _optional_str(settings, "region")
    if region is None:
        raise ProviderConfigError("aws settings: 'region' is required")
    if not _REGION.match(region):
        raise ProviderConfigError(f"aws settings: 'region' {region!r} is not an AWS region name")
    endpoint_url = _optional_str(settings, "endpoint_url")
    if endpoint_url is not None and not endpoint_url.startswith(("http://", "https://")):
        raise ProviderConfigError(
            "aws settings: 'endpoint_url' must start with http:// or https://"
        )
    vpc_id = _optional_str(settings, "vpc_id")
    if vpc_id is not None and not _VPC_ID.match(vpc_id):
        raise ProviderConfigError(f"aws settings: 'vpc_id' {vpc_id!r} is not a VPC id (vpc-...)")
    raw_subnets = settings.get("subnets", [])
    if raw_subnets is None:
        raw_subnets = []
    if not isinstance(raw_subnets, list | tuple) or not all(
        isinstance(item, str) for item in raw_subnets
    ):
        raise ProviderConfigError("aws settings: 'subnets' must be a list of subnet ids")
    subnets = tuple(item.strip() for item in raw_subnets)
    for subnet in subnets:
        if not _SUBNET_ID.match(subnet):
            raise ProviderConfigError(
                f"aws settings: 'subnets' entry {subnet!r} is not a subnet id (subnet-...)"
            )
    credentials_file = _optional_str(settings, "credentials_file")
    retry_attempts = settings.get("retry_attempts", 3)
    if (
        isinstance(retry_attempts, bool)
        or not isinstance(retry_attempts, int)
        or not 0 <= retry_attempts <= MAX_RETRY_ATTEMPTS
    ):
        raise ProviderConfigError(
            f"aws settings: 'retry_attempts' must be an integer from 0 to {MAX_RETRY_ATTEMPTS}"
        )
    return AwsSettings(
        retry_attempts=retry_attempts,
        region=region,
        endpoint_url=endpoint_url,
        vpc_id=vpc_id,
        subnets=subnets,
        credentials_file=credentials_file,
    )


_KEY_ALIASES = {
    "access_key_id": ("access_key_id", "aws_access_key_id", "AWS_ACCESS_KEY_ID"),
    "secret_access_key": ("secret_access_key", "aws_secret_access_key", "AWS_SECRET_ACCESS_KEY"),
    "session_token": ("session_token", "aws_session_token", "AWS_SESSION_TOKEN"),
}


def _pick(mapping: Mapping[str, Any], name: str) -> str | None:
    for alias in _KEY_ALIASES[name]:
        value = mapping.get(alias)
        if isinstance(value, str) and value:
            return value
    return None


def load_credentials(path: str) -> Credentials:
    """Read static credentials from ``path``; errors name the file, never its content."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ProviderConfigError(
            f"aws settings: 'credentials_file' {path!r} cannot be read ({exc.strerror})"
        ) from None
    mapping: Mapping[str, Any]
    if text.lstrip().startswith("["):
        # An AWS shared-credentials file: use its [default] profile.
        parser = configparser.ConfigParser()
        try:
            parser.read_string(text)
        except configparser.Error:
            raise ProviderConfigError(
                f"aws settings: 'credentials_file' {path!r} is not a valid INI file"
            ) from None
        section = "default" if parser.has_section("default") else (parser.sections() or [""])[0]
        mapping = dict(parser[section]) if section else {}
    else:
        try:
            loaded = yaml.safe_load(text)
        except yaml.YAMLError:
            raise ProviderConfigError(
                f"aws settings: 'credentials_file' {path!r} is not valid YAML/JSON"
            ) from None
        mapping = loaded if isinstance(loaded, Mapping) else {}
    access_key = _pick(mapping, "access_key_id")
    secret_key = _pick(mapping, "secret_access_key")
    if access_key is None or secret_key is None:
        raise ProviderConfigError(
            f"aws settings: 'credentials_file' {path!r} needs access_key_id and secret_access_key"
        )
    return Credentials(
        access_key_id=access_key,
        secret_access_key=secret_key,
        session_token=_pick(mapping, "session_token"),
    )
