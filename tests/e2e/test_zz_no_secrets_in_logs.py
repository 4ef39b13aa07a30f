"""End to end: no secret from any test credentials file is in a log line or an Event.

Reads every ``*.log`` under the session's temporary directory (the session
controller's log, the extra controllers' logs, the control plane's) and every
Event the API server stored during the session (the e2e fixture records them
all, since each test's namespace takes its Events with it), after making a
served Service and a refused one per cloud, so it checks something when run
alone too. The ``e2e`` fixture runs the same scan when its session ends, so
what tests after this one wrote is read as well.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbprovider.testing.harness import SandboxRun
from lbprovider.testing.kubehelpers import wait_for
from lbprovider.testing.sandbox import CLASS_NAMES
from secret_scan import EVENTS_FILE, leaks

pytestmark = pytest.mark.e2e


def service(name: str, load_balancer_class: str, annotations: dict[str, str]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": annotations},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": load_balancer_class,
            "selector": {"app.kubernetes.io/name": "MyApp"},
            "ports": [{"protocol": "TCP", "port": 80, "targetPort": 9376}],
        },
    }


BAD_ANNOTATION = {
    "aws": {"service.beta.kubernetes.io/aws-load-balancer-scheme": "sideways"},
    "alibaba": {"service.beta.kubernetes.io/alibaba-cloud-loadbalancer-address-type": "moon"},
    "tencent": {"service.kubernetes.io/qcloud-loadbalancer-internal-subnetid": "no-subnet"},
}


def test_no_secret_in_any_log_or_event(
    e2e: SandboxRun, e2e_namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> None:
    clouds = sorted(e2e.sandbox.mock_clouds)
    for cloud in clouds:
        e2e.cluster.create_service(e2e_namespace, service(f"ok-{cloud}", CLASS_NAMES[cloud], {}))
        e2e.cluster.create_service(
            e2e_namespace, service(f"bad-{cloud}", CLASS_NAMES[cloud], BAD_ANNOTATION[cloud])
        )
    for cloud in clouds:
        e2e.cluster.wait_ingress(e2e_namespace, f"ok-{cloud}", timeout=90)
        e2e.cluster.wait_event(e2e_namespace, f"bad-{cloud}", "SyncLoadBalancerFailed", timeout=60)
    for cloud in clouds:
        for name in (f"ok-{cloud}", f"bad-{cloud}"):
            e2e.cluster.api.request("DELETE", f"/api/v1/namespaces/{e2e_namespace}/services/{name}")
    for cloud in clouds:
        for name in (f"ok-{cloud}", f"bad-{cloud}"):
            wait_for(
                lambda name=name: e2e.cluster.service(e2e_namespace, name) is None,  # type: ignore[misc]
                timeout=60,
                what=f"{name} deleted",
            )

    events_path = e2e.sandbox.directory / EVENTS_FILE
    wait_for(
        lambda: "bad-" in events_path.read_text(), timeout=30, what="this test's Events recorded"
    )
    secrets, sources, found = leaks(e2e, tmp_path_factory.getbasetemp())
    print(f"\nsecrets check: {secrets} secrets, {sources} logs and Event sources, clean")
    assert found == []
