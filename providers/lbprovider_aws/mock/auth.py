"""SigV4 checks of the requests the AWS mock forwards to moto (moto checks nothing).

The ``Authorization`` header must name the mock's access key, carry a
signature that botocore's own signer reproduces from the signed headers and
the body, and an ``X-Amz-Date`` within 15 minutes of the mock's clock (AWS's
window), so a provider that signs wrongly fails here as it would in AWS.
"""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime

from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from lbprovider.mockkit import HttpRequest, MockApiError
from lbprovider_aws.mock.exceptions import (
    AuthFailure,
    InvalidClientTokenId,
    MissingAuthenticationToken,
    RequestExpired,
    SignatureDoesNotMatch,
)

SKEW_SECONDS = 15 * 60
"""How far ``X-Amz-Date`` may be from the clock (AWS's own limit)."""
AMZ_DATE = "%Y%m%dT%H%M%SZ"
_AUTHORIZATION = re.compile(
    r"AWS4-HMAC-SHA256 Credential=(?P<key>[^/,\s]+)/(?P<date>\d{8})/(?P<region>[^/]+)/"
    r"(?P<service>[^/]+)/aws4_request,\s*SignedHeaders=(?P<signed>[^,\s]+),\s*"
    r"Signature=(?P<signature>[0-9a-f]{64})"
)


def _header(request: HttpRequest, name: str) -> str | None:
    lowered = name.lower()
    for key, value in request.headers.items():
        if key.lower() == lowered:
            return value
    return None


def scope_service(request: HttpRequest) -> str | None:
    """The service named in the credential scope (``elasticloadbalancing``, ``ec2``)."""
    match = _AUTHORIZATION.match(_header(request, "Authorization") or "")
    return match.group("service") if match else None


def _expected_signature(
    request: HttpRequest,
    *,
    secret_key: str,
    access_key: str,
    region: str,
    service: str,
    signed: list[str],
    amz_date: str,
) -> str:
    headers = {name: _header(request, name) or "" for name in signed}
    url = f"http://{headers.get('host') or '127.0.0.1'}{request.path}"
    if request.query:
        url += f"?{request.query}"
    rebuilt = AWSRequest(method=request.method, url=url, data=request.body, headers=headers)
    rebuilt.context["timestamp"] = amz_date
    signer = SigV4Auth(Credentials(access_key, secret_key), service, region)
    canonical = signer.canonical_request(rebuilt)
    signature: str = signer.signature(signer.string_to_sign(rebuilt, canonical), rebuilt)
    return signature


def check(request: HttpRequest, *, access_key: str, secret_key: str, now: float, ec2: bool) -> None:
    """Raise the service's auth error unless ``request`` is signed with the mock's key."""
    authorization = _header(request, "Authorization")
    if not authorization:
        raise MissingAuthenticationToken()
    match = _AUTHORIZATION.match(authorization)
    wrong_key: type[MockApiError] = AuthFailure if ec2 else InvalidClientTokenId
    bad_signature: type[MockApiError] = AuthFailure if ec2 else SignatureDoesNotMatch
    if match is None or match.group("key") != access_key:
        raise wrong_key()
    amz_date = _header(request, "X-Amz-Date") or ""
    try:
        signed_at = datetime.strptime(amz_date, AMZ_DATE).replace(tzinfo=UTC).timestamp()
    except ValueError:
        raise bad_signature("X-Amz-Date is missing or malformed") from None
    if abs(now - signed_at) > SKEW_SECONDS:
        if ec2:
            raise RequestExpired()
        raise SignatureDoesNotMatch(f"Signature expired: {amz_date} is now earlier or later")
    expected = _expected_signature(
        request,
        secret_key=secret_key,
        access_key=access_key,
        region=match.group("region"),
        service=match.group("service"),
        signed=match.group("signed").split(";"),
        amz_date=amz_date,
    )
    if not hmac.compare_digest(expected, match.group("signature")):
        raise bad_signature()
