"""The fake provider answers like a real cloud across a restart: ids and addresses from the UID.

A restarted process whose fake cloud starts empty (the in-memory default)
must hand each Service the load balancer id and address it had before, or
the controller would rewrite every Service's status after a restart.
"""

from __future__ import annotations

import ipaddress

import pytest

from lbprovider.cloud import CloudApiError, DesiredLoadBalancer, Listener, Protocol, ServiceRef
from lbprovider.testing.fake_provider import FakeCloud, FakeProvider, FakeSettings

pytestmark = pytest.mark.unit

CLUSTER = "c"


def desired(uid: str, *, name: str = "web", requested_ip: str | None = None) -> DesiredLoadBalancer:
    return DesiredLoadBalancer(
        ref=ServiceRef(cluster=CLUSTER, namespace="ns", name=name, uid=uid),
        listeners=(Listener(name="http", port=80, protocol=Protocol.TCP, node_port=30080),),
        requested_ip=requested_ip,
    )


def provider(pool: str = "192.0.2.0/24", cloud: FakeCloud | None = None) -> FakeProvider:
    return FakeProvider(FakeSettings(address_pool=pool), cluster_name=CLUSTER, cloud=cloud)


def answer(fake: FakeProvider, uid: str, name: str = "web") -> tuple[str, str | None]:
    status = fake.ensure(desired(uid, name=name))
    return status.lb_id, status.ingress[0].ip


def test_a_restarted_process_on_an_empty_cloud_gives_the_same_id_and_address() -> None:
    uids = [f"uid-{index}" for index in range(20)]
    before = {uid: answer(provider(), uid) for uid in uids}
    # Another process, Services seen in the opposite order.
    restarted = provider()
    after = {uid: answer(restarted, uid) for uid in reversed(uids)}
    assert after == before
    assert len({lb_id for lb_id, _ in before.values()}) == len(uids)


def test_addresses_stay_unique_in_a_small_pool_until_it_is_exhausted() -> None:
    fake = provider(pool="198.18.0.0/29")  # six host addresses
    addresses = [answer(fake, f"uid-{index}", name=f"svc-{index}")[1] for index in range(6)]
    assert len(set(addresses)) == 6
    pool = ipaddress.ip_network("198.18.0.0/29")
    assert all(ipaddress.ip_address(str(a)) in pool for a in addresses)
    assert str(pool.network_address) not in addresses
    assert str(pool.broadcast_address) not in addresses
    with pytest.raises(CloudApiError) as raised:
        fake.ensure(desired("uid-6", name="svc-6"))
    assert raised.value.code == "AddressPoolExhausted"


def test_a_deleted_load_balancer_frees_its_address() -> None:
    fake = provider(pool="198.18.0.0/30")  # two host addresses
    answer(fake, "uid-a", name="a")
    _, address_b = answer(fake, "uid-b", name="b")
    fake.delete(desired("uid-b", name="b").ref)
    assert answer(fake, "uid-c", name="c")[1] == address_b


def test_a_requested_ip_is_honoured_and_ids_still_come_from_the_uid() -> None:
    first = provider().ensure(desired("uid-1", requested_ip="192.0.2.200"))
    again = provider().ensure(desired("uid-1", requested_ip="192.0.2.200"))
    assert first.ingress[0].ip == "192.0.2.200"
    assert first.lb_id == again.lb_id
