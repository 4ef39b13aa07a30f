"""Cloud calls and Service writes counted, not timed: steady state, restart and node churn.

The counted bounds behind ``make bench``'s B2 and B3 rows (issue 12), on the
fake provider: its cloud (a :class:`FakeCloud`) outlives each controller
process, as a real cloud does, and counts every call.  Service writes are
counted by ``metadata.resourceVersion``: any write to a Service (spec,
status, annotations, finalizers) moves it.  The same bounds run on every
mock cloud in ``tests/e2e/test_call_counts.py``.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from kubernetes.client import ApiClient

from lbprovider.controller.ownership import OWNERSHIP_ANNOTATION
from lbprovider.controller.service_controller import ServiceController
from lbprovider.kube.api import ApiError, KubeApi
from lbprovider.mockkit import CallCounts
from lbprovider.testing.fake_provider import FakeCloud, FakeProvider, FakeSettings
from lbprovider.testing.kubehelpers import Cluster, wait_for

pytestmark = pytest.mark.integration

CLUSTER = "counts"
SERVICES = 12
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"


@contextmanager
def running(
    kube_api: ApiClient, namespace: str, cloud: FakeCloud, *, resync_seconds: float = 0.0
) -> Iterator[tuple[ServiceController, FakeProvider]]:
    """One controller process on ``cloud``; stopped when the block ends.

    It serves a class of the test's own (:func:`class_of`), so Services other
    tests left behind cost it nothing and cannot spoil the counts.
    """
    provider = FakeProvider(
        FakeSettings(address_pool="198.18.30.0/24"), cluster_name=CLUSTER, cloud=cloud
    )
    controller = ServiceController.from_api(
        KubeApi(kube_api),
        cluster_name=CLUSTER,
        providers={class_of(namespace): provider},
        workers=4,
        resync_seconds=resync_seconds,
    )
    controller.start()
    try:
        yield controller, provider
    finally:
        controller.stop()


def class_of(namespace: str) -> str:
    return f"counts.io/{namespace[-6:]}"


def lb_service(name: str, namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": class_of(namespace),
            "ports": [{"port": 80}],
        },
    }


def versions(cluster: Cluster, namespace: str) -> dict[str, str]:
    """Service name -> resourceVersion in ``namespace``."""
    items = cluster.api.request("GET", f"/api/v1/namespaces/{namespace}/services")["items"]
    return {item["metadata"]["name"]: item["metadata"]["resourceVersion"] for item in items}


def settled(controller: ServiceController) -> None:
    """Wait until the queue is idle and stays so past the watch's echo of our own writes."""
    wait_for(lambda: controller.queue.idle() or None, what="the syncs to finish")
    time.sleep(0.5)
    wait_for(lambda: controller.queue.idle() or None, what="the echoed syncs to finish")


def build(cluster: Cluster, namespace: str, controller: ServiceController) -> list[str]:
    """Create ``SERVICES`` Services and wait until each has ingress and an applied digest."""
    names = [f"svc-{index:02d}" for index in range(SERVICES)]
    for name in names:
        cluster.create_service(namespace, lb_service(name, namespace))

    def recorded(name: str) -> bool:
        service = cluster.service(namespace, name) or {}
        annotations = service.get("metadata", {}).get("annotations") or {}
        return bool(cluster.ingress(namespace, name)) and OWNERSHIP_ANNOTATION in annotations

    for name in names:
        wait_for(lambda name=name: recorded(name), what=f"{name}: ingress and record")  # type: ignore[misc]
    settled(controller)
    return names


def delete_all(cluster: Cluster, namespace: str, names: list[str]) -> None:
    """Delete the Services while their controller runs, so their finalizers come off."""
    for name in names:
        cluster.api.request("DELETE", f"/api/v1/namespaces/{namespace}/services/{name}")
    for name in names:
        wait_for(
            lambda name=name: cluster.service(namespace, name) is None,  # type: ignore[misc]
            what=f"{name} deleted",
        )


def test_steady_state_writes_nothing_and_a_restart_calls_no_cloud(
    kube_api: ApiClient, namespace: str
) -> None:
    cluster, cloud = Cluster(api=KubeApi(kube_api)), FakeCloud()
    with running(kube_api, namespace, cloud, resync_seconds=1.0) as (controller, _):
        names = build(cluster, namespace, controller)
        before, written = cloud.counters.counts(), versions(cluster, namespace)
        time.sleep(3.0)  # three resync periods: every Service re-read at least twice
        settled(controller)
        steady = cloud.counters.counts() - before
        assert steady.reads >= 2 * SERVICES  # the resync did run...
        assert steady.writes == 0  # ...and found nothing to change in the cloud
        assert versions(cluster, namespace) == written  # nor on any Service

    before = cloud.counters.counts()
    with running(kube_api, namespace, cloud) as (controller, provider):
        settled(controller)
        assert cloud.counters.counts() - before == CallCounts(reads=0, writes=0)
        assert provider.calls == []
        assert versions(cluster, namespace) == written
        delete_all(cluster, namespace, names)
    assert cloud.load_balancers == {}


def node(name: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": {"providerID": f"fake://{name}"}}


def test_node_churn_is_one_backend_update_per_load_balancer_and_a_flap_is_none(
    kube_api: ApiClient, namespace: str
) -> None:
    cluster, cloud = Cluster(api=KubeApi(kube_api)), FakeCloud()
    api = cluster.api
    first, added = f"counts-{namespace[-6:]}-a", f"counts-{namespace[-6:]}-b"
    api.request("POST", "/api/v1/nodes", body=node(first))
    try:
        with running(kube_api, namespace, cloud) as (controller, provider):
            names = build(cluster, namespace, controller)
            keys = [f"{namespace}/{name}" for name in names]

            def targets(key: str) -> set[str]:
                lb = provider.find(key)
                return {item.name for item in lb.desired.nodes} if lb else set()

            def churn(change: Any, done: Any, what: str) -> tuple[CallCounts, list[list[str]]]:
                counts, calls = cloud.counters.counts(), len(provider.calls)
                change()
                for key in keys:
                    wait_for(lambda key=key: done(targets(key)), what=f"{key}: {what}")  # type: ignore[misc]
                settled(controller)
                new = provider.calls[calls:]
                per_lb = [[call.method for call in new if call.service == key] for key in keys]
                return cloud.counters.counts() - counts, per_lb

            written = versions(cluster, namespace)
            cost, per_lb = churn(
                lambda: api.request("POST", "/api/v1/nodes", body=node(added)),
                lambda have: added in have,
                "the added node",
            )
            assert per_lb == [["update_backends"]] * SERVICES
            assert cost.actions == {"DescribeLoadBalancers": SERVICES, "SetBackends": SERVICES}
            # The node set is recorded once for the class, not on each Service.
            assert versions(cluster, namespace) == written

            cost, per_lb = churn(
                lambda: cluster.patch(
                    f"/api/v1/nodes/{first}", {"metadata": {"labels": {EXCLUDE_LABEL: "true"}}}
                ),
                lambda have: first not in have,
                "the excluded node gone",
            )
            assert per_lb == [["update_backends"]] * SERVICES
            assert cost.actions == {"DescribeLoadBalancers": SERVICES, "SetBackends": SERVICES}

            counts, calls = cloud.counters.counts(), len(provider.calls)
            for ready in ("False", "True", "False", "True"):
                api.request(
                    "PATCH",
                    f"/api/v1/nodes/{added}/status",
                    body={"status": {"conditions": [{"type": "Ready", "status": ready}]}},
                    content_type="application/strategic-merge-patch+json",
                )
            time.sleep(1.0)
            settled(controller)
            assert provider.calls[calls:] == []
            assert cloud.counters.counts() - counts == CallCounts(reads=0, writes=0)

        # A restart after the node rounds finished trusts the recorded node set.
        counts = cloud.counters.counts()
        with running(kube_api, namespace, cloud) as (controller, provider):
            settled(controller)
            assert provider.calls == []
            assert cloud.counters.counts() - counts == CallCounts(reads=0, writes=0)
        # A node removed while no controller ran: one backend update per load balancer.
        api.request("DELETE", f"/api/v1/nodes/{added}")
        with running(kube_api, namespace, cloud) as (controller, provider):
            for key in keys:
                wait_for(lambda key=key: added not in targets(key) or None, what=f"{key}: update")  # type: ignore[misc]
            settled(controller)
            assert sorted(call.method for call in provider.calls) == ["update_backends"] * SERVICES
            delete_all(cluster, namespace, names)
    finally:
        for name in (first, added):
            with contextlib.suppress(ApiError):  # already gone
                api.request("DELETE", f"/api/v1/nodes/{name}")
