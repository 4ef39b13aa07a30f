"""Faults in all three clouds through the one admin interface: many Services still converge.

Each mock gets, through :class:`~lbprovider.mockkit.MockAdmin` alone, a token
bucket of 40 calls at once and 10 per second that answers the cloud's own
throttling code, and 30 % transient faults (a 5xx, the throttling code, a
dropped connection: 10 % each).  A controller process of its own (cluster
``faults``, classes ``lbprovider.io/faults-<cloud>`` with the client-side limit
``rate_limit_qps: 10``, ``rate_limit_burst: 40``) must bring every Service to
its load balancer and then delete them all, leaving the clouds clean
(:mod:`cloud_audit`), while the call rate the mocks measure stays within the
configured limit in every window.  ``make test`` runs 20 Services;
``LBPROVIDER_RELIABILITY=full`` (``make test-reliability``) runs 200 and prints
the figures.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

from cloud_audit import Wanted, holdings, problems, report
from lbprovider.controller.selection import FINALIZER
from lbprovider.mockkit import MockAdmin
from lbprovider.testing.harness import SandboxRun
from lbprovider.testing.kubehelpers import wait_for
from lbprovider.testing.sandbox import start_controller

pytestmark = pytest.mark.e2e

FULL = os.environ.get("LBPROVIDER_RELIABILITY") == "full"
SERVICES = 200 if FULL else 20
CLOUDS = ("aws", "alibaba", "tencent")
CLUSTER = "faults"
QPS, BURST = 10.0, 40
"""Both the mock's token bucket and the classes' client-side limit."""
TRANSIENT = 0.30
THROTTLING = {
    "aws": ("Throttling", 400),
    "alibaba": ("Throttling.User", 400),
    "tencent": ("RequestLimitExceeded", 200),
}
SERVER_ERROR = {
    "aws": ("ServiceUnavailable", 503),
    "alibaba": ("ServiceUnavailable", 503),
    "tencent": ("InternalError", 200),  # Tencent answers every error with HTTP 200
}
WINDOWS = (1, 2, 5, 10, 30)
"""Window lengths (seconds) over which the measured rate must respect the limit."""


def class_of(cloud: str) -> str:
    return f"lbprovider.io/faults-{cloud}"


def inject(admin: MockAdmin, cloud: str) -> None:
    """The token bucket, then three transient faults adding up to ``TRANSIENT``."""
    throttle_code, throttle_status = THROTTLING[cloud]
    error_code, error_status = SERVER_ERROR[cloud]
    admin.throttle(throttle_code, status=throttle_status, burst=BURST, rate=QPS)
    share = TRANSIENT / 3
    # Rules are tried in order: scale each so that every kind fires for `share` of calls.
    admin.inject_fault(error_code, status=error_status, count=None, probability=share)
    admin.inject_fault(
        throttle_code, status=throttle_status, count=None, probability=share / (1 - share)
    )
    admin.inject_fault("Dropped", kind="drop", count=None, probability=share / (1 - 2 * share))


def manifest(name: str, cloud: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": class_of(cloud),
            "selector": {"app.kubernetes.io/name": "MyApp"},
            "ports": [{"name": "http", "protocol": "TCP", "port": 80, "targetPort": 9376}],
        },
    }


def peak(per_second: Mapping[int, int], window: int) -> int:
    """The most calls in any ``window`` consecutive seconds."""
    if not per_second:
        return 0
    first, last = min(per_second), max(per_second)
    counts = [per_second.get(second, 0) for second in range(first, last + 1)]
    return max(sum(counts[i : i + window]) for i in range(max(1, len(counts) - window + 1)))


@pytest.fixture
def controller(e2e: SandboxRun, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    classes = []
    for cloud in CLOUDS:
        settings = dict(e2e.sandbox.mock_clouds[cloud].provider_settings())
        settings.update({"rate_limit_qps": QPS, "rate_limit_burst": BURST})
        classes.append({"name": class_of(cloud), "provider": cloud, "settings": settings})
    config = tmp_path / "faults.yaml"
    config.write_text(
        yaml.safe_dump(
            {
                "cluster_name": CLUSTER,
                "workers": 4,
                "resync_seconds": 600,
                "health_address": "127.0.0.1:0",
                "sweep": {"interval_seconds": 0, "delete": False},
                "classes": classes,
            }
        ),
        encoding="utf-8",
    )
    process = start_controller(
        config=config,
        kubeconfig=e2e.sandbox.kubeconfig,
        log_path=tmp_path / "controller.log",
        log_format="json",
    )
    try:
        yield process
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def test_services_converge_under_throttling_and_transient_faults_within_the_rate_limit(
    e2e: SandboxRun, e2e_namespace: str, controller: subprocess.Popen[bytes], tmp_path: Path
) -> None:
    admins = {cloud: MockAdmin(e2e.sandbox.mock_clouds[cloud].endpoint) for cloud in CLOUDS}
    cluster = e2e.cluster
    names = {f"svc-{i:03d}": CLOUDS[i % len(CLOUDS)] for i in range(SERVICES)}
    before = {cloud: admin.counters() for cloud, admin in admins.items()}
    for cloud, admin in admins.items():
        inject(admin, cloud)
    try:
        started = time.monotonic()
        for name, cloud in names.items():
            cluster.create_service(e2e_namespace, manifest(name, cloud))

        def pending() -> list[str]:
            items = cluster.api.request("GET", f"/api/v1/namespaces/{e2e_namespace}/services")
            done = {
                item["metadata"]["name"]
                for item in items["items"]
                if ((item.get("status") or {}).get("loadBalancer") or {}).get("ingress")
                and FINALIZER in (item["metadata"].get("finalizers") or [])
            }
            return sorted(set(names) - done)

        timeout = 1200.0 if FULL else 300.0
        wait_for(lambda: not pending(), timeout=timeout, what=f"{SERVICES} Services to converge")
        converged = time.monotonic() - started
        states = {cloud: admin.state() for cloud, admin in admins.items()}
        wanted = []
        nodes = {cloud: len(e2e.sandbox.mock_clouds[cloud].instances) for cloud in CLOUDS}
        for name, cloud in names.items():
            service = cluster.service(e2e_namespace, name)
            assert service is not None
            wanted.append(
                Wanted(
                    uid=service["metadata"]["uid"],
                    cloud=cloud,
                    listeners=frozenset({"TCP:80"}),
                    backends=nodes[cloud],
                    node_ports=frozenset(int(p["nodePort"]) for p in service["spec"]["ports"]),
                )
            )
        built = problems(holdings(states, CLUSTER), wanted)
        assert not built, built

        deleting = time.monotonic()
        for name in names:
            cluster.api.request("DELETE", f"/api/v1/namespaces/{e2e_namespace}/services/{name}")
        wait_for(
            lambda: (
                not cluster.api.request("GET", f"/api/v1/namespaces/{e2e_namespace}/services")[
                    "items"
                ]
            ),
            timeout=timeout,
            what=f"{SERVICES} Services deleted",
        )
        deleted = time.monotonic() - deleting
    finally:
        for admin in admins.values():
            admin.clear_faults()
    after = {cloud: admin.counters() for cloud, admin in admins.items()}
    left = problems(holdings({c: a.state() for c, a in admins.items()}, CLUSTER), [])
    assert not left, left
    log = (tmp_path / "controller.log").read_text(encoding="utf-8")
    retried = log.count('"msg": "retrying cloud api call"')
    waited = log.count('"msg": "load balancer not ready yet"')
    failed = log.count('"msg": "sync failed"')
    assert retried > 0, "no fault reached the controller"

    lines = [
        f"faults: {SERVICES} Services ("
        + ", ".join(f"{c} {list(names.values()).count(c)}" for c in CLOUDS)
        + f"), {TRANSIENT:.0%} transient "
        f"faults + a {BURST} burst / {QPS:g} per second token bucket at each mock; "
        f"converged in {converged:.0f}s, all deleted in {deleted:.0f}s, clouds clean; "
        f"{retried} calls retried, {waited} syncs waited (RetryAfter), {failed} syncs failed"
    ]
    for cloud in CLOUDS:
        calls = after[cloud] - before[cloud]
        per_second = calls.per_second
        seconds = max(1, len(range(min(per_second), max(per_second) + 1))) if per_second else 1
        peaks = {window: peak(per_second, window) for window in WINDOWS}
        lines.append(
            f"  {cloud:8} calls {calls.total:5} (writes {calls.writes}), "
            f"mean {calls.total / seconds:4.1f}/s over {seconds}s, peak "
            + ", ".join(f"{peaks[w]} in {w}s" for w in WINDOWS)
            + f" (limit {BURST} + {QPS:g}/s)"
        )
        for window, most in peaks.items():
            # A token bucket allows at most burst + rate * window calls in any window;
            # one call of slack for a call that crossed a second boundary on the wire.
            assert most <= BURST + QPS * window + 1, (cloud, window, most)
    report("\n".join(lines))
