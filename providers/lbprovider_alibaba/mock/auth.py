"""The RPC signature check of Alibaba Cloud's API gateway (HMAC-SHA1, signature version 1.0).

Byte for byte what the SDK signs: every parameter but ``Signature``, sorted,
RFC 3986-encoded, as ``METHOD&%2F&<encoded canonical query>``, keyed with
``secret + "&"``.  The timestamp must be within 15 minutes of the mock's
clock (:class:`~lbprovider.mockkit.MockClock`, pinned by tests that replay a
captured request) and a nonce is accepted once.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from urllib.parse import quote

from lbprovider.mockkit import MockClock
from lbprovider_alibaba.mock import exceptions as exc

MAX_SKEW = 15 * 60.0
"""Seconds a Timestamp may be away from the server clock."""
SIGNED_PARAMETERS = ("AccessKeyId", "Signature", "SignatureNonce", "Timestamp")


def percent_encode(value: str) -> str:
    """RFC 3986 encoding as the RPC signature wants it (``~`` kept, space as %20)."""
    return quote(value, safe="~")


def string_to_sign(method: str, params: Mapping[str, str]) -> str:
    """The RPC string to sign over every parameter except ``Signature``."""
    canonical = "&".join(
        f"{percent_encode(key)}={percent_encode(params[key])}"
        for key in sorted(params)
        if key != "Signature"
    )
    return f"{method.upper()}&{percent_encode('/')}&{percent_encode(canonical)}"


def sign(secret: str, text: str) -> str:
    """Base64 HMAC-SHA1 keyed with ``secret + "&"``."""
    digest = hmac.new(f"{secret}&".encode(), text.encode(), hashlib.sha1).digest()
    return base64.b64encode(digest).decode()


class SignatureCheck:
    """Checks a request's signature parameters like the real gateway; remembers nonces."""

    def __init__(self, *, credentials: Mapping[str, str], clock: MockClock) -> None:
        self._credentials = credentials
        self._clock = clock
        self._lock = threading.Lock()
        self._nonces: dict[str, float] = {}

    def check(self, method: str, params: Mapping[str, str]) -> None:
        """Raise the gateway's error when ``params`` are not signed by a known key."""
        for name in SIGNED_PARAMETERS:
            if not params.get(name):
                raise exc.MissingParameter(name)
        if (
            params.get("SignatureMethod", "HMAC-SHA1") != "HMAC-SHA1"
            or params.get("SignatureVersion", "1.0") != "1.0"
        ):
            raise exc.IncompleteSignature()
        secret = self._credentials.get(params["AccessKeyId"])
        if secret is None:
            raise exc.InvalidAccessKeyIdNotFound()
        try:
            stamp = datetime.strptime(params["Timestamp"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        except ValueError as error:
            raise exc.InvalidTimeStampFormat() from error
        now = self._clock.now()
        if abs(now - stamp.timestamp()) > MAX_SKEW:
            raise exc.InvalidTimeStampExpired()
        expected_text = string_to_sign(method, params)
        if not hmac.compare_digest(sign(secret, expected_text), params["Signature"]):
            # Alibaba ends the message with its string to sign: the SDK compares it with
            # its own and reports InvalidAccessKeySecret when they are equal.
            raise exc.SignatureDoesNotMatch(
                "Specified signature is not matched with our calculation. "
                f"server string to sign is:{expected_text}"
            )
        with self._lock:
            # Nonces only need remembering while their timestamp is acceptable.
            for nonce, seen in list(self._nonces.items()):
                if abs(now - seen) > 2 * MAX_SKEW:
                    del self._nonces[nonce]
            if params["SignatureNonce"] in self._nonces:
                raise exc.SignatureNonceUsed()
            self._nonces[params["SignatureNonce"]] = now
