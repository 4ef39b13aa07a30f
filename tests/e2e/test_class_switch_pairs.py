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
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloud_audit import holdings
from lbprovider.mockkit import MockAdmin
from lbprovider.testing.harness import SandboxRun
from lbprovider.testing.kubehelpers import wait_for
from lbprovider.testing.sandbox import start_controller

pytestmark = pytest.mark.e2e

CLOUDS = ("aws", "alibaba", "tencent")
CLUSTER = "class-switch"


def class_of(cloud: str) -> str:
    return f"switch.lbprovider.io/{cloud}"


class Controller:
    """A controller process serving one class per cloud, started and stopped at will."""

    def __init__(self, e2e: SandboxRun, directory: Path) -> None:
        self.e2e = e2e
        self.directory = directory
        self.config = directory / "switch.yaml"
        config = {
            "cluster_name": CLUSTER,
            "workers": 2,
            "resync_seconds": 600,
            "health_address": "127.0.0.1:0",
            "sweep": {"interval_seconds": 0, "delete": False},
            "classes": [
                {
                    "name": class_of(cloud),
                    "provider": cloud,
                    "settings": dict(e2e.sandbox.mock_clouds[cloud].provider_settings()),
                }
                for cloud in CLOUDS
            ],
        }
        self.config.write_text(yaml.safe_dump(config, sort_keys=False), encoding="utf-8")
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        self.process = start_controller(
            config=self.config,
            kubeconfig=self.e2e.sandbox.kubeconfig,
            log_path=self.directory / f"controller-{self.starts}.log",
            log_format="json",
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            assert self.process.wait(30) == 0, "the controller did not exit cleanly"
        self.process = None


@pytest.fixture(scope="module")
def controller(e2e: SandboxRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Controller]:
    running = Controller(e2e, tmp_path_factory.mktemp("class-switch"))
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
    e2e: SandboxRun, e2e_namespace: str, controller: Controller, first: str, second: str
) -> None:
    cluster = e2e.cluster
    name = f"{first}-to-{second}"
    path = f"/api/v1/namespaces/{e2e_namespace}/services/{name}"
    controller.start()
    uid = cluster.create_service(e2e_namespace, service(name, first))["metadata"]["uid"]
    cluster.wait_ingress(e2e_namespace, name, timeout=60)
    assert list(held_by(e2e, uid)) == [first]
    controller.stop()

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
    controller.stop()
