"""The Tencent CLB SDK wrapper: every cloud call of the provider goes through here.

Calls use the SDK's typed request models (so the real serialisation and TC3
signing run) and go through the kit's :class:`~lbprovider.providerkit.CloudCaller`:
bounded jittered retries on throttling, busy CLBs, ``InternalError`` and
network errors; persistent throttling and a CLB that stays "in operation"
become ``RetryAfter``; "not found" is an outcome (:meth:`CloudCaller.call_or_none`);
metrics and a log line per failure.  SDK errors become :class:`TencentApiError`
(code, message and request id; a credential is scrubbed should one appear).

CLB writes are asynchronous tasks: each write here waits for its task
(:meth:`ClbApi.wait_task`) up to ``task_wait_seconds`` and otherwise answers
``RetryAfter``; the next sync resumes from what it reads, so no worker
blocks on a slow task.  Replies are parsed into the model's ``Remote*`` values.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from tencentcloud.clb.v20180317 import clb_client, models
from tencentcloud.common import credential
from tencentcloud.common.exception.tencent_cloud_sdk_exception import TencentCloudSDKException
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from lbprovider.cloud import CONNECTION_ERROR, CloudApiError, CloudError, RetryAfter, ServiceRef
from lbprovider.providerkit import CallPolicy, CloudCaller, Credentials, ErrorCodes, batched
from lbprovider.providerkit.calls import Translate
from lbprovider_tencent.model import (
    TARGET_WEIGHT,
    ClbSpec,
    ListenerSpec,
    RemoteClb,
    RemoteListener,
    TargetKey,
)
from lbprovider_tencent.naming import client_token, tags_of
from lbprovider_tencent.settings import TencentSettings

log = logging.getLogger(__name__)

PROVIDER = "tencent"
TASK_SUCCEEDED, TASK_FAILED = 0, 1
DESCRIBE_LIMIT = 100
"""``DescribeLoadBalancers`` page size (CLB's maximum)."""
TARGET_BATCH = 500
"""``BatchRegisterTargets``/``BatchDeregisterTargets`` take up to 500 targets a call, across
the CLB's listeners ("批量绑定的资源数量上限为500", api.json action docs)."""
LISTENER_BATCH = 20
"""``DescribeTargets`` takes at most 20 listener ids a call ("ID 数量上限为20个", api.json)."""
TOKEN_ROUNDS = 10
"""Fresh ClientTokens tried when the CLB an earlier token made is gone (see create)."""
SPENT_TOKEN = "InvalidParameter.ClientTokenLimitExceeded"  # noqa: S105 - an error code
"""The token's order ended without a CLB, or went stale (SDK errorcodes.py): use the next."""

ERROR_CODES = ErrorCodes(
    throttling=frozenset(
        {
            "RequestLimitExceeded",
            "RequestLimitExceeded.UinLimitExceeded",
            "RequestLimitExceeded.GlobalRegionUinLimitExceeded",
            "RequestLimitExceeded.IPLimitExceeded",
            "FailedOperation.RateLimitExceeded",
        }
    ),
    # "正在操作指定的资源, 请稍后重试" (SDK errorcodes.py): a task holds the CLB; CLB
    # refuses every other write on it until the task ends.  Busy: retried, then RetryAfter.
    busy=frozenset({"FailedOperation.ResourceInOperating"}),
    # ServerNetworkError: the SDK's code for a non-200 answer (a gateway failure).
    transient=frozenset({"InternalError", "ServerNetworkError"}),
    not_found=frozenset(
        {
            "InvalidParameter.LBIdNotFound",
            "InvalidParameter.ListenerIdNotFound",
            "ResourceNotFound",
        }
    ),
)


class TencentApiError(CloudApiError):
    """A CLB API call failed; ``code`` is Tencent's error code."""


def _translator(secrets: tuple[str, ...]) -> Translate:
    def translate(action: str, error: BaseException) -> CloudApiError | None:
        if not isinstance(error, TencentCloudSDKException):
            return None
        code = str(error.code or "")
        message = str(error.message or "")
        for secret in secrets:
            message = message.replace(secret, "***")
        if code == "ClientNetworkError":  # the SDK's code when no answer came
            code = CONNECTION_ERROR
        return TencentApiError(
            provider=PROVIDER,
            action=action,
            code=code,
            message=message,
            request_id=str(error.requestId or ""),
        )

    return translate


class ClbApi:
    """One region's CLB API for one provider instance (an SDK client per thread)."""

    def __init__(self, *, settings: TencentSettings, credentials: Credentials) -> None:
        self._settings = settings
        self._credential = credential.Credential(
            credentials["secret_id"], credentials["secret_key"], credentials.get("token")
        )
        self._local = threading.local()
        self.caller = CloudCaller(
            provider=PROVIDER,
            translate=_translator(credentials.secrets()),
            codes=ERROR_CODES,
            policy=CallPolicy(
                attempts=settings.max_attempts,
                busy_retry_after=settings.retry_after_seconds,
                rate_limit=settings.rate_limit,
            ),
        )

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

    # ---- the one call path ----------------------------------------------------------

    def _prepare(self, action: str, params: Mapping[str, Any]) -> tuple[Any, Any]:
        # One request object for every attempt: a retried create re-sends its ClientToken.
        request = getattr(models, f"{action}Request")()
        request.from_json_string(json.dumps(dict(params)))
        return getattr(self._client(), action), request

    @staticmethod
    def _fields(response: Any) -> dict[str, Any]:
        result: dict[str, Any] = json.loads(response.to_json_string())
        return result

    def call(self, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
        """Call ``action`` with ``params``; the response's fields as a dict."""
        method, request = self._prepare(action, params)
        return self._fields(self.caller.call(action, method, request))

    def call_or_none(self, action: str, params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Like :meth:`call`, None when the CLB or listener does not exist."""
        method, request = self._prepare(action, params)
        response = self.caller.call_or_none(action, method, request)
        return None if response is None else self._fields(response)

    def wait_task(self, task_id: str, what: str) -> tuple[str, ...]:
        """Wait up to ``task_wait_seconds`` for a task; RetryAfter while it still runs.

        Returns the CLB ids the task reports (a delayed create names its CLB only there).
        """
        deadline = time.monotonic() + self._settings.task_wait_seconds
        pause = 0.05
        while True:
            task = self.call("DescribeTaskStatus", {"TaskId": task_id})
            if task.get("Status") == TASK_SUCCEEDED:
                return tuple(str(lb_id) for lb_id in task.get("LoadBalancerIds") or ())
            if task.get("Status") == TASK_FAILED:
                raise CloudError(f"CLB task for {what} failed (task {task_id})")
            if time.monotonic() + pause > deadline:
                raise RetryAfter(
                    self._settings.retry_after_seconds, f"CLB task for {what} is still running"
                )
            time.sleep(pause)
            pause = min(pause * 2, 0.5)

    def _write(self, action: str, params: Mapping[str, Any], what: str) -> dict[str, Any]:
        """Start a task and wait for it (CLB answers a write with the task's RequestId)."""
        started = self.call(action, params)
        self.wait_task(str(started["RequestId"]), what)
        return started

    # ---- load balancers -------------------------------------------------------------

    def describe_load_balancers(
        self, *, lb_ids: Iterable[str] = (), filters: list[dict[str, Any]] | None = None
    ) -> list[RemoteClb]:
        """Every CLB matching, oldest first.

        CLB lists newest first unless told (``OrderType`` "默认为1, 按照创建时间倒序",
        api.json): ask for creation order explicitly, so pages stay stable while CLBs are
        created and "the oldest" of duplicates is the first.
        """
        params: dict[str, Any] = {"OrderBy": "CreateTime", "OrderType": 0, "Limit": DESCRIBE_LIMIT}
        if lb_ids:
            params["LoadBalancerIds"] = list(lb_ids)
        if filters:
            params["Filters"] = filters
        found: list[RemoteClb] = []
        while True:
            page = self.call("DescribeLoadBalancers", {**params, "Offset": len(found)})
            batch = page.get("LoadBalancerSet") or []
            found.extend(
                RemoteClb(
                    lb_id=str(item["LoadBalancerId"]),
                    lb_type=str(item.get("LoadBalancerType") or ""),
                    status=int(item.get("Status") or 0),
                    vips=tuple(str(vip) for vip in item.get("LoadBalancerVips") or ()),
                    tags=tags_of(item.get("Tags")),
                )
                for item in batch
            )
            if not batch or len(found) >= int(page.get("TotalCount") or 0):
                return found

    def describe_load_balancer(self, lb_id: str) -> RemoteClb | None:
        found = self.describe_load_balancers(lb_ids=[lb_id])
        return found[0] if found else None

    def create_load_balancer(self, spec: ClbSpec, *, ref: ServiceRef, vpc_id: str) -> RemoteClb:
        """Create ``ref``'s CLB and wait for it; the CLB as described.

        Idempotent across calls and restarts: the ``ClientToken`` comes from the Service
        (:func:`naming.client_token`), and CLB answers a token it has seen with the CLB
        that token made ("用于保证请求幂等性的字符串", CreateLoadBalancer.ClientToken).  A
        creation still running when an earlier call gave up (RetryAfter), or delayed so the
        CLB is not listed yet, is resumed, not duplicated.  Once that CLB is gone (deleted
        since: the Service needs a new one), the next token in a fixed sequence is used.
        RetryAfter while the creation runs.
        """
        params: dict[str, Any] = {
            "LoadBalancerType": spec.lb_type,
            "LoadBalancerName": spec.name,
            "VpcId": vpc_id,
            "Tags": [{"TagKey": key, "TagValue": value} for key, value in spec.tags.items()],
        }
        if spec.subnet_id:
            params["SubnetId"] = spec.subnet_id
            if spec.vip:
                params["Vip"] = spec.vip
        fingerprint = f"{spec.lb_type}/{vpc_id}/{spec.subnet_id or ''}/{spec.vip or ''}"
        for attempt in range(TOKEN_ROUNDS):
            token = client_token(ref, fingerprint=fingerprint, attempt=attempt)
            try:
                created = self.call("CreateLoadBalancer", {**params, "ClientToken": token})
            except TencentApiError as error:
                if error.code == SPENT_TOKEN:
                    continue
                raise
            lb_ids = [str(lb_id) for lb_id in created.get("LoadBalancerIds") or ()]
            task_ids = self.wait_task(str(created["RequestId"]), f"creating {spec.name}")
            # A delayed creation answers no id ("创建出现延迟时, 此字段可能返回为空"): the task
            # names it (DescribeTaskStatus.LoadBalancerIds).
            lb_id = (lb_ids or list(task_ids) or [""])[0]
            if not lb_id:
                raise RetryAfter(
                    self._settings.retry_after_seconds, f"CLB {spec.name} has no id yet"
                )
            lb = self.describe_load_balancer(lb_id)
            if lb is not None:
                return lb
            log.info(
                "the CLB of an earlier ClientToken is gone; creating with the next token",
                extra={"service": ref.key, "lb_id": lb_id, "attempt": attempt},
            )
        raise CloudError(f"no fresh ClientToken left to create the CLB of {ref.key}")

    def delete_load_balancer(self, lb_id: str) -> None:
        """Delete the CLB; success when it is gone already.

        ``ForceDelete``: CLB refuses to delete a CLB with 20 or more bound backends, or with
        more than 10 Mbps of traffic in the last 5 minutes, unless forced (api.json,
        DeleteLoadBalancer.ForceDelete); the Service is gone, so its CLB must go too.
        """
        started = self.call_or_none(
            "DeleteLoadBalancer", {"LoadBalancerIds": [lb_id], "ForceDelete": True}
        )
        if started is not None:
            self.wait_task(str(started["RequestId"]), f"deleting {lb_id}")

    # ---- listeners ------------------------------------------------------------------

    def describe_listeners(self, lb_id: str) -> list[RemoteListener] | None:
        """The CLB's listeners; None when the CLB is gone."""
        found = self.call_or_none("DescribeListeners", {"LoadBalancerId": lb_id})
        if found is None:
            return None
        return [
            RemoteListener(
                listener_id=str(item["ListenerId"]),
                name=str(item.get("ListenerName") or ""),
                port=int(item["Port"]),
                protocol=str(item["Protocol"]),
                session_expire=int(item.get("SessionExpireTime") or 0),
                health_check=dict(item.get("HealthCheck") or {}),
            )
            for item in found.get("Listeners") or ()
        ]

    def create_listener(self, lb_id: str, spec: ListenerSpec) -> str:
        """Create one listener and wait for it; its id."""
        created = self._write(
            "CreateListener",
            {
                "LoadBalancerId": lb_id,
                "Ports": [spec.port],
                "Protocol": spec.protocol.value,
                "ListenerNames": [spec.name],
                "HealthCheck": dict(spec.health_check),
                "SessionExpireTime": spec.session_expire,
            },
            f"creating listener {spec.name}",
        )
        return str(created["ListenerIds"][0])

    def modify_listener(self, lb_id: str, listener_id: str, spec: ListenerSpec) -> None:
        self._write(
            "ModifyListener",
            {
                "LoadBalancerId": lb_id,
                "ListenerId": listener_id,
                "SessionExpireTime": spec.session_expire,
                "HealthCheck": dict(spec.health_check),
            },
            f"modifying listener {spec.name}",
        )

    def delete_listener(self, lb_id: str, listener_id: str) -> None:
        """Delete one listener; success when it (or its CLB) is gone already."""
        started = self.call_or_none(
            "DeleteListener", {"LoadBalancerId": lb_id, "ListenerId": listener_id}
        )
        if started is not None:
            self.wait_task(str(started["RequestId"]), f"deleting listener {listener_id}")

    # ---- targets --------------------------------------------------------------------

    def describe_targets(
        self, lb_id: str, listener_ids: Iterable[str]
    ) -> dict[str, frozenset[TargetKey]]:
        """Registered targets per listener id."""
        have: dict[str, frozenset[TargetKey]] = {}
        for chunk in batched(sorted(listener_ids), LISTENER_BATCH):
            described = self.call(
                "DescribeTargets", {"LoadBalancerId": lb_id, "ListenerIds": list(chunk)}
            )
            for backend in described.get("Listeners") or ():
                have[str(backend["ListenerId"])] = frozenset(
                    _target_key(target) for target in backend.get("Targets") or ()
                )
        return have

    def register_targets(self, lb_id: str, targets: Sequence[tuple[str, TargetKey]]) -> None:
        """Register ``(listener id, target)`` pairs across the CLB's listeners."""
        self._change_targets("BatchRegisterTargets", lb_id, targets)

    def deregister_targets(self, lb_id: str, targets: Sequence[tuple[str, TargetKey]]) -> None:
        """Deregister ``(listener id, target)`` pairs across the CLB's listeners."""
        self._change_targets("BatchDeregisterTargets", lb_id, targets)

    def _change_targets(
        self, action: str, lb_id: str, targets: Sequence[tuple[str, TargetKey]]
    ) -> None:
        # One call per 500 targets, whatever the number of listeners they are spread over.
        for chunk in batched(targets, TARGET_BATCH):
            done = self._write(
                action,
                {
                    "LoadBalancerId": lb_id,
                    "Targets": [
                        {"ListenerId": listener_id, **_target(key)} for listener_id, key in chunk
                    ],
                },
                f"{action} on {lb_id}",
            )
            failed = done.get("FailListenerIdSet") or []
            if failed:
                raise TencentApiError(
                    provider=PROVIDER,
                    action=action,
                    code="FailedOperation",
                    message=(
                        f"listeners {', '.join(map(str, failed))}: {done.get('Message') or ''}"
                    ),
                    request_id=str(done.get("RequestId") or ""),
                )


def _target(key: TargetKey) -> dict[str, Any]:
    kind, ident, port = key
    target: dict[str, Any] = {"InstanceId": ident} if kind == "CVM" else {"EniIp": ident}
    return {**target, "Port": port, "Weight": TARGET_WEIGHT}


def _target_key(target: Mapping[str, Any]) -> TargetKey:
    # The API reports an ENI target by its address (Backend has no EniIp field).
    if target.get("Type") == "ENI" or not target.get("InstanceId"):
        addresses = target.get("PrivateIpAddresses") or [""]
        return ("ENI", str(addresses[0]), int(target["Port"]))
    return ("CVM", str(target["InstanceId"]), int(target["Port"]))
