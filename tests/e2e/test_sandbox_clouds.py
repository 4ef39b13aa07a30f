"""End to end: ``lbprovider run`` against the sandbox serves the seed's examples on every cloud.

Each cloud's mock is read back after the Services are deleted: nothing of
ours may be left in it.
"""

from __future__ import annotations

import functools
import ipaddress
import json
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from lbprovider.mockkit import CallCounts, MockAdmin
from lbprovider.testing.harness import SandboxRun
from lbprovider.testing.kubehelpers import wait_each
from lbprovider.testing.sandbox import CLASS_NAMES, FAKE_CLASS

pytestmark = pytest.mark.e2e


def seed_service(name: str, load_balancer_class: str, **extra: Any) -> dict[str, Any]:
    """The seed's ``my-service`` (80 -> 9376), in the given class."""
    manifest: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": extra.pop("annotations", {})},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": load_balancer_class,
            "selector": {"app.kubernetes.io/name": "MyApp"},
            "ports": extra.pop("ports", [{"protocol": "TCP", "port": 80, "targetPort": 9376}]),
        },
    }
    manifest["spec"].update(extra)
    return manifest


MULTI_PORT = [
    {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 9376},
    {"name": "https", "protocol": "TCP", "port": 443, "targetPort": 9377},
]


def cloud_is_empty(e2e: SandboxRun, cloud: str) -> None:
    left = e2e.sandbox.mock_clouds[cloud].resources()
    assert all(count == 0 for count in left.values()), f"{cloud} still holds {left}"


def test_fake_class_serves_the_seed_service(e2e: SandboxRun, e2e_namespace: str) -> None:
    e2e.cluster.create_service(e2e_namespace, seed_service("my-service", FAKE_CLASS))
    ingress = e2e.cluster.wait_ingress(e2e_namespace, "my-service")
    assert ipaddress.ip_address(ingress[0]["ip"]) in ipaddress.ip_network("192.0.2.0/24")
    e2e.cluster.delete_services(e2e_namespace, ["my-service"])


def test_aws_serves_the_seed_examples_with_nlb_hostnames(
    e2e: SandboxRun, e2e_namespace: str
) -> None:
    aws = CLASS_NAMES["aws"]
    services = {
        "my-service": seed_service("my-service", aws),
        "multi-port": seed_service("multi-port", aws, ports=MULTI_PORT),
        "nginx-service": seed_service(
            "nginx-service",
            aws,
            selector={"app.kubernetes.io/name": "proxy"},
            ports=[
                {
                    "name": "name-of-service-port",
                    "protocol": "TCP",
                    "port": 80,
                    "targetPort": "http-web-svc",
                }
            ],
        ),
        "internal": seed_service(
            "internal", aws, annotations=e2e.sandbox.mock_clouds["aws"].internal_annotations()
        ),
        "dns": seed_service(
            "dns",
            aws,
            ports=[
                {"name": "dns-tcp", "protocol": "TCP", "port": 53},
                {"name": "dns-udp", "protocol": "UDP", "port": 53},
            ],
        ),
    }
    for manifest in services.values():
        e2e.cluster.create_service(e2e_namespace, manifest)
    for name in services:
        ingress = e2e.cluster.wait_ingress(e2e_namespace, name, timeout=60)
        assert ingress[0]["hostname"], f"{name}: {ingress}"
        assert "ip" not in ingress[0]
    ports = e2e.cluster.ingress(e2e_namespace, "multi-port")[0]["ports"]
    assert [(p["port"], p["protocol"]) for p in ports] == [(80, "TCP"), (443, "TCP")]
    assert e2e.sandbox.mock_clouds["aws"].resources()["load_balancers"] >= len(services)
    e2e.cluster.delete_services(e2e_namespace, list(services))
    cloud_is_empty(e2e, "aws")


@pytest.mark.parametrize("cloud", ["alibaba", "tencent"])
def test_seed_internal_example_gets_a_private_vip(
    e2e: SandboxRun, e2e_namespace: str, cloud: str
) -> None:
    # The seed's internal-LB annotations: Alibaba's address-type intranet, Tencent's
    # internal subnet id (the mock's subnet in place of subnet-xxxxx).
    mock = e2e.sandbox.mock_clouds[cloud]
    manifest = seed_service("internal", CLASS_NAMES[cloud], annotations=mock.internal_annotations())
    e2e.cluster.create_service(e2e_namespace, manifest)
    ingress = e2e.cluster.wait_ingress(e2e_namespace, "internal", timeout=60)
    assert ipaddress.ip_address(ingress[0]["ip"]).is_private
    assert ingress[0]["ipMode"] == "VIP"
    assert mock.resources()["load_balancers"] == 1
    e2e.cluster.delete_services(e2e_namespace, ["internal"])
    cloud_is_empty(e2e, cloud)


def test_controller_logs_are_json_without_secrets(e2e: SandboxRun) -> None:
    lines = [line for line in e2e.controller_log().splitlines() if line.strip()]
    assert lines, "the controller logged nothing"
    entries = [json.loads(line) for line in lines]
    assert any(entry["msg"] == "service controller started" for entry in entries)
    secrets: set[str] = set()
    for cloud in e2e.sandbox.mock_clouds.values():
        settings = cloud.provider_settings()
        if "credentials_file" in settings:
            with open(settings["credentials_file"], encoding="utf-8") as handle:
                text = handle.read()
            secrets.update(value for value in _values(text) if len(value) >= 8)
    for secret in secrets:
        assert secret not in e2e.controller_log()


def _values(text: str) -> list[str]:
    """String values of a JSON or YAML credentials file."""
    import yaml  # noqa: PLC0415  # only this check needs it

    data = yaml.safe_load(text)
    return [str(value) for value in (data or {}).values() if isinstance(value, str)]


def test_health_and_metrics_endpoints(e2e: SandboxRun) -> None:
    import urllib.request  # noqa: PLC0415  # only this test speaks plain HTTP

    entries = [json.loads(line) for line in e2e.controller_log().splitlines() if line.strip()]
    port = next(entry["port"] for entry in entries if entry["msg"] == "serving health and metrics")
    base = f"http://127.0.0.1:{port}"
    for path in ("/healthz", "/readyz"):
        with urllib.request.urlopen(base + path, timeout=5) as response:  # noqa: S310  # loopback
            assert response.status == 200
    with urllib.request.urlopen(base + "/metrics", timeout=5) as response:  # noqa: S310
        metrics = response.read().decode()
    assert "lbprovider_service_syncs_total" in metrics
    assert "lbprovider_provider_calls_total" in metrics


THROTTLING = {
    "aws": ("Throttling", 400),
    "alibaba": ("Throttling.User", 400),
    "tencent": ("RequestLimitExceeded", 200),
}
"""Each cloud's throttling answer, injected through the one admin interface of every mock."""


T = TypeVar("T")


@dataclass(frozen=True, kw_only=True)
class Converged:
    """A throttled cloud's Service when its ingress first showed, and its mock at that moment."""

    ingress: list[dict[str, Any]]
    faults: Any
    calls: int
    """Calls the mock answered since the throttling was injected."""


def converged(
    e2e: SandboxRun, namespace: str, name: str, admin: MockAdmin, before: CallCounts
) -> Converged | None:
    """The Service's ingress and its cloud's mock, once the ingress shows (None before)."""
    ingress = e2e.cluster.ingress(namespace, name)
    if not ingress:
        return None
    faults = admin.request("GET", "faults")
    return Converged(ingress=ingress, faults=faults, calls=(admin.counters() - before).total)


def test_a_throttled_cloud_converges(e2e: SandboxRun, e2e_namespace: str) -> None:
    # Every cloud throttled at once: their RetryAfter waits overlap instead of adding up.
    clouds = sorted(THROTTLING)
    admins = {cloud: MockAdmin(e2e.sandbox.mock_clouds[cloud].endpoint) for cloud in clouds}
    before: dict[str, CallCounts] = {}
    for cloud in clouds:
        code, status = THROTTLING[cloud]
        # Enough throttled answers that the first sync gives up (RetryAfter) and a later one wins.
        admins[cloud].inject_fault(code, status=status, count=8)
        before[cloud] = admins[cloud].counters()
    for cloud in clouds:
        e2e.cluster.create_service(
            e2e_namespace, seed_service(f"throttled-{cloud}", CLASS_NAMES[cloud])
        )
    seen = wait_each(
        {
            cloud: functools.partial(
                converged, e2e, e2e_namespace, f"throttled-{cloud}", admins[cloud], before[cloud]
            )
            for cloud in clouds
        },
        timeout=90,
        what="an ingress",
    )
    for cloud in clouds:
        ingress = seen[cloud].ingress
        assert ingress[0].get("ip") or ingress[0].get("hostname"), (cloud, ingress)
        # Every throttled answer was given.
        assert seen[cloud].faults == {"faults": []}, (cloud, seen[cloud].faults)
        assert seen[cloud].calls > 8, (cloud, seen[cloud].calls)
        # Events are written in order: with the success's in, any failure's before it is too.
        e2e.cluster.wait_event(e2e_namespace, f"throttled-{cloud}", "EnsuredLoadBalancer")
        reasons = e2e.cluster.reasons(e2e_namespace, f"throttled-{cloud}")
        assert "SyncLoadBalancerFailed" not in reasons, (cloud, reasons)  # a wait, not a failure
    e2e.cluster.delete_services(e2e_namespace, [f"throttled-{cloud}" for cloud in clouds])
    for cloud in clouds:
        cloud_is_empty(e2e, cloud)
