"""boto3 clients for elbv2 and ec2 with bounded retries and typed errors.

botocore's ``standard`` retry mode handles transient failures first; tenacity
adds a short, bounded second layer for throttling, 5xx and connection errors
so a worker is never blocked for long.  Every failure leaves as a
:class:`CloudError` whose message names the operation and AWS's error code,
never the credentials.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import boto3
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    ReadTimeoutError,
)
from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential

from lbprovider.cloud import CloudError, RetryAfter
from lbprovider_aws.settings import AwsSettings, Credentials

log = logging.getLogger(__name__)

THROTTLING_CODES = frozenset(
    {
        "Throttling",
        "ThrottlingException",
        "ThrottledException",
        "RequestLimitExceeded",
        "TooManyRequestsException",
        "RequestThrottled",
        "SlowDown",
    }
)
_CONNECTION_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
)
ROUNDS = 2
"""tenacity rounds around botocore's own retries: one more try after a short pause."""


def error_code(exc: ClientError) -> str:
    """AWS's error code of ``exc`` ("" when absent)."""
    return str(exc.response.get("Error", {}).get("Code", ""))


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)


def _retryable(exc: BaseException) -> bool:
    if isinstance(exc, ClientError):
        return error_code(exc) in THROTTLING_CODES or _status(exc) >= 500
    return isinstance(exc, _CONNECTION_ERRORS)


_SESSION_LOCK = threading.Lock()
_SESSION: list[Any] = []


def _shared_session() -> Any:
    """One boto3 session per process: loading the ec2 service model costs ~0.3 s per session."""
    if not _SESSION:
        _SESSION.append(boto3.session.Session())
    return _SESSION[0]


class AwsApi:
    """The two clients one provider instance uses, and the one way to call them."""

    def __init__(self, *, settings: AwsSettings, credentials: Credentials | None) -> None:
        keys: dict[str, Any] = {}
        if credentials is not None:
            # Passed to the clients only: the shared session never holds them.
            keys = {
                "aws_access_key_id": credentials.access_key_id,
                "aws_secret_access_key": credentials.secret_access_key,
                "aws_session_token": credentials.session_token,
            }
        config = Config(
            retries={"mode": "standard", "max_attempts": settings.retry_attempts},
            connect_timeout=5,
            read_timeout=30,
        )
        with _SESSION_LOCK:
            session = _shared_session()
            self.elbv2: Any = session.client(
                "elbv2",
                region_name=settings.region,
                endpoint_url=settings.endpoint_url,
                config=config,
                **keys,
            )
            self.ec2: Any = session.client(
                "ec2",
                region_name=settings.region,
                endpoint_url=settings.endpoint_url,
                config=config,
                **keys,
            )

    def call(self, client: Any, operation: str, **params: Any) -> dict[str, Any]:
        """``client.<operation>(**params)`` with bounded retries; CloudError on failure."""
        method = getattr(client, operation)
        retrying = Retrying(
            stop=stop_after_attempt(ROUNDS),
            wait=wait_exponential(multiplier=0.5, max=2),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        try:
            result: dict[str, Any] = retrying(method, **params)
        except ClientError as exc:
            code = error_code(exc)
            message = str(exc.response.get("Error", {}).get("Message", ""))
            # NotFound answers are ordinary outcomes of lookups; the caller decides.
            level = logging.DEBUG if code.endswith("NotFound") else logging.WARNING
            log.log(level, "aws call failed", extra={"operation": operation, "code": code})
            if code in THROTTLING_CODES:
                raise RetryAfter(10, f"aws {operation} throttled ({code})") from None
            raise AwsError(operation=operation, code=code, message=message) from None
        except BotoCoreError as exc:
            log.warning(
                "aws call failed", extra={"operation": operation, "error": type(exc).__name__}
            )
            raise CloudError(f"aws {operation} failed: {type(exc).__name__}") from None
        return result

    def pages(self, client: Any, operation: str, key: str, **params: Any) -> list[Any]:
        """Every item under ``key`` across the pages of ``operation``."""
        items: list[Any] = []
        marker_in, marker_out = (
            ("NextToken", "NextToken") if client is self.ec2 else ("Marker", "NextMarker")
        )
        while True:
            page = self.call(client, operation, **params)
            items.extend(page.get(key, []))
            marker = page.get(marker_out)
            if not marker:
                return items
            params = {**params, marker_in: marker}


class AwsError(CloudError):
    """An AWS API error: ``code`` lets callers treat NotFound and the like as outcomes."""

    def __init__(self, *, operation: str, code: str, message: str) -> None:
        super().__init__(f"aws {operation} failed: {code}: {message}".rstrip(": "))
        self.operation = operation
        self.code = code
