"""The sandbox handle's ``describe()``: the demo's view of the mock SLB, read from its state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lbprovider.cloud import BackendMode, HealthCheck, Protocol
from lbprovider_alibaba.mock import SEEDED_POD_IPS
from lbprovider_alibaba.options import LOADBALANCER_ID

pytestmark = pytest.mark.providers

Kit = Any  # the conftest's Kit (not importable under importlib mode)


def test_describe_lists_each_tagged_load_balancer_with_listeners_backends_and_checks(
    kit: Kit,
) -> None:
    assert kit.cloud.describe() == []
    provider = kit.provider()
    web = kit.ref(name="web")
    web_status = provider.ensure(
        kit.desired(
            web, kit.tcp(80, 30080), kit.udp(53, 30053), health_check=HealthCheck(port=32100)
        )
    )
    pods = kit.ref(name="api")
    pods_status = provider.ensure(
        kit.desired(
            pods,
            kit.pods(443, Protocol.TCP, *SEEDED_POD_IPS[:2]),
            backend_mode=BackendMode.POD_IP,
            nodes=(),
        )
    )
    # A reused load balancer carries no tag of ours: it is not in the view.
    reused = kit.cloud.backend.create_load_balancer(
        name="pre-existing",
        address_type="internet",
        vpc_id="",
        vswitch_id="",
        spec="",
        address="",
        tags={},
        delete_protection=False,
    )
    provider.ensure(
        kit.desired(kit.ref(annotations={LOADBALANCER_ID: reused.id}), kit.tcp(8080, 30088))
    )

    kit.reset_counts()
    rows = kit.cloud.describe()
    assert kit.counts().total == 0  # the mock's own state, not its API
    instances = sorted(i.provider_id.split(".", 1)[1] for i in kit.cloud.instances)
    assert rows == [
        {
            "service": "default/api",
            "lb_id": pods_status.lb_id,
            "address": pods_status.ingress[0].ip,
            "listeners": ["TCP:443->8080"],
            "backends": [f"{ip}:8080" for ip in SEEDED_POD_IPS[:2]],
            "health_check": "TCP:traffic-port",
        },
        {
            "service": "default/web",
            "lb_id": web_status.lb_id,
            "address": web_status.ingress[0].ip,
            "listeners": ["UDP:53->30053", "TCP:80->30080"],
            "backends": sorted(
                [f"{i}:30053" for i in instances] + [f"{i}:30080" for i in instances]
            ),
            "health_check": "UDP:traffic-port, HTTP:32100/healthz",
        },
    ]
    assert json.loads(json.dumps(rows)) == rows
