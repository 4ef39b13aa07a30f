"""End to end: no secret from any test credentials file is in a log line or an Event.

Named to sort last: pytest runs the e2e files in name order, so this test
reads what the whole session wrote: every ``*.log`` under the session's
temporary directory (the session controller's log, the extra controllers'
logs, the control plane's) and every Event the API server stored during the
session (the e2e fixture records them all, since each test's namespace takes
its Events with it).  It first runs a little of its own, a served Service and
a refused one per cloud, so it checks something when run alone too.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from lbprovider.testing.harness import SandboxRun
from lbprovider.testing.kubehelpers import wait_for
from lbprovider.testing.sandbox import CLASS_NAMES
from second_controller import CREDENTIAL_SUFFIX

pytestmark = pytest.mark.e2e

EVENTS_FILE = "events.jsonl"  # where tests/e2e/conftest.py records the session's Events
SECRET_FIELDS = {
    "secret_access_key",
    "session_token",
    "access_key_secret",
    "secret_key",
    "accessKeySecret",
    "AccessKeySecret",
}
MIN_SECRET = 12
"""Shorter values are dummies, not secrets: the AWS mock's pair is moto's ``testing``, a
word that is in every log (``lbprovider.testing``); a real leak path is caught by the
long random secrets of the other files."""


def secret_values(e2e: SandboxRun, basetemp: Path) -> dict[str, str]:
    """Every secret of the sandbox's and the tests' credentials files -> where it is from."""
    files = [
        Path(cloud.provider_settings()["credentials_file"])
        for cloud in e2e.sandbox.mock_clouds.values()
    ]
    files += sorted(basetemp.rglob(f"*{CREDENTIAL_SUFFIX}"))
    found: dict[str, str] = {}
    for path in files:
        if not path.exists():
            continue
        content: dict[str, Any] = json.loads(path.read_text())
        for field, value in content.items():
            if field in SECRET_FIELDS and isinstance(value, str) and len(value) >= MIN_SECRET:
                found[value] = f"{path.name}:{field}"
    return found


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
        wait_for(
            lambda cloud=cloud: (
                "SyncLoadBalancerFailed"  # type: ignore[misc]
                in e2e.cluster.reasons(e2e_namespace, f"bad-{cloud}")
            ),
            timeout=60,
            what=f"the refusal of bad-{cloud}",
        )
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

    basetemp = tmp_path_factory.getbasetemp()
    secrets = secret_values(e2e, basetemp)
    assert len(secrets) >= 2, "no credentials file found: the check would prove nothing"
    logs = sorted(basetemp.rglob("*.log"))
    assert e2e.log_path in logs and e2e.controller_log(), "the controller wrote no log"
    events_path = e2e.sandbox.directory / EVENTS_FILE
    wait_for(
        lambda: "bad-" in events_path.read_text(), timeout=30, what="this test's Events recorded"
    )
    live = e2e.cluster.api.request("GET", "/api/v1/events")["items"]
    texts = {str(path): path.read_text(errors="replace") for path in [*logs, events_path]}
    texts["Events now in the API"] = "\n".join(str(event.get("message")) for event in live)
    leaks = [
        f"{origin} in {where}"
        for secret, origin in secrets.items()
        for where, text in texts.items()
        if secret in text
    ]
    print(f"\nsecrets check: {len(secrets)} secrets, {len(texts)} logs and Event sources, clean")
    assert leaks == []
