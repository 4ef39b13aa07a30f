"""The class-switch leak of issue 11, on every ordered pair of clouds.

A Service served by one cloud's class is changed to ``ClusterIP`` and back to
``LoadBalancer`` with another cloud's class while its controller is not
running; the restarted controller must delete the first cloud's load balancer
(everything hanging off it too) and build in the second. Judged from the
mocks' own state, never through a provider. Before the ownership annotation
this left the first load balancer behind forever.
"""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterator
from typing import Any

import pytest

from cloud_audit import holdings
from lbprovider.mockkit import MockAdmin
from lbprovider.testing.harness import SandboxRun
from lbprovider.testing.kubehelpers import wait_for
from second_controller import Restartable, class_entry, write_config

pytestmark = pytest.mark.e2e

CLOUDS = ("aws", "alibaba", "tencent")
CLUSTER = "class-switch"


def class_of(cloud: str) -> str:
    return f"switch.lbprovider.io/{cloud}"


@pytest.fixture(scope="module")
def controller(e2e: SandboxRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Restartable]:
    """A controller process serving one class per cloud, started and stopped at will."""
    config = write_config(
        tmp_path_factory.mktemp("class-switch") / "switch.yaml",
        cluster_name=CLUSTER,
        classes=[class_entry(e2e, cloud, name=class_of(cloud)) for cloud in CLOUDS],
    )
    running = Restartable(e2e, config)
    try:
        yield running
    finally:
        running.stop()


def held_by(e2e: SandboxRun, uid: str) -> dict[str, list[str]]:
    """Per cloud, the objects owned by ``uid`` (load balancers and what hangs off them)."""
    states = {cloud: MockAdmin(e2e.sandbox.mock_clouds[cloud].endpoint).state() for cloud in CLOUDS}
    found: dict[str, list[str]] = {}
    for cloud, by_uid in holdings(states, CLUSTER).items():
        holding = by_uid.get(uid)
        if holding is None:
            continue
        objects = holding.load_balancers + holding.extras + list(holding.listeners)
        objects += [f"node sg rule {port}" for port in sorted(holding.rule_ports)]
        if objects:
            found[cloud] = objects
    return found


def service(name: str, cloud: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": class_of(cloud),
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 9376}],
        },
    }


@pytest.mark.parametrize(("first", "second"), list(itertools.permutations(CLOUDS, 2)))
def test_a_class_switch_while_stopped_leaves_nothing_in_the_first_cloud(
    e2e: SandboxRun, e2e_namespace: str, controller: Restartable, first: str, second: str
) -> None:
    cluster = e2e.cluster
    name = f"{first}-to-{second}"
    path = f"/api/v1/namespaces/{e2e_namespace}/services/{name}"
    controller.start()
    uid = cluster.create_service(e2e_namespace, service(name, first))["metadata"]["uid"]
    cluster.wait_ingress(e2e_namespace, name, timeout=60)
    assert list(held_by(e2e, uid)) == [first]
    controller.stop(cleanly=True)

    # While no controller runs: away from LoadBalancer and back, in the other class.
    cluster.patch(
        path,
        {
            "spec": {
                "type": "ClusterIP",
                "loadBalancerClass": None,
                "allocateLoadBalancerNodePorts": None,
                "externalTrafficPolicy": None,
                "ports": [{"name": "http", "port": 80, "nodePort": None}],
            }
        },
    )
    cluster.patch(path, {"spec": {"type": "LoadBalancer", "loadBalancerClass": class_of(second)}})

    controller.start()
    wait_for(
        lambda: list(held_by(e2e, uid)) == [second] or None,
        timeout=90,
        what=f"the {first} load balancer gone and one built in {second}",
    )
    cluster.wait_ingress(e2e_namespace, name, timeout=60)
    cluster.api.request("DELETE", path)
    wait_for(
        lambda: cluster.service(e2e_namespace, name) is None or None, timeout=60, what="deletion"
    )
    time.sleep(0.5)  # nothing may come back
    assert held_by(e2e, uid) == {}
    controller.stop(cleanly=True)
