"""The provider contract, the same cases for every provider over its mock cloud.

What ``lbprovider.cloud.Provider`` promises (DESIGN §3), observed in the
cloud (the mock's state and call counters), not through the provider:
zero writes for an unchanged Service, adoption after a restart, idempotent
delete that leaves nothing tagged, other clouds' nodes ignored, node and Pod
backends exact, TCP+UDP on one port, throttling bounded and surfaced as
``RetryAfter``, a reused load balancer never deleted.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from functools import partial
from typing import TypeVar

import pytest

from contract_suite import (
    CLOUDS,
    ContractCloud,
    node_port_lb,
    open_cloud,
    pod_ip_lb,
    reuse_clouds,
    service_ref,
    total,
)
from lbprovider.cloud import ChangeAction, LoadBalancerStatus, Protocol, RetryAfter

pytestmark = pytest.mark.providers
T = TypeVar("T")


@pytest.fixture(params=CLOUDS)
def cloud(request: pytest.FixtureRequest) -> Iterator[ContractCloud]:
    with open_cloud(str(request.param)) as opened:
        yield opened


def converge(call: Callable[[], T], *, attempts: int = 60) -> T:
    """Call until the provider stops answering RetryAfter (async clouds finish their tasks)."""
    for _ in range(attempts - 1):
        try:
            return call()
        except RetryAfter:
            time.sleep(0.05)
    return call()


def test_create_then_unchanged_costs_zero_writes(cloud: ContractCloud) -> None:
    provider = cloud.new_provider()
    ref = service_ref("unchanged")
    desired = node_port_lb(ref, cloud.nodes())
    status = converge(lambda: provider.ensure(desired))
    assert status.lb_id
    assert status.ingress and (status.ingress[0].ip or status.ingress[0].hostname)
    assert cloud.owned(ref).get("load_balancers") == 1
    assert cloud.backends(ref) == {(cloud.backend_id(node), 30080) for node in cloud.nodes()}

    before = cloud.counts()
    again = provider.ensure(desired)
    spent = cloud.counts() - before
    assert spent.writes == 0, spent.actions
    assert again.lb_id == status.lb_id


def test_restart_adopts_instead_of_duplicating(cloud: ContractCloud) -> None:
    ref = service_ref("adopted")
    desired = node_port_lb(ref, cloud.nodes())
    first = converge(lambda: cloud.new_provider().ensure(desired))
    owned = dict(cloud.owned(ref))

    restarted = cloud.new_provider()
    found = restarted.get(ref)
    assert found is not None and found.lb_id == first.lb_id
    before = cloud.counts()
    second = restarted.ensure(desired)
    assert (cloud.counts() - before).writes == 0
    assert second.lb_id == first.lb_id
    assert dict(cloud.owned(ref)) == owned


def test_get_unknown_service_is_none(cloud: ContractCloud) -> None:
    assert cloud.new_provider().get(service_ref("never-created")) is None


def test_delete_is_idempotent_and_leaves_nothing_tagged(cloud: ContractCloud) -> None:
    provider = cloud.new_provider()
    ref = service_ref("deleted")
    desired = node_port_lb(
        ref, cloud.nodes(), ports=((80, Protocol.TCP, 30080), (443, Protocol.TCP, 30443))
    )
    converge(lambda: provider.ensure(desired))
    assert total(cloud.owned(ref)) >= 1

    converge(lambda: provider.delete(ref))
    assert total(cloud.owned(ref)) == 0, cloud.owned(ref)
    assert provider.get(ref) is None
    before = cloud.counts()
    converge(lambda: cloud.new_provider().delete(ref))
    assert (cloud.counts() - before).writes == 0


def test_other_services_are_untouched_by_delete(cloud: ContractCloud) -> None:
    provider = cloud.new_provider()
    kept, gone = service_ref("kept"), service_ref("gone")
    converge(lambda: provider.ensure(node_port_lb(kept, cloud.nodes())))
    converge(lambda: provider.ensure(node_port_lb(gone, cloud.nodes())))
    owned = dict(cloud.owned(kept))
    converge(lambda: provider.delete(gone))
    assert dict(cloud.owned(kept)) == owned
    assert cloud.backends(kept) == {(cloud.backend_id(node), 30080) for node in cloud.nodes()}


def test_other_clouds_nodes_are_ignored(cloud: ContractCloud) -> None:
    provider = cloud.new_provider()
    ref = service_ref("foreign")
    desired = node_port_lb(ref, cloud.nodes() + cloud.foreign_nodes())
    converge(lambda: provider.ensure(desired))
    assert cloud.backends(ref) == {(cloud.backend_id(node), 30080) for node in cloud.nodes()}


def test_update_backends_moves_only_backends(cloud: ContractCloud) -> None:
    provider = cloud.new_provider()
    ref = service_ref("backends")
    nodes = cloud.nodes()
    status = converge(lambda: provider.ensure(node_port_lb(ref, nodes)))
    fewer = node_port_lb(ref, nodes[:1])

    before = cloud.counts()
    converge(lambda: provider.update_backends(fewer))
    assert (cloud.counts() - before).writes >= 1
    assert cloud.backends(ref) == {(cloud.backend_id(nodes[0]), 30080)}
    assert cloud.owned(ref).get("load_balancers") == 1

    before = cloud.counts()
    converge(lambda: provider.update_backends(fewer))
    assert (cloud.counts() - before).writes == 0
    assert converge(lambda: provider.ensure(fewer)).lb_id == status.lb_id


def test_tcp_and_udp_on_one_port(cloud: ContractCloud) -> None:
    provider = cloud.new_provider()
    ref = service_ref("dns")
    desired = node_port_lb(
        ref, cloud.nodes(), ports=((53, Protocol.TCP, 30053), (53, Protocol.UDP, 30053))
    )
    status = converge(lambda: provider.ensure(desired))
    served = {(port.port, port.protocol) for item in status.ingress for port in item.ports}
    assert served == {(53, Protocol.TCP), (53, Protocol.UDP)}
    before = cloud.counts()
    provider.ensure(desired)
    assert (cloud.counts() - before).writes == 0


def test_pod_ip_backends(cloud: ContractCloud) -> None:
    provider = cloud.new_provider()
    ref = service_ref("pods")
    endpoints = cloud.pod_endpoints(8080)
    converge(lambda: provider.ensure(pod_ip_lb(ref, endpoints)))
    assert cloud.backends(ref) == {(endpoint.ip, endpoint.port) for endpoint in endpoints}

    fewer = pod_ip_lb(ref, endpoints[:1])
    converge(lambda: provider.update_backends(fewer))
    assert cloud.backends(ref) == {(endpoints[0].ip, endpoints[0].port)}


def test_transient_throttling_is_retried_inside_the_call(cloud: ContractCloud) -> None:
    provider = cloud.new_provider()
    ref = service_ref("throttled-once")
    cloud.throttle(count=1)
    status = converge(lambda: provider.ensure(node_port_lb(ref, cloud.nodes())))
    assert status.lb_id
    assert cloud.owned(ref).get("load_balancers") == 1


def test_persistent_throttling_is_a_bounded_retry_after(cloud: ContractCloud) -> None:
    provider = cloud.new_provider()
    ref = service_ref("throttled")
    cloud.throttle(count=None)
    before = cloud.counts()
    with pytest.raises(RetryAfter) as raised:
        provider.ensure(node_port_lb(ref, cloud.nodes()))
    assert 0 < raised.value.seconds <= 300
    # Bounded: a few attempts of the first call, not a hot loop.
    assert (cloud.counts() - before).total <= 10
    cloud.clear_faults()
    status: LoadBalancerStatus = converge(lambda: provider.ensure(node_port_lb(ref, cloud.nodes())))
    assert cloud.owned(ref).get("load_balancers") == 1
    assert status.lb_id


@pytest.fixture(params=reuse_clouds())
def reusing_cloud(request: pytest.FixtureRequest) -> Iterator[ContractCloud]:
    with open_cloud(str(request.param)) as opened:
        yield opened


def test_reused_load_balancer_is_never_deleted(reusing_cloud: ContractCloud) -> None:
    cloud = reusing_cloud
    reuse = cloud.reuse()
    provider = cloud.new_provider()
    ref = service_ref("reused", **reuse.annotations)
    status = converge(lambda: provider.ensure(node_port_lb(ref, cloud.nodes())))
    assert status.lb_id == reuse.lb_id
    converge(lambda: provider.delete(ref))
    assert cloud.exists(reuse.lb_id)


def test_plan_of_a_new_service_creates_a_load_balancer(cloud: ContractCloud) -> None:
    provider = cloud.new_provider()
    ref = service_ref("planned-new")
    before = cloud.counts()
    changes = provider.plan(node_port_lb(ref, cloud.nodes()))
    assert (cloud.counts() - before).writes == 0
    assert any(
        change.action is ChangeAction.CREATE and change.kind == "load balancer"
        for change in changes
    ), changes
    assert total(cloud.owned(ref)) == 0


def test_plan_is_empty_in_sync_and_names_a_change_without_writing(cloud: ContractCloud) -> None:
    provider = cloud.new_provider()
    ref = service_ref("planned")
    desired = node_port_lb(ref, cloud.nodes())
    converge(lambda: provider.ensure(desired))
    assert cloud.new_provider().plan(desired) == ()

    wider = node_port_lb(
        ref, cloud.nodes(), ports=((80, Protocol.TCP, 30080), (443, Protocol.TCP, 30443))
    )
    before = cloud.counts()
    changes = cloud.new_provider().plan(wider)
    assert (cloud.counts() - before).writes == 0
    assert changes, "a new port must show in the plan"
    assert all(change.action is not ChangeAction.DELETE for change in changes), changes
    assert any("443" in change.name or "443" in change.after for change in changes), changes
    converge(lambda: provider.ensure(wider))
    assert provider.plan(wider) == ()

    fewer = node_port_lb(ref, cloud.nodes()[:1])
    changes = provider.plan(fewer)
    assert any(change.action is ChangeAction.DELETE for change in changes), changes


def test_list_owned_finds_every_load_balancer_of_the_cluster(cloud: ContractCloud) -> None:
    provider = cloud.new_provider()
    refs = [service_ref("owned-a"), service_ref("owned-b")]
    ids: dict[str, str] = {}
    for ref in refs:
        desired = node_port_lb(ref, cloud.nodes())
        ids[ref.uid] = converge(partial(provider.ensure, desired)).lb_id
    owned = {item.service_uid: item for item in cloud.new_provider().list_owned()}
    for ref in refs:
        assert owned[ref.uid].lb_id == ids[ref.uid]
        assert owned[ref.uid].service_key == ref.key
    # What list_owned reports is enough to delete it (the sweep's --delete).
    converge(lambda: provider.delete(owned[refs[0].uid].ref(refs[0].cluster)))
    assert total(cloud.owned(refs[0])) == 0
    assert refs[0].uid not in {item.service_uid for item in provider.list_owned()}
