"""``lbprovider plan`` and ``lbprovider sweep`` as an operator runs them, on every mock cloud.

- plan: a Service in sync plans nothing (exit 0); drift made behind the
  controller's back in the cloud shows (exit 2); a Service changed while its
  controller is stopped plans exactly that change, and nothing once the
  controller is back.
- sweep: a load balancer planted with our tags for a UID no Service has is
  listed (exit 2) and deleted only with ``--delete`` (then exit 0).

The drift is made through each cloud's own SDK (as the console or a CLI
would), the orphan through the provider (the real SDK against the mock, with
our tags), never through the controller.  The "stopped controller" case runs
a second ``lbprovider run`` with its own cluster name and classes on the same
mock clouds, so stopping it leaves the session's controller alone.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml

from lbprovider.cloud import (
    DesiredLoadBalancer,
    Listener,
    NodeTarget,
    Protocol,
    Provider,
    RetryAfter,
    ServiceRef,
)
from lbprovider.config import build_providers, load_config
from lbprovider.controller.ownership import Ownership
from lbprovider.mockkit import MockAdmin
from lbprovider.testing.harness import SandboxRun
from lbprovider.testing.kubehelpers import wait_for
from lbprovider.testing.sandbox import CLASS_NAMES, CLUSTER_NAME, start_controller

pytestmark = pytest.mark.e2e

CLOUDS = ["aws", "alibaba", "tencent"]
BIN = Path(sys.executable).parent
SECOND_CLUSTER = "sandbox-second"
T = TypeVar("T")

HTTP = {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 9376}
HTTPS = {"name": "https", "protocol": "TCP", "port": 443, "targetPort": 9377}
ALT = {"name": "alt", "protocol": "TCP", "port": 8443, "targetPort": 9378}


def lbprovider(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(BIN / "lbprovider"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def plan(config: Path, kubeconfig: Path, *keys: str) -> subprocess.CompletedProcess[str]:
    return lbprovider("plan", "--config", str(config), "--kubeconfig", str(kubeconfig), *keys)


def change_lines(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if line.startswith("  ")]


def manifest(name: str, load_balancer_class: str, ports: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": load_balancer_class,
            "selector": {"app.kubernetes.io/name": "MyApp"},
            "ports": ports,
        },
    }


def settle(call: Callable[[], T], *, timeout: float = 90.0) -> T:
    """``call()``, again after each RetryAfter (a CLB task still running), until it returns."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return call()
        except RetryAfter as exc:
            if time.monotonic() > deadline:
                raise
            time.sleep(min(exc.seconds, 2.0))


def providers_of(config: Path) -> dict[str, Provider]:
    return build_providers(load_config(config))


def delete_and_wait(e2e: SandboxRun, namespace: str, name: str) -> None:
    e2e.cluster.api.request("DELETE", f"/api/v1/namespaces/{namespace}/services/{name}")
    wait_for(
        lambda: e2e.cluster.service(namespace, name) is None,
        timeout=90,
        what=f"{namespace}/{name} to be cleaned up and deleted",
    )


def class_settings(config: Path, cloud: str) -> dict[str, Any]:
    raw = yaml.safe_load(config.read_text(encoding="utf-8"))
    return next(dict(entry["settings"]) for entry in raw["classes"] if entry["provider"] == cloud)


def credentials(settings: dict[str, Any]) -> dict[str, str]:
    """The mock's test credentials file (YAML or JSON)."""
    loaded: dict[str, str] = yaml.safe_load(Path(settings["credentials_file"]).read_text())
    return loaded


def aws_delete_listener(settings: dict[str, Any], lb_id: str, port: int) -> None:
    import boto3  # noqa: PLC0415  # each cloud's SDK only in its own drift

    keys = credentials(settings)
    elbv2 = boto3.client(
        "elbv2",
        region_name=settings["region"],
        endpoint_url=settings["endpoint_url"],
        aws_access_key_id=keys["access_key_id"],
        aws_secret_access_key=keys["secret_access_key"],
    )
    listeners = elbv2.describe_listeners(LoadBalancerArn=lb_id)["Listeners"]
    elbv2.delete_listener(
        ListenerArn=next(li["ListenerArn"] for li in listeners if li["Port"] == port)
    )


def alibaba_delete_listener(settings: dict[str, Any], lb_id: str, port: int) -> None:
    from aliyunsdkcore.client import AcsClient  # noqa: PLC0415  # see aws_delete_listener
    from aliyunsdkslb.request.v20140515.DeleteLoadBalancerListenerRequest import (  # noqa: PLC0415
        DeleteLoadBalancerListenerRequest,
    )

    keys = credentials(settings)
    client = AcsClient(keys["access_key_id"], keys["access_key_secret"], settings["region"])
    client.add_endpoint(settings["region"], "Slb", settings["endpoint"])
    request = DeleteLoadBalancerListenerRequest()
    request.set_protocol_type("http")
    request.set_LoadBalancerId(lb_id)
    request.set_ListenerPort(port)
    request.set_ListenerProtocol("tcp")
    client.do_action_with_exception(request)


def tencent_delete_listener(settings: dict[str, Any], lb_id: str, port: int) -> None:
    from tencentcloud.clb.v20180317 import clb_client, models  # noqa: PLC0415  # see aws_...
    from tencentcloud.common import credential  # noqa: PLC0415
    from tencentcloud.common.profile.client_profile import ClientProfile  # noqa: PLC0415
    from tencentcloud.common.profile.http_profile import HttpProfile  # noqa: PLC0415

    keys = credentials(settings)
    profile = ClientProfile(httpProfile=HttpProfile(endpoint=settings["endpoint"], protocol="http"))
    client = clb_client.ClbClient(
        credential.Credential(keys["secret_id"], keys["secret_key"]), settings["region"], profile
    )

    def listeners() -> list[Any]:
        request = models.DescribeListenersRequest()
        request.from_json_string(json.dumps({"LoadBalancerId": lb_id, "Port": port}))
        return list(client.DescribeListeners(request).Listeners or [])

    request = models.DeleteListenerRequest()
    request.from_json_string(
        json.dumps({"LoadBalancerId": lb_id, "ListenerId": listeners()[0].ListenerId})
    )
    client.DeleteListener(request)
    # CLB deletes asynchronously: wait for the task, as the console would show it done.
    wait_for(lambda: not listeners(), timeout=30, what=f"listener {port} of {lb_id} deleted")


DELETE_LISTENER: dict[str, Callable[[dict[str, Any], str, int], None]] = {
    "aws": aws_delete_listener,
    "alibaba": alibaba_delete_listener,
    "tencent": tencent_delete_listener,
}


def resource_version(e2e: SandboxRun, namespace: str, name: str) -> str:
    service = e2e.cluster.service(namespace, name)
    assert service is not None
    return str(service["metadata"]["resourceVersion"])


def wait_recorded(e2e: SandboxRun, namespace: str, name: str) -> None:
    """Until the controller has recorded what it applied (its last write of a sync)."""

    def recorded() -> bool:
        service = e2e.cluster.service(namespace, name) or {}
        annotations = (service.get("metadata") or {}).get("annotations") or {}
        record = Ownership.from_annotations(annotations)
        return record is not None and bool(record.digest)

    wait_for(recorded, timeout=60, what=f"the ownership record of {namespace}/{name}")


def ingress_ports(e2e: SandboxRun, namespace: str, name: str) -> set[int]:
    ingress = e2e.cluster.ingress(namespace, name)
    return {port["port"] for entry in ingress for port in entry.get("ports") or ()}


@pytest.mark.parametrize("cloud", CLOUDS)
def test_plan_is_empty_in_sync_and_shows_drift_made_in_the_cloud(
    e2e: SandboxRun, e2e_namespace: str, cloud: str
) -> None:
    config, kubeconfig = e2e.sandbox.config_path, e2e.sandbox.kubeconfig
    key = f"{e2e_namespace}/web"
    e2e.cluster.create_service(e2e_namespace, manifest("web", CLASS_NAMES[cloud], [HTTP, HTTPS]))
    wait_for(
        lambda: ingress_ports(e2e, e2e_namespace, "web") == {80, 443},
        timeout=90,
        what="both ports served",
    )
    wait_recorded(e2e, e2e_namespace, "web")
    try:
        admin = MockAdmin(e2e.sandbox.mock_clouds[cloud].endpoint)
        written = admin.counters()
        version = resource_version(e2e, e2e_namespace, "web")
        in_sync = plan(config, kubeconfig, key)
        assert in_sync.returncode == 0, in_sync.stdout + in_sync.stderr
        assert f"{key} ({CLASS_NAMES[cloud]}): no changes" in in_sync.stdout
        # Read-only on both sides: no cloud write, the Service untouched.
        assert (admin.counters() - written).writes == 0
        assert resource_version(e2e, e2e_namespace, "web") == version

        # Behind the controller's back, through the cloud's own SDK: the 443 listener goes.
        service = e2e.cluster.service(e2e_namespace, "web") or {}
        record = Ownership.from_annotations(service["metadata"]["annotations"])
        assert record is not None and record.lb_id
        DELETE_LISTENER[cloud](class_settings(config, cloud), record.lb_id, 443)

        drift = plan(config, kubeconfig, key)
        assert drift.returncode == 2, drift.stdout + drift.stderr
        lines = change_lines(drift.stdout)
        assert any(line.startswith("+ create listener") and "443" in line for line in lines), (
            drift.stdout
        )
        assert not any(line.startswith("- ") for line in lines), drift.stdout
    finally:
        delete_and_wait(e2e, e2e_namespace, "web")


@pytest.fixture
def second_config(e2e: SandboxRun, tmp_path: Path) -> Path:
    """Another controller's configuration: its own cluster name and classes, same clouds."""
    raw = yaml.safe_load(e2e.sandbox.config_path.read_text(encoding="utf-8"))
    raw["cluster_name"] = SECOND_CLUSTER
    raw["classes"] = [
        {**entry, "name": entry["name"].replace("lbprovider.io/", "second.lbprovider.io/")}
        for entry in raw["classes"]
        if entry["provider"] in CLOUDS
    ]
    path = tmp_path / "second.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.fixture
def second_controller(
    e2e: SandboxRun, second_config: Path, tmp_path: Path
) -> Iterator[Callable[[], subprocess.Popen[bytes]]]:
    """Starts ``lbprovider run`` on ``second_config`` (again after a stop); stops what runs."""
    running: list[subprocess.Popen[bytes]] = []

    def start() -> subprocess.Popen[bytes]:
        process = start_controller(
            config=second_config,
            kubeconfig=e2e.sandbox.kubeconfig,
            log_path=tmp_path / f"second-{len(running)}.log",
        )
        running.append(process)
        return process

    yield start
    for process in running:
        if process.poll() is None:
            process.kill()
            process.wait(30)


def stop(process: subprocess.Popen[bytes]) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0, "the controller did not exit cleanly on SIGTERM"


@pytest.mark.parametrize("cloud", CLOUDS)
def test_a_change_made_while_the_controller_is_stopped_plans_exactly_that_change(
    e2e: SandboxRun,
    e2e_namespace: str,
    second_config: Path,
    second_controller: Callable[[], subprocess.Popen[bytes]],
    cloud: str,
) -> None:
    load_balancer_class = f"second.{CLASS_NAMES[cloud]}"
    key = f"{e2e_namespace}/web"
    path = f"/api/v1/namespaces/{e2e_namespace}/services/web"
    controller = second_controller()
    e2e.cluster.create_service(e2e_namespace, manifest("web", load_balancer_class, [HTTP]))
    e2e.cluster.wait_ingress(e2e_namespace, "web", timeout=90)
    wait_recorded(e2e, e2e_namespace, "web")
    try:
        stop(controller)
        assert plan(second_config, e2e.sandbox.kubeconfig, key).returncode == 0

        service = e2e.cluster.service(e2e_namespace, "web")
        assert service is not None
        e2e.cluster.patch(path, {"spec": {"ports": [*service["spec"]["ports"], ALT]}})
        changed = e2e.cluster.service(e2e_namespace, "web")
        assert changed is not None
        node_port = next(p["nodePort"] for p in changed["spec"]["ports"] if p["port"] == 8443)

        result = plan(second_config, e2e.sandbox.kubeconfig, key)
        assert result.returncode == 2, result.stdout + result.stderr
        lines = change_lines(result.stdout)
        assert any(line.startswith("+ create listener") and "8443" in line for line in lines)
        # Exactly that change: everything planned is a creation for the new port.
        for line in lines:
            assert line.startswith("+ create"), result.stdout
            assert "8443" in line or str(node_port) in line, result.stdout

        # Back up, the controller applies it; then there is nothing left to plan.
        controller = second_controller()
        wait_for(
            lambda: 8443 in ingress_ports(e2e, e2e_namespace, "web"),
            timeout=90,
            what="the new port served",
        )
        after = plan(second_config, e2e.sandbox.kubeconfig, key)
        assert after.returncode == 0, after.stdout + after.stderr
    finally:
        if controller.poll() is not None:
            controller = second_controller()
        delete_and_wait(e2e, e2e_namespace, "web")
        stop(controller)


def one_cloud_config(e2e: SandboxRun, directory: Path, cloud: str) -> Path:
    """The sandbox's configuration with only ``cloud``'s class (same cluster name)."""
    raw = yaml.safe_load(e2e.sandbox.config_path.read_text(encoding="utf-8"))
    raw["classes"] = [entry for entry in raw["classes"] if entry["provider"] == cloud]
    path = directory / f"{cloud}.yaml"
    path.write_text(yaml.safe_dump(raw), encoding="utf-8")
    return path


@pytest.mark.parametrize("cloud", CLOUDS)
def test_sweep_lists_a_planted_orphan_and_deletes_it_only_with_delete(
    e2e: SandboxRun, tmp_path: Path, cloud: str
) -> None:
    cloud_config = one_cloud_config(e2e, tmp_path, cloud)
    provider = providers_of(cloud_config)[CLASS_NAMES[cloud]]
    uid = str(uuid.uuid4())  # no Service has it
    ref = ServiceRef(cluster=CLUSTER_NAME, namespace="gone", name="ghost", uid=uid)
    instance = e2e.sandbox.mock_clouds[cloud].instances[0]
    node = NodeTarget(
        name=instance.node_name, provider_id=instance.provider_id, address=instance.internal_ip
    )
    desired = DesiredLoadBalancer(
        ref=ref,
        listeners=(Listener(name="http", port=80, protocol=Protocol.TCP, node_port=30080),),
        nodes=(node,),
    )
    planted = settle(lambda: provider.ensure(desired)).lb_id
    kubeconfig = str(e2e.sandbox.kubeconfig)
    try:
        listed = lbprovider("sweep", "--config", str(cloud_config), "--kubeconfig", kubeconfig)
        assert listed.returncode == 2, listed.stdout + listed.stderr
        row = next(line for line in listed.stdout.splitlines() if planted in line)
        assert CLASS_NAMES[cloud] in row and "gone/ghost" in row and uid in row
        assert "orphaned" in row and "no Service has this UID" in row
        assert settle(lambda: provider.get(ref)) is not None, "listing must not delete"

        swept = lbprovider(
            "sweep", "--config", str(cloud_config), "--kubeconfig", kubeconfig, "--delete"
        )
        assert swept.returncode == 0, swept.stdout + swept.stderr
        row = next(line for line in swept.stdout.splitlines() if planted in line)
        assert "deleted" in row
        assert settle(lambda: provider.get(ref)) is None

        again = lbprovider("sweep", "--config", str(cloud_config), "--kubeconfig", kubeconfig)
        assert again.returncode == 0, again.stdout + again.stderr
        assert planted not in again.stdout
    finally:
        settle(lambda: provider.delete(ref))


def test_plan_and_sweep_name_a_broken_configuration(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("cluster_name: x\nclasses: []\n", encoding="utf-8")
    for command in ("plan", "sweep"):
        result = lbprovider(command, "--config", str(broken))
        assert result.returncode == 1, command
        assert "classes: required" in result.stderr


def test_plan_names_a_service_that_does_not_exist(e2e: SandboxRun) -> None:
    result = plan(e2e.sandbox.config_path, e2e.sandbox.kubeconfig, "default/no-such-service")
    assert result.returncode == 1
    assert "default/no-such-service: error: no such Service" in result.stdout
