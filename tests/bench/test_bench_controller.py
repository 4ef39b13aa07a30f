"""Benchmarks (``make bench``): figures printed, nothing asserted about time.

- how long the controller takes to give N Services their ingress (fake provider);
- how many provider calls a node change and a no-op resync of N Services cost.
"""

from __future__ import annotations

import time

import pytest
from kubernetes.client import ApiClient

from lbprovider.controller.service_controller import ServiceController
from lbprovider.kube.api import KubeApi
from lbprovider.testing.fake_provider import FakeProvider, FakeSettings
from lbprovider.testing.kubehelpers import Cluster, wait_for

pytestmark = pytest.mark.bench

SERVICES = 200
CLASS = "bench.example.com/fake"


def test_time_to_ingress_and_call_counts(kube_api: ApiClient, namespace: str) -> None:
    cluster = Cluster(KubeApi(kube_api))
    provider = FakeProvider(FakeSettings(address_pool="198.18.0.0/16"), cluster_name="bench")
    controller = ServiceController.from_api(
        cluster.api, cluster_name="bench", providers={CLASS: provider}, workers=4, resync_seconds=0
    )
    controller.start()
    try:
        started = time.monotonic()
        for index in range(SERVICES):
            cluster.create_service(
                namespace,
                {
                    "metadata": {"name": f"svc-{index}"},
                    "spec": {
                        "type": "LoadBalancer",
                        "loadBalancerClass": CLASS,
                        "ports": [{"port": 80}],
                    },
                },
            )
        created = time.monotonic()
        wait_for(
            lambda: all(cluster.ingress(namespace, f"svc-{i}") for i in range(SERVICES)),
            timeout=600,
            what="every Service's ingress",
        )
        served = time.monotonic()
        ensures = len(provider.calls)
        cluster.api.request(
            "POST",
            "/api/v1/nodes",
            body={"metadata": {"name": "bench-node"}, "spec": {"providerID": "fake://bench-node"}},
        )
        wait_for(
            lambda: sum(c.method == "update_backends" for c in provider.calls) == SERVICES,
            timeout=300,
            what="update_backends for every Service",
        )
        node_sync = time.monotonic()
        print(
            f"\n[bench] {SERVICES} Services: created in {created - started:.1f}s, all served "
            f"{served - started:.1f}s after the first create "
            f"({SERVICES / (served - started):.1f} Services/s); {ensures} ensure calls"
        )
        print(
            f"[bench] one new node: {SERVICES} update_backends calls, "
            f"{node_sync - served:.1f}s until all were made"
        )
    finally:
        controller.stop()
        cluster.api.request("DELETE", "/api/v1/nodes/bench-node")
