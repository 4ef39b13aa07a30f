"""The mock CLB's TC3-HMAC-SHA256 signature check, byte for byte as Tencent Cloud signs.

The SDK signs ``content-type;host``, the body's SHA-256 and the credential
scope ``<date>/clb/tc3_request``; the date must be the UTC day of
``X-TC-Timestamp``, which must be within five minutes of the mock's clock
(``lbprovider.mockkit.MockClock``, pinned by tests that replay a captured
request).  Each failure raises the error the real API answers.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from datetime import UTC, datetime

from lbprovider_tencent.mock import exceptions as exc

SERVICE = "clb"
ALGORITHM = "TC3-HMAC-SHA256"
MAX_SKEW_SECONDS = 300


def _authorization(value: str) -> dict[str, str]:
    algorithm, _, rest = value.partition(" ")
    if algorithm != ALGORITHM:
        raise exc.InvalidAuthorizationError()
    parts: dict[str, str] = {}
    for item in rest.split(","):
        key, sep, part = item.strip().partition("=")
        if sep:
            parts[key] = part
    return parts


def verify_tc3(
    *,
    method: str,
    headers: Mapping[str, str],
    body: bytes,
    credentials: Mapping[str, str],
    now: float,
) -> None:
    """Check one request's signature; raises the AuthFailure the real API would."""
    lower = {name.lower(): value for name, value in headers.items()}
    parts = _authorization(lower.get("authorization", ""))
    try:
        secret_id, date, service, terminator = parts["Credential"].split("/")
        signed_headers = parts["SignedHeaders"]
        signature = parts["Signature"]
        timestamp = int(lower["x-tc-timestamp"])
    except (KeyError, ValueError) as error:
        raise exc.InvalidAuthorizationError() from error
    if terminator != "tc3_request" or service != SERVICE:
        raise exc.InvalidAuthorizationError("credential scope must be <date>/clb/tc3_request")
    if abs(now - timestamp) > MAX_SKEW_SECONDS:
        raise exc.SignatureExpireError()
    secret_key = credentials.get(secret_id)
    if secret_key is None:
        raise exc.SecretIdNotFoundError()
    if datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d") != date:
        raise exc.SignatureFailureError("credential scope date does not match X-TC-Timestamp")
    names = signed_headers.split(";")
    if "content-type" not in names or "host" not in names:
        raise exc.SignatureFailureError("content-type and host must be signed")
    canonical_headers = "".join(f"{name}:{lower.get(name, '').strip()}\n" for name in names)
    canonical_request = "\n".join(
        (method, "/", "", canonical_headers, signed_headers, hashlib.sha256(body).hexdigest())
    )
    string_to_sign = "\n".join(
        (
            ALGORITHM,
            str(timestamp),
            f"{date}/{service}/tc3_request",
            hashlib.sha256(canonical_request.encode()).hexdigest(),
        )
    )
    signing_key = f"TC3{secret_key}".encode()
    for part in (date, service, "tc3_request"):
        signing_key = hmac.new(signing_key, part.encode(), hashlib.sha256).digest()
    expected = hmac.new(signing_key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(expected, signature):
        raise exc.SignatureFailureError()
