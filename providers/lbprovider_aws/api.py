"""The SDK wrapper: boto3's elbv2 and ec2 clients, every call through ``providerkit.CloudCaller``.

botocore's own retries are off (one attempt per request): the kit's one call
wrapper retries throttling, 5xx and connection errors a bounded number of
times, turns persistent throttling into ``RetryAfter``, answers "not found"
as None (:meth:`AwsApi.call_or_none`), counts and times every attempt and
logs failures.  Failures leave as :class:`AwsApiError` (the contract's
``CloudApiError``) naming the action and AWS's code, never the credentials.
"""

from __future__ import annotations

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

from lbprovider.cloud import CONNECTION_ERROR, CloudApiError
from lbprovider.providerkit import CallPolicy, CloudCaller, Credentials, ErrorCodes
from lbprovider_aws.settings import Settings

PROVIDER = "aws"

CODES = ErrorCodes(
    throttling=frozenset(
        {
            "Throttling",
            "ThrottlingException",
            "ThrottledException",
            "RequestLimitExceeded",
            "TooManyRequestsException",
            "RequestThrottled",
            "SlowDown",
        }
    ),
    transient=frozenset(
        {"InternalFailure", "InternalError", "ServiceUnavailable", "RequestTimeout"}
    ),
    not_found=frozenset(
        {
            "LoadBalancerNotFound",
            "TargetGroupNotFound",
            "ListenerNotFound",
            "InvalidGroup.NotFound",
        }
    ),
)
_CONNECTION_ERRORS = (
    EndpointConnectionError,
    ConnectionClosedError,
    ConnectTimeoutError,
    ReadTimeoutError,
)
_PAGE_MARKERS = {"ec2": ("NextToken", "NextToken"), "elbv2": ("Marker", "NextMarker")}
"""Per service: the request parameter and the reply key of the next page."""


class AwsApiError(CloudApiError):
    """An AWS API call failed (``code`` is AWS's error code, or ``ConnectionError``)."""


def translate(action: str, exc: BaseException) -> AwsApiError | None:
    """The contract error for a botocore exception; None for anything else."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        meta = exc.response.get("ResponseMetadata", {})
        return AwsApiError(
            provider=PROVIDER,
            action=action,
            code=str(error.get("Code", "")) or "Unknown",
            message=str(error.get("Message", "")),
            status=int(meta.get("HTTPStatusCode", 0) or 0),
            request_id=str(meta.get("RequestId", "")),
        )
    if isinstance(exc, _CONNECTION_ERRORS):
        return AwsApiError(provider=PROVIDER, action=action, code=CONNECTION_ERROR)
    if isinstance(exc, BotoCoreError):
        # Parameter validation and the like: no answer from AWS, never retried.
        return AwsApiError(provider=PROVIDER, action=action, code=type(exc).__name__)
    return None


_SESSION_LOCK = threading.Lock()
_SESSION: list[Any] = []


def _shared_session() -> Any:
    """One boto3 session per process: loading the ec2 service model costs ~0.3 s per session."""
    if not _SESSION:
        _SESSION.append(boto3.session.Session())
    return _SESSION[0]


class AwsApi:
    """The two clients one provider instance uses, and the one way to call them."""

    def __init__(
        self,
        *,
        settings: Settings,
        credentials: Credentials | None,
        policy: CallPolicy | None = None,
    ) -> None:
        keys: dict[str, Any] = {}
        if credentials is not None:
            # Passed to the clients only: the shared session never holds them.
            keys = {
                "aws_access_key_id": credentials["access_key_id"],
                "aws_secret_access_key": credentials["secret_access_key"],
                "aws_session_token": credentials.get("session_token"),
            }
        # One attempt per request: the retries are CloudCaller's, in one place.
        config = Config(
            retries={"mode": "standard", "total_max_attempts": 1},
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
        self.caller = CloudCaller(
            provider=PROVIDER,
            translate=translate,
            codes=CODES,
            policy=policy
            or CallPolicy(attempts=settings.retry_attempts + 1, rate_limit=settings.rate_limit),
        )

    def call(self, client: Any, operation: str, **params: Any) -> dict[str, Any]:
        """``client.<operation>(**params)`` through the call wrapper."""
        action = client.meta.method_to_api_mapping.get(operation, operation)
        result: dict[str, Any] = self.caller.call(action, getattr(client, operation), **params)
        return result

    def call_or_none(self, client: Any, operation: str, **params: Any) -> dict[str, Any] | None:
        """Like :meth:`call`, but None when AWS answers that the object does not exist."""
        action = client.meta.method_to_api_mapping.get(operation, operation)
        result: dict[str, Any] | None = self.caller.call_or_none(
            action, getattr(client, operation), **params
        )
        return result

    def pages(
        self, client: Any, operation: str, key: str, *, missing_ok: bool = False, **params: Any
    ) -> list[Any]:
        """Every item under ``key`` across the pages of ``operation``; with ``missing_ok``,
        an empty list when AWS answers "not found"."""
        marker_in, marker_out = _PAGE_MARKERS[client.meta.service_model.service_name]
        items: list[Any] = []
        while True:
            page = (
                self.call_or_none(client, operation, **params)
                if missing_ok
                else self.call(client, operation, **params)
            )
            if page is None:
                return items
            items.extend(page.get(key, []))
            marker = page.get(marker_out)
            if not marker:
                return items
            params = {**params, marker_in: marker}

    def is_not_found(self, error: BaseException) -> bool:
        """True when ``error`` says the object does not exist."""
        return self.caller.is_not_found(error)
