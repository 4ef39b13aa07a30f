"""The ownership record on the API server: what survives a restart of the controller.

Controllers of their own (a cluster name and two classes the session's harness
does not serve) over fake clouds that outlive each process, so a "restart" is
a new controller with new provider instances on the same clouds, as in a real
cluster.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kubernetes.client import ApiClient

from lbprovider.controller.ownership import OWNERSHIP_ANNOTATION
from lbprovider.controller.selection import FINALIZER
from lbprovider.controller.service_controller import ServiceController
from lbprovider.kube.api import KubeApi
from lbprovider.testing.fake_provider import FakeCloud, FakeProvider, FakeSettings
from lbprovider.testing.kubehelpers import Cluster, wait_for

pytestmark = pytest.mark.integration

CLUSTER = "ownership"
CLASS_A = "ownership.io/a"
CLASS_B = "ownership.io/b"


class Clouds:
    """Two fake clouds, one per class, that outlive every controller process."""

    def __init__(self) -> None:
        self.by_class = {CLASS_A: FakeCloud(), CLASS_B: FakeCloud()}

    def holding(self, uid: str) -> list[str]:
        """The classes whose cloud holds a load balancer owned by ``uid``."""
        return sorted(
            name
            for name, cloud in self.by_class.items()
            if any(lb.desired.ref.uid == uid for lb in cloud.load_balancers.values())
        )

    def calls(self) -> int:
        return sum(cloud.counters.counts().total for cloud in self.by_class.values())


@pytest.fixture
def clouds() -> Clouds:
    return Clouds()


@contextmanager
def running(kube_api: ApiClient, clouds: Clouds) -> Iterator[ServiceController]:
    """One controller process serving both classes; stopped when the block ends."""
    pools = {CLASS_A: "198.18.10.0/24", CLASS_B: "198.18.20.0/24"}
    controller = ServiceController.from_api(
        KubeApi(kube_api),
        cluster_name=CLUSTER,
        providers={
            name: FakeProvider(
                FakeSettings(address_pool=pools[name]), cluster_name=CLUSTER, cloud=cloud
            )
            for name, cloud in clouds.by_class.items()
        },
        workers=2,
        resync_seconds=0,
    )
    controller.start()
    try:
        yield controller
    finally:
        controller.stop()


def lb_service(name: str, load_balancer_class: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": load_balancer_class,
            "ports": [{"port": 80}],
        },
    }


def record(cluster: Cluster, namespace: str, name: str) -> dict[str, Any] | None:
    service = cluster.service(namespace, name) or {}
    raw = (service.get("metadata", {}).get("annotations") or {}).get(OWNERSHIP_ANNOTATION)
    return None if raw is None else dict(json.loads(raw))


def test_a_class_switch_while_down_cleans_the_old_cloud(
    kube_api: ApiClient, namespace: str, clouds: Clouds
) -> None:
    cluster = Cluster(api=KubeApi(kube_api))
    path = f"/api/v1/namespaces/{namespace}/services/moved"
    with running(kube_api, clouds):
        uid = cluster.create_service(namespace, lb_service("moved", CLASS_A))["metadata"]["uid"]
        cluster.wait_ingress(namespace, "moved")
        assert clouds.holding(uid) == [CLASS_A]
        written = record(cluster, namespace, "moved")
        assert written is not None and written["class"] == CLASS_A and written["id"]
    # While no controller runs: away from LoadBalancer (the class goes with the type),
    # then back with the other class.
    cluster.patch(
        path,
        {
            "spec": {
                "type": "ClusterIP",
                "loadBalancerClass": None,
                "allocateLoadBalancerNodePorts": None,
                "externalTrafficPolicy": None,
                "ports": [{"port": 80, "nodePort": None}],
            }
        },
    )
    cluster.patch(path, {"spec": {"type": "LoadBalancer", "loadBalancerClass": CLASS_B}})
    with running(kube_api, clouds):
        wait_for(lambda: clouds.holding(uid) == [CLASS_B] or None, what="the move to class B")
        moved = wait_for(lambda: record(cluster, namespace, "moved"), what="the new record")
        wait_for(
            lambda: (record(cluster, namespace, "moved") or {}).get("class") == CLASS_B or None,
            what="the record to name class B",
        )
        assert moved is not None
        cluster.api.request("DELETE", path)
        wait_for(lambda: cluster.service(namespace, "moved") is None or None, what="deletion")
        assert clouds.holding(uid) == []


def test_a_restart_costs_no_cloud_call_for_an_in_sync_service(
    kube_api: ApiClient, namespace: str, clouds: Clouds
) -> None:
    cluster = Cluster(api=KubeApi(kube_api))
    with running(kube_api, clouds):
        cluster.create_service(namespace, lb_service("steady", CLASS_A))
        cluster.wait_ingress(namespace, "steady")
        wait_for(
            lambda: (record(cluster, namespace, "steady") or {}).get("digest"),
            what="the applied digest",
        )
    before = clouds.calls()
    with running(kube_api, clouds) as controller:
        wait_for(lambda: controller.queue.idle() or None, what="the first syncs to finish")
        time.sleep(0.5)  # the watch's echo of anything written would queue it again
        wait_for(lambda: controller.queue.idle() or None, what="the syncs to finish")
        assert clouds.calls() == before
    service = cluster.service(namespace, "steady")
    assert service is not None and FINALIZER in service["metadata"]["finalizers"]
    cluster.api.request("DELETE", f"/api/v1/namespaces/{namespace}/services/steady")
    with running(kube_api, clouds):
        wait_for(lambda: cluster.service(namespace, "steady") is None or None, what="deletion")
    assert clouds.by_class[CLASS_A].load_balancers == {}
