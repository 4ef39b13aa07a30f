"""A thin, retrying wrapper around the Tencent CLB SDK client.

Calls go through the SDK's typed request/response models (so the real
serialisation and signing run), are retried with tenacity on throttling,
server and network errors, and map ``TencentCloudSDKException`` to the
contract's errors: ``FailedOperation.ResourceInOperating`` becomes
``RetryAfter``, everything else ``CloudError`` (code and message only; the
SDK never puts the secret in either).  CLB writes are asynchronous:
:meth:`ClbApi.wait_task` polls ``DescribeTaskStatus`` briefly and answers
``RetryAfter`` instead of blocking a worker for long.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Mapping
from typing import Any

from tenacity import Retrying, retry_if_exception, stop_after_attempt, wait_exponential
from tencentcloud.clb.v20180317 import clb_client, models
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from lbprovider.cloud import CloudError, RetryAfter
from lbprovider_tencent.settings import Credentials, TencentSettings

log = logging.getLogger(__name__)

RETRYABLE_CODES = frozenset(
    {
        "RequestLimitExceeded",
        "RequestLimitExceeded.UinLimitExceeded",
        "FailedOperation.RateLimitExceeded",
        "InternalError",
        "ClientNetworkError",
        "ServerNetworkError",
    }
)
IN_OPERATION = "FailedOperation.ResourceInOperating"
TASK_SUCCEEDED, TASK_FAILED = 0, 1


def _retryable(error: BaseException) -> bool:
    return isinstance(error, TencentCloudSDKException) and error.code in RETRYABLE_CODES


class ClbApiError(CloudError):
    """A CLB API call failed; ``code`` is Tencent's error code."""

    def __init__(self, action: str, code: str, message: str) -> None:
        super().__init__(f"CLB {action} failed: {code}: {message}")
        self.action = action
        self.code = code


class ClbApi:
    """One region's CLB API for one provider instance (an SDK client per thread)."""

    def __init__(self, *, settings: TencentSettings, credentials: Credentials) -> None:
        self._settings = settings
        self._credential = credential.Credential(
            credentials.secret_id, credentials.secret_key, credentials.token
        )
        self._local = threading.local()

    def _client(self) -> Any:
        client = getattr(self._local, "client", None)
        if client is None:
            http = HttpProfile(
                endpoint=self._settings.endpoint,
                protocol=self._settings.scheme,
                reqTimeout=self._settings.request_timeout_seconds,
            )
            profile = ClientProfile(httpProfile=http, language="en-US")
            client = clb_client.ClbClient(self._credential, self._settings.region, profile)
            self._local.client = client
        return client

    def call(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Call ``action`` with ``params``; the response's fields as a dict."""
        request = getattr(models, f"{action}Request")()
        request.from_json_string(json.dumps(dict(params)))
        method = getattr(self._client(), action)
        retrying = Retrying(
            stop=stop_after_attempt(self._settings.max_attempts),
            wait=wait_exponential(multiplier=0.2, max=2.0),
            retry=retry_if_exception(_retryable),
            reraise=True,
        )
        try:
            for attempt in retrying:
                with attempt:
                    number = attempt.retry_state.attempt_number
                    if number > 1:
                        log.info("retrying CLB call", extra={"action": action, "attempt": number})
                    response = method(request)
        except TencentCloudSDKException as error:
            code, message = str(error.code), str(error.message)
            if code == IN_OPERATION:
                raise RetryAfter(
                    self._settings.retry_after_seconds,
                    f"CLB {action}: the load balancer has a task in progress",
                ) from None
            raise ClbApiError(action, code, message) from None
        result: dict[str, Any] = json.loads(response.to_json_string())
        return result

    def wait_task(self, task_id: str, what: str) -> None:
        """Wait up to ``task_wait_seconds`` for a task; RetryAfter while it still runs."""
        deadline = time.monotonic() + self._settings.task_wait_seconds
        pause = 0.05
        while True:
            status = self.call("DescribeTaskStatus", {"TaskId": task_id}).get("Status")
            if status == TASK_SUCCEEDED:
                return
            if status == TASK_FAILED:
                raise CloudError(f"CLB task for {what} failed (task {task_id})")
            if time.monotonic() + pause > deadline:
                raise RetryAfter(
                    self._settings.retry_after_seconds, f"CLB task for {what} is still running"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.5)
