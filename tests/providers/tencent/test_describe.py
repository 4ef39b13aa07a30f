"""The sandbox handle's ``describe()``: the demo's view of the mock CLB's own state."""

from __future__ import annotations

import json
from typing import Any

import pytest

from lbprovider.cloud import EndpointTarget, HealthCheck, Protocol

pytestmark = pytest.mark.providers

EXISTED_ANN = "service.kubernetes.io/tke-existed-lbid"


def test_describe_lists_every_clb_of_lbprovider_sorted_and_json_able(
    tc: Any, cloud: Any, provider: Any
) -> None:
    assert cloud.describe() == []
    web = tc.desired(
        cloud,
        tc.ref("uid-web", "web"),
        ((53, Protocol.UDP, 30053), (80, Protocol.TCP, 30080)),
        health_check=HealthCheck(port=32000),
    )
    api = tc.pod_desired(
        tc.ref("uid-api", "api"),
        {
            (80, Protocol.TCP): (
                EndpointTarget(ip="10.244.2.7", port=8080),
                EndpointTarget(ip="10.244.1.5", port=8080),
            )
        },
    )
    users = cloud.backend.seed_load_balancer(name="users-clb")
    reusing = tc.desired(cloud, tc.ref("uid-reuse", "reuse", **{EXISTED_ANN: users}))
    web_lb = tc.converge(lambda: provider.ensure(web))
    api_lb = tc.converge(lambda: provider.ensure(api))
    tc.converge(lambda: provider.ensure(reusing))
    instances = sorted(i.provider_id.rsplit("/", 1)[-1] for i in cloud.instances)

    rows = cloud.describe()
    assert rows == [
        {
            "service": "default/api",
            "lb_id": api_lb.lb_id,
            "address": api_lb.ingress[0].ip,
            "listeners": ["TCP:80->8080"],
            "backends": ["10.244.1.5:8080", "10.244.2.7:8080"],
            "health_check": "TCP:traffic-port",
        },
        {
            "service": "default/web",
            "lb_id": web_lb.lb_id,
            "address": web_lb.ingress[0].ip,
            "listeners": ["UDP:53->30053", "TCP:80->30080"],  # by port, then protocol
            "backends": sorted(
                [f"{iid}:30053" for iid in instances] + [f"{iid}:30080" for iid in instances]
            ),
            "health_check": "HTTP:32000/healthz, PING",
        },
    ]  # the reused CLB carries no lbprovider tag: it is the user's, not ours
    assert json.loads(json.dumps(rows)) == rows
