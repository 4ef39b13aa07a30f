"""Status JSON and the condition: what the Service shows, changed only when it must."""

from __future__ import annotations

import pytest

from lbprovider.cloud import Ingress, LoadBalancerStatus, PortStatus, Protocol
from lbprovider.controller.status import condition, ingress_json, same_ingress

pytestmark = pytest.mark.unit


def test_ingress_json_for_ip_and_hostname() -> None:
    status = LoadBalancerStatus(
        lb_id="lb-1",
        ingress=(
            Ingress(
                ip="192.0.2.1", ports=(PortStatus(port=53, protocol=Protocol.UDP, error="Pending"),)
            ),
            Ingress(hostname="a.example.com"),
        ),
    )
    assert ingress_json(status) == [
        {
            "ip": "192.0.2.1",
            "ipMode": "VIP",
            "ports": [{"port": 53, "protocol": "UDP", "error": "Pending"}],
        },
        {"hostname": "a.example.com"},
    ]
    assert same_ingress([{"hostname": "a.example.com"}], [{"hostname": "a.example.com"}])


def test_condition_is_none_when_unchanged_and_keeps_transition_time() -> None:
    first = condition([], ok=True, reason="Ensured", message="m")
    assert first is not None and first["status"] == "True"
    assert condition([first], ok=True, reason="Ensured", message="m") is None
    updated = condition([first], ok=True, reason="Ensured", message="other")
    assert updated is not None and updated["lastTransitionTime"] == first["lastTransitionTime"]
    failed = condition([first], ok=False, reason="SyncFailed", message="boom")
    assert failed is not None and failed["status"] == "False"
