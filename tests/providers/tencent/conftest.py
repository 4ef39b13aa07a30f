"""Fixtures for the Tencent CLB tests: the mock server, SDK clients, provider and helpers.

Everything talks HTTP to a mock started on 127.0.0.1 with signature checks on;
tasks complete after a tiny delay so the suite stays fast.  Counters, faults,
the clock and the CLB task knobs go through the mock-cloud kit's admin API
(``cloud.admin``, a :class:`lbprovider.mockkit.MockAdmin`).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, TypeVar

import pytest
from tencentcloud.clb.v20180317 import clb_client, models
from tencentcloud.common import credential
from tencentcloud.common.profile.client_profile import ClientProfile
from tencentcloud.common.profile.http_profile import HttpProfile

from lbprovider.cloud import (
    BackendMode,
    DesiredLoadBalancer,
    EndpointTarget,
    Listener,
    NodeTarget,
    Protocol,
    RetryAfter,
    ServiceRef,
)
from lbprovider.mockkit import is_read
from lbprovider_tencent.mock import TencentMockCloud, start
from lbprovider_tencent.provider import TencentProvider, create

T = TypeVar("T")
TASK_DELAY = 0.02
CLUSTER = "test-cluster"


@pytest.fixture
def cloud() -> Iterator[TencentMockCloud]:
    handle = start(instances=3, task_delay=TASK_DELAY)
    try:
        yield handle
    finally:
        handle.stop()


def make_provider(cloud: TencentMockCloud, **overrides: Any) -> TencentProvider:
    settings = {**cloud.provider_settings(), "retry_after_seconds": 0.05, **overrides}
    return create(settings, cluster_name=CLUSTER)


@pytest.fixture
def provider(cloud: TencentMockCloud) -> TencentProvider:
    return make_provider(cloud)


def secrets(cloud: TencentMockCloud) -> tuple[str, str]:
    data = json.loads(cloud.credentials_file.read_text())
    return data["secret_id"], data["secret_key"]


def sdk_client(
    cloud: TencentMockCloud, *, secret_id: str | None = None, secret_key: str | None = None
) -> Any:
    """A real ClbClient pointed at the mock."""
    sid, skey = secrets(cloud)
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=cloud.address, protocol="http"))
    cred = credential.Credential(secret_id or sid, secret_key or skey)
    return clb_client.ClbClient(cred, cloud.backend.region, profile)


def sdk_call(client: Any, action: str, params: dict[str, Any]) -> Any:
    """Call ``action`` through the SDK's typed models; the response model."""
    request = getattr(models, f"{action}Request")()
    request.from_json_string(json.dumps(params))
    return getattr(client, action)(request)


def tasks(cloud: TencentMockCloud, **knobs: Any) -> Any:
    """The CLB-only task knobs: ``hold=True``, ``fail_next=1``, ``delay=0.1``."""
    return cloud.admin.request("POST", "tasks", knobs)


def writes(cloud: TencentMockCloud) -> dict[str, int]:
    """Write calls per action since the last counter reset."""
    actions = cloud.admin.counters().actions
    return {action: n for action, n in actions.items() if not is_read(action)}


def converge(call: Callable[[], T], *, timeout: float = 10.0) -> T:
    """Repeat ``call`` while it raises RetryAfter, like the work queue does (shortened)."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except RetryAfter:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def wait_tasks(cloud: TencentMockCloud) -> None:
    """Finish every running task by moving the mock's clock past the task delay."""
    cloud.admin.advance_clock(cloud.backend.task_delay)
    running = [task for task, status in cloud.admin.state()["tasks"].items() if status == 2]
    assert not running, f"mock tasks did not finish: {running}"


def ref(uid: str = "uid-1", name: str = "web", **annotations: str) -> ServiceRef:
    return ServiceRef(
        cluster=CLUSTER, namespace="default", name=name, uid=uid, annotations=annotations
    )


def node_targets(cloud: TencentMockCloud) -> tuple[NodeTarget, ...]:
    return tuple(
        NodeTarget(name=i.node_name, provider_id=i.provider_id, address=i.internal_ip)
        for i in cloud.instances
    )


def desired(
    cloud: TencentMockCloud,
    service: ServiceRef,
    ports: tuple[tuple[int, Protocol, int], ...] = ((80, Protocol.TCP, 30080),),
    **kwargs: Any,
) -> DesiredLoadBalancer:
    """A NODE_PORT desired LB over all seeded nodes (port, protocol, node port)."""
    listeners = tuple(
        Listener(name=f"p{port}{proto.lower()}", port=port, protocol=proto, node_port=node_port)
        for port, proto, node_port in sorted(ports, key=lambda p: (p[0], p[1].value))
    )
    kwargs.setdefault("nodes", node_targets(cloud))
    return DesiredLoadBalancer(ref=service, listeners=listeners, **kwargs)


def pod_desired(
    service: ServiceRef, ports: dict[tuple[int, Protocol], tuple[EndpointTarget, ...]]
) -> DesiredLoadBalancer:
    listeners = tuple(
        Listener(name=f"p{port}", port=port, protocol=proto, endpoints=tuple(sorted(eps)))
        for (port, proto), eps in sorted(ports.items(), key=lambda kv: (kv[0][0], kv[0][1].value))
    )
    return DesiredLoadBalancer(ref=service, listeners=listeners, backend_mode=BackendMode.POD_IP)


def lb_state(cloud: TencentMockCloud) -> list[dict[str, Any]]:
    lbs: list[dict[str, Any]] = cloud.admin.state()["load_balancers"]
    return lbs


def tc3_headers(
    *,
    secret_id: str,
    secret_key: str,
    action: str,
    body: bytes,
    host: str,
    timestamp: int,
    date: str | None = None,
) -> dict[str, str]:
    """Sign a raw request the way the SDK does (for tests that bend one field)."""
    date = date or datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d")
    canonical = "\n".join(
        (
            "POST",
            "/",
            "",
            f"content-type:application/json\nhost:{host}\n",
            "content-type;host",
            hashlib.sha256(body).hexdigest(),
        )
    )
    to_sign = "\n".join(
        (
            "TC3-HMAC-SHA256",
            str(timestamp),
            f"{date}/clb/tc3_request",
            hashlib.sha256(canonical.encode()).hexdigest(),
        )
    )
    key = f"TC3{secret_key}".encode()
    for part in (date, "clb", "tc3_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "Host": host,
        "X-TC-Action": action,
        "X-TC-Timestamp": str(timestamp),
        "X-TC-Version": "2018-03-17",
        "X-TC-Region": "ap-guangzhou",
        "Content-Length": str(len(body)),
        "Authorization": (
            f"TC3-HMAC-SHA256 Credential={secret_id}/{date}/clb/tc3_request, "
            f"SignedHeaders=content-type;host, Signature={signature}"
        ),
    }


class Helpers:
    """The helpers above, handed to tests as the ``tc`` fixture.

    Test modules cannot import conftest under ``--import-mode=importlib``.
    """

    make_provider = staticmethod(make_provider)
    secrets = staticmethod(secrets)
    sdk_client = staticmethod(sdk_client)
    sdk_call = staticmethod(sdk_call)
    tasks = staticmethod(tasks)
    writes = staticmethod(writes)
    converge = staticmethod(converge)
    wait_tasks = staticmethod(wait_tasks)
    ref = staticmethod(ref)
    node_targets = staticmethod(node_targets)
    desired = staticmethod(desired)
    pod_desired = staticmethod(pod_desired)
    lb_state = staticmethod(lb_state)
    tc3_headers = staticmethod(tc3_headers)
    CLUSTER = CLUSTER


@pytest.fixture
def tc() -> type[Helpers]:
    return Helpers
