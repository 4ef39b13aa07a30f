"""The request and reply values a mock cloud's server passes around."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

ADMIN_PREFIX = "/_admin/"


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpRequest:
    """One request as the server read it."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpResponse:
    """One reply, written as is."""

    status: int
    body: bytes
    headers: Mapping[str, str] = field(default_factory=dict)
