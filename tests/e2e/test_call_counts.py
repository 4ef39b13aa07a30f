"""End to end: cloud calls counted at every mock cloud for steady state, restart and node churn.

A controller process of its own (classes the session controller does not
serve, on the sandbox's mocks) builds a few Services per cloud; the mocks'
counters (``lbprovider.mockkit.MockAdmin``) then say what each phase cost:

- steady state: no cloud write and no Service write;
- SIGTERM and a new process: no cloud call at all (the applied digest on
  each Service says it is in sync) and no Service write;
- a node excluded, then let back in: one batched backend write per load
  balancer; a readiness flap: no call.

The counters are per mock, not per process: the test starts after the
session controller's one orphan sweep (its next is an hour later), and every
phase starts once the mocks have been quiet for a moment, so the session
controller's own work (cleaning up earlier tests' namespaces) is not counted.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

import pytest

from lbprovider.mockkit import CallCounts, MockAdmin
from lbprovider.testing.harness import SandboxRun, readyz
from lbprovider.testing.kubehelpers import wait_for
from second_controller import class_entry, controller, write_config

pytestmark = pytest.mark.e2e

CLOUDS = ("aws", "alibaba", "tencent")
PER_CLOUD = 3
READS_PER_UPDATE = 8
EXCLUDE_LABEL = "node.kubernetes.io/exclude-from-external-load-balancers"
BACKEND_WRITES = {
    # The one call that changes a load balancer's backend set (one port: one group).
    "aws": {"RegisterTargets", "DeregisterTargets"},
    "alibaba": {"AddVServerGroupBackendServers", "RemoveVServerGroupBackendServers"},
    "tencent": {
        "RegisterTargets",
        "DeregisterTargets",
        "BatchRegisterTargets",
        "BatchDeregisterTargets",
    },
}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def counters(e2e: SandboxRun) -> dict[str, CallCounts]:
    return {
        cloud: MockAdmin(e2e.sandbox.mock_clouds[cloud].endpoint).counters() for cloud in CLOUDS
    }


def quiet(e2e: SandboxRun, seconds: float = 2.0) -> dict[str, CallCounts]:
    """The mocks' counters once no mock has answered a call for ``seconds``."""

    def still() -> dict[str, CallCounts] | None:
        before = counters(e2e)
        time.sleep(seconds)
        after = counters(e2e)
        return after if after == before else None

    return wait_for(still, timeout=90, what="the mock clouds to go quiet")


def since(e2e: SandboxRun, before: dict[str, CallCounts]) -> dict[str, CallCounts]:
    now = counters(e2e)
    return {cloud: now[cloud] - before[cloud] for cloud in CLOUDS}


def lb_service(name: str, load_balancer_class: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": load_balancer_class,
            "selector": {"app.kubernetes.io/name": "MyApp"},
            "ports": [{"protocol": "TCP", "port": 80, "targetPort": 9376}],
        },
    }


def versions(e2e: SandboxRun, namespace: str) -> dict[str, str]:
    items = e2e.cluster.api.request("GET", f"/api/v1/namespaces/{namespace}/services")["items"]
    return {item["metadata"]["name"]: item["metadata"]["resourceVersion"] for item in items}


def label(e2e: SandboxRun, node: str, value: str | None) -> None:
    e2e.cluster.patch(f"/api/v1/nodes/{node}", {"metadata": {"labels": {EXCLUDE_LABEL: value}}})


def backend_writes(cost: CallCounts, cloud: str) -> int:
    return sum(n for action, n in cost.actions.items() if action in BACKEND_WRITES[cloud])


def test_steady_state_restart_and_node_churn_are_counted_at_every_mock_cloud(
    e2e: SandboxRun, e2e_namespace: str, tmp_path: Path
) -> None:
    namespace = e2e_namespace
    classes = {cloud: f"lbprovider.io/counts-{cloud}" for cloud in CLOUDS}
    port = free_port()
    config = write_config(
        tmp_path / "counts.yaml",
        cluster_name="counts",
        classes=[class_entry(e2e, cloud, name=classes[cloud]) for cloud in CLOUDS],
    )
    text = config.read_text().replace("127.0.0.1:0", f"127.0.0.1:{port}")
    config.write_text(text.replace("resync_seconds: 600", "resync_seconds: 0"))
    names = {cloud: [f"{cloud}-{index}" for index in range(PER_CLOUD)] for cloud in CLOUDS}
    everything = [name for group in names.values() for name in group]
    e2e.wait_first_sweep()  # the session controller's one sweep reads every mock

    try:
        with controller(e2e, config, tmp_path / "counts-1.log"):
            for cloud in CLOUDS:
                for name in names[cloud]:
                    e2e.cluster.create_service(namespace, lb_service(name, classes[cloud]))
            for name in everything:
                e2e.cluster.wait_ingress(namespace, name, timeout=90)
            before, written = quiet(e2e), versions(e2e, namespace)
            time.sleep(3.0)
            steady = since(e2e, before)
            assert {cloud: steady[cloud].writes for cloud in CLOUDS} == dict.fromkeys(CLOUDS, 0)
            assert versions(e2e, namespace) == written

        before = quiet(e2e)
        with controller(e2e, config, tmp_path / "counts-2.log") as process:
            wait_for(
                lambda: readyz(port) or None, timeout=60, what="the restarted controller ready"
            )
            time.sleep(3.0)  # the restart's work, if it did any, starts at once
            restart = since(e2e, before)
            assert {cloud: restart[cloud].total for cloud in CLOUDS} == dict.fromkeys(CLOUDS, 0), (
                restart
            )
            assert versions(e2e, namespace) == written
            churn_nodes(e2e)
            assert process.poll() is None
            e2e.cluster.delete_services(namespace, everything)
    finally:
        # A failed phase leaves Services only this test's classes hold: clean them up
        # here, or their load balancers fail the next test that expects an empty cloud.
        if any(e2e.cluster.service(namespace, name) is not None for name in everything):
            with controller(e2e, config, tmp_path / "counts-cleanup.log"):
                e2e.cluster.delete_services(namespace, everything)


def churn_nodes(e2e: SandboxRun) -> None:
    """One node of each cloud excluded, then let back in (one backend write per load
    balancer each time); then a readiness flap (no call)."""
    nodes = {cloud: e2e.sandbox.mock_clouds[cloud].instances[0].node_name for cloud in CLOUDS}
    try:
        for value in ("true", None):
            before = quiet(e2e)
            for cloud in CLOUDS:
                label(e2e, nodes[cloud], value)
            quiet(e2e)
            cost = since(e2e, before)
            for cloud in CLOUDS:
                assert backend_writes(cost[cloud], cloud) == PER_CLOUD, (cloud, cost[cloud])
                assert cost[cloud].writes == PER_CLOUD, (cloud, cost[cloud])
                # Measured: AWS 6 reads per update, Alibaba 4 to 7, Tencent 3 plus the
                # task polls (DescribeTaskStatus) of its asynchronous writes.
                assert cost[cloud].reads <= READS_PER_UPDATE * PER_CLOUD, (cloud, cost[cloud])
        before = quiet(e2e)
        for status in ("False", "True"):
            for cloud in CLOUDS:
                e2e.cluster.api.request(
                    "PATCH",
                    f"/api/v1/nodes/{nodes[cloud]}/status",
                    body={"status": {"conditions": [{"type": "Ready", "status": status}]}},
                    content_type="application/strategic-merge-patch+json",
                )
        time.sleep(2.0)
        flap = since(e2e, before)
        assert {cloud: flap[cloud].total for cloud in CLOUDS} == dict.fromkeys(CLOUDS, 0)
    finally:
        for cloud in CLOUDS:
            label(e2e, nodes[cloud], None)
