"""``plan`` and ``list_owned`` against the mock CLB, with drift made through the real SDK.

Someone edits our CLB behind our back (the console, ``tccli``): ``plan`` must
name exactly that change and write nothing, and the ``ensure`` that follows
must make exactly the writes the plan named.  ``list_owned`` finds every CLB
of the cluster by its tag, over every page, and never a reused CLB.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lbprovider.cloud import (
    ChangeAction,
    InvalidService,
    PlannedChange,
    Protocol,
    RetryAfter,
)
from lbprovider.cloud.tags import CLUSTER_TAG, SERVICE_NAME_TAG, SERVICE_UID_TAG
from lbprovider.mockkit import is_read
from lbprovider_tencent.api import DESCRIBE_LIMIT

pytestmark = pytest.mark.providers

TCP, UDP = Protocol.TCP, Protocol.UDP
CREATE, UPDATE, DELETE = ChangeAction.CREATE, ChangeAction.UPDATE, ChangeAction.DELETE
EXISTED_ANN = "service.kubernetes.io/tke-existed-lbid"
PORTS = ((80, TCP, 30080), (443, TCP, 30443))


def _listener(tc: Any, cloud: Any, port: int) -> dict[str, Any]:
    (lb,) = tc.lb_state(cloud)
    found: list[dict[str, Any]] = [item for item in lb["listeners"] if item["port"] == port]
    (listener,) = found
    return listener


def _instances(cloud: Any) -> list[str]:
    return sorted(i.provider_id.rsplit("/", 1)[-1] for i in cloud.instances)


def _delete_listener(tc: Any, cloud: Any, lb_id: str) -> None:
    listener = _listener(tc, cloud, 443)
    tc.sdk_call(
        tc.sdk_client(cloud),
        "DeleteListener",
        {"LoadBalancerId": lb_id, "ListenerId": listener["id"]},
    )


def _deregister_target(tc: Any, cloud: Any, lb_id: str) -> None:
    tc.sdk_call(
        tc.sdk_client(cloud),
        "DeregisterTargets",
        {
            "LoadBalancerId": lb_id,
            "ListenerId": _listener(tc, cloud, 80)["id"],
            "Targets": [{"InstanceId": _instances(cloud)[1], "Port": 30080}],
        },
    )


def _register_extra_target(tc: Any, cloud: Any, lb_id: str) -> None:
    tc.sdk_call(
        tc.sdk_client(cloud),
        "RegisterTargets",
        {
            "LoadBalancerId": lb_id,
            "ListenerId": _listener(tc, cloud, 80)["id"],
            "Targets": [{"InstanceId": _instances(cloud)[0], "Port": 31000, "Weight": 10}],
        },
    )


def _switch_health_check_off(tc: Any, cloud: Any, lb_id: str) -> None:
    tc.sdk_call(
        tc.sdk_client(cloud),
        "ModifyListener",
        {
            "LoadBalancerId": lb_id,
            "ListenerId": _listener(tc, cloud, 443)["id"],
            "HealthCheck": {"HealthSwitch": 0},
        },
    )


def _turn_session_persistence_on(tc: Any, cloud: Any, lb_id: str) -> None:
    tc.sdk_call(
        tc.sdk_client(cloud),
        "ModifyListener",
        {
            "LoadBalancerId": lb_id,
            "ListenerId": _listener(tc, cloud, 80)["id"],
            "SessionExpireTime": 900,
        },
    )


Drift = Callable[[Any, Any, str], None]


@pytest.mark.parametrize(
    ("drift", "expected", "writes"),
    [
        pytest.param(
            _delete_listener,
            [(CREATE, "listener", "TCP:443", "", "check HTTP:10256/healthz")]
            + [(CREATE, "targets", "TCP:443", "", f"<ins{n}>:30443") for n in range(3)],
            {"CreateListener": 1, "BatchRegisterTargets": 1},
            id="listener-deleted",
        ),
        pytest.param(
            _deregister_target,
            [(CREATE, "targets", "TCP:80", "", "<ins1>:30080")],
            {"BatchRegisterTargets": 1},
            id="target-deregistered",
        ),
        pytest.param(
            _register_extra_target,
            [(DELETE, "targets", "TCP:80", "<ins0>:31000", "")],
            {"BatchDeregisterTargets": 1},
            id="target-registered",
        ),
        pytest.param(
            _switch_health_check_off,
            [(UPDATE, "health check", "TCP:443", "off", "HTTP:10256/healthz")],
            {"ModifyListener": 1},
            id="health-check-off",
        ),
        pytest.param(
            _turn_session_persistence_on,
            [(UPDATE, "attribute", "TCP:80", "SessionExpireTime=900", "SessionExpireTime=0")],
            {"ModifyListener": 1},
            id="session-persistence-on",
        ),
    ],
)
def test_drift_through_the_sdk_is_planned_exactly_and_ensure_makes_those_writes(
    tc: Any,
    cloud: Any,
    drift: Drift,
    expected: list[tuple[ChangeAction, str, str, str, str]],
    writes: dict[str, int],
) -> None:
    provider = tc.make_provider(cloud)
    desired = tc.desired(cloud, tc.ref(), PORTS)
    lb_id = tc.converge(lambda: provider.ensure(desired)).lb_id
    assert provider.plan(desired) == ()
    drift(tc, cloud, lb_id)
    tc.wait_tasks(cloud)

    before = cloud.admin.counters()
    changes = tc.make_provider(cloud).plan(desired)
    spent = cloud.admin.counters() - before
    assert spent.writes == 0, spent.actions
    names = {f"<ins{n}>": iid for n, iid in enumerate(_instances(cloud))}

    def named(text: str) -> str:
        for alias, iid in names.items():
            text = text.replace(alias, iid)
        return text

    assert [(c.action, c.kind, c.name, c.before, c.after) for c in changes] == [
        (action, kind, name, named(old), named(new)) for action, kind, name, old, new in expected
    ]

    before = cloud.admin.counters()
    tc.converge(lambda: provider.ensure(desired))
    spent = cloud.admin.counters() - before
    assert {a: n for a, n in spent.actions.items() if not is_read(a)} == writes
    assert provider.plan(desired) == ()


def test_plan_while_the_clb_is_being_created_plans_no_second_clb(tc: Any, cloud: Any) -> None:
    provider = tc.make_provider(cloud, task_wait_seconds=0.05)
    desired = tc.desired(cloud, tc.ref())
    tc.tasks(cloud, hold=True)
    with pytest.raises(RetryAfter):
        provider.ensure(desired)
    before = cloud.admin.counters()
    changes = provider.plan(desired)
    assert (cloud.admin.counters() - before).writes == 0
    assert [(c.action, c.kind) for c in changes] == [
        (CREATE, "listener"),
        *[(CREATE, "targets")] * len(cloud.instances),
    ]
    tc.tasks(cloud, hold=False)
    tc.converge(lambda: provider.ensure(desired))
    assert provider.plan(desired) == ()
    assert cloud.resources()["load_balancers"] == 1


def test_plan_raises_invalid_service_as_ensure_does_and_writes_nothing(
    tc: Any, cloud: Any, provider: Any
) -> None:
    bad = tc.desired(cloud, tc.ref(**{EXISTED_ANN: "not-an-id"}))
    before = cloud.admin.counters()
    with pytest.raises(InvalidService, match=EXISTED_ANN) as planned:
        provider.plan(bad)
    with pytest.raises(InvalidService) as ensured:
        provider.ensure(bad)
    assert planned.value.reason == ensured.value.reason
    assert (cloud.admin.counters() - before).total == 0

    # A Service with its own CLB that then names another one to reuse.
    own = tc.desired(cloud, tc.ref())
    tc.converge(lambda: provider.ensure(own))
    users = cloud.backend.seed_load_balancer(name="users-clb")
    switched = tc.desired(cloud, tc.ref(**{EXISTED_ANN: users}))
    before = cloud.admin.counters()
    with pytest.raises(InvalidService, match="already has its own CLB") as planned:
        provider.plan(switched)
    with pytest.raises(InvalidService) as ensured:
        provider.ensure(switched)
    assert planned.value.reason == ensured.value.reason
    assert (cloud.admin.counters() - before).writes == 0


def test_plan_on_a_reused_clb_names_only_our_listeners(tc: Any, cloud: Any, provider: Any) -> None:
    users = cloud.backend.seed_load_balancer(name="users-clb")
    cloud.backend.seed_listener(users, port=22, protocol="TCP", name="ssh")
    desired = tc.desired(cloud, tc.ref(**{EXISTED_ANN: users}))
    changes = provider.plan(desired)
    assert changes[0] == PlannedChange(
        action=CREATE, kind="listener", name="TCP:80", after="check HTTP:10256/healthz"
    )
    assert {c.kind for c in changes} == {"listener", "targets"}  # no CLB to create
    tc.converge(lambda: provider.ensure(desired))
    assert provider.plan(desired) == ()


def _tagged(cloud: Any, *, cluster: str, uid: str, key: str) -> str:
    """A CLB created in the mock's state with these ownership tags (no API call)."""
    lb_id, _, _ = cloud.backend.create_load_balancer(
        lb_type="OPEN",
        vpc_id=None,
        subnet_id=None,
        name=f"k8s-{uid}",
        vip=None,
        tags={CLUSTER_TAG: cluster, SERVICE_UID_TAG: uid, SERVICE_NAME_TAG: key},
    )
    return str(lb_id)


def test_list_owned_reads_every_page_of_the_cluster_tag_and_never_a_reused_clb(
    tc: Any, cloud: Any, provider: Any
) -> None:
    ours = {
        _tagged(cloud, cluster=tc.CLUSTER, uid=f"uid-{n}", key=f"default/svc-{n}"): n
        for n in range(DESCRIBE_LIMIT + 5)
    }
    _tagged(cloud, cluster="another-cluster", uid="uid-x", key="default/x")
    users = cloud.backend.seed_load_balancer(name="users-clb")
    tc.converge(lambda: provider.ensure(tc.desired(cloud, tc.ref("uid-r", **{EXISTED_ANN: users}))))
    tc.wait_tasks(cloud)

    before = cloud.admin.counters()
    owned = tc.make_provider(cloud).list_owned()
    spent = cloud.admin.counters() - before
    assert spent.writes == 0
    assert spent.actions == {"DescribeLoadBalancers": 2}  # one tag-filtered lookup, two pages
    assert {item.lb_id: item.service_uid for item in owned} == {
        lb_id: f"uid-{n}" for lb_id, n in ours.items()
    }
    assert {item.service_key for item in owned} == {
        f"default/svc-{n}" for n in range(DESCRIBE_LIMIT + 5)
    }
    assert users not in {item.lb_id for item in owned}
