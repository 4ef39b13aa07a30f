"""deploy/base/rbac.yaml is enough: the controller runs on its ServiceAccount token alone.

Applies the shipped RBAC to a real API server, runs a controller (with leader
election) authenticated only as ``kube-system/lbprovider``, and checks it
serves and cleans up a Service; a token without the bindings is refused.
"""

from __future__ import annotations

import contextlib
import threading
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from lbprovider.controller.service_controller import NODE_RECORD_NAME, ServiceController
from lbprovider.kube.api import ApiError, KubeApi, load_api_client
from lbprovider.kube.leader import LeaderElectionSettings, run_when_leader
from lbprovider.kube.noderecord import data_key
from lbprovider.testing.controlplane import ControlPlane
from lbprovider.testing.fake_provider import FakeProvider, FakeSettings
from lbprovider.testing.kubehelpers import Cluster, wait_for

pytestmark = pytest.mark.integration

RBAC = Path(__file__).resolve().parents[2] / "deploy" / "base" / "rbac.yaml"
CLASS = "rbac.example.com/fake"
CONFIGMAPS = "/api/v1/namespaces/kube-system/configmaps"
PATHS = {
    "ServiceAccount": "/api/v1/namespaces/{namespace}/serviceaccounts",
    "ClusterRole": "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    "ClusterRoleBinding": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
    "Role": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/roles",
    "RoleBinding": "/apis/rbac.authorization.k8s.io/v1/namespaces/{namespace}/rolebindings",
}


def apply(api: KubeApi, manifest: dict[str, Any]) -> None:
    namespace = manifest["metadata"].get("namespace", "")
    try:
        api.request("POST", PATHS[manifest["kind"]].format(namespace=namespace), body=manifest)
    except ApiError as exc:
        if exc.status != 409:
            raise


def test_controller_serves_with_only_the_shipped_rbac(
    control_plane: ControlPlane, kube_api: ApiClient, namespace: str, tmp_path: Path
) -> None:
    admin = Cluster(KubeApi(kube_api))
    apply(
        admin.api,
        {
            "kind": "ServiceAccount",
            "apiVersion": "v1",
            "metadata": {"name": "lbprovider", "namespace": "kube-system"},
        },
    )
    token = control_plane.request_token(namespace="kube-system", service_account="lbprovider")
    kubeconfig = control_plane.write_kubeconfig_for_token(tmp_path / "sa.kubeconfig", token)
    service_account_api = KubeApi(load_api_client(str(kubeconfig)))
    with pytest.raises(ApiError) as refused:
        service_account_api.request("GET", "/api/v1/services")
    assert refused.value.status == 403

    for manifest in yaml.safe_load_all(RBAC.read_text()):
        apply(admin.api, manifest)
    wait_for(lambda: _can_list(service_account_api), what="the RBAC bindings to take effect")

    # The node-set record is created (and later patched) with the ServiceAccount's rights.
    with contextlib.suppress(ApiError):
        admin.api.request("DELETE", f"{CONFIGMAPS}/{NODE_RECORD_NAME}")
    provider = FakeProvider(FakeSettings(), cluster_name="rbac")
    controller = ServiceController.from_api(
        service_account_api, cluster_name="rbac", providers={CLASS: provider}, resync_seconds=0
    )
    leading = threading.Event()
    elector = run_when_leader(
        service_account_api.api_client,
        LeaderElectionSettings(enabled=True, lease_duration=15, renew_deadline=10, retry_period=1),
        on_started_leading=lambda: _lead(controller, leading),
        on_stopped_leading=controller.stop,
    )
    try:
        assert leading.wait(30), "the controller never became leader"
        lease = admin.api.request(
            "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lbprovider"
        )
        assert lease["spec"]["holderIdentity"]
        first = wait_for(lambda: _recorded(admin), what="the node-set record, created")
        admin.create_service(
            namespace,
            {
                "metadata": {"name": "web"},
                "spec": {
                    "type": "LoadBalancer",
                    "loadBalancerClass": CLASS,
                    "ports": [{"port": 80}],
                },
            },
        )
        ingress = admin.wait_ingress(namespace, "web")
        assert ingress[0]["ip"].startswith("192.0.2.")
        # The Event, written with the ServiceAccount's rights.
        admin.wait_event(namespace, "web", "EnsuredLoadBalancer")
        admin.api.request("DELETE", f"/api/v1/namespaces/{namespace}/services/web")
        wait_for(lambda: admin.service(namespace, "web") is None, what="cleanup")
        assert provider.calls_for(f"{namespace}/web") == ["ensure", "delete"]
        admin.api.request(
            "POST",
            "/api/v1/nodes",
            body={"metadata": {"name": "rbac-node"}, "spec": {"providerID": "fake://rbac-node"}},
        )
        try:
            wait_for(
                lambda: (_recorded(admin) or first) != first,
                what="the node-set record, patched for a new node",
            )
        finally:
            admin.api.request("DELETE", "/api/v1/nodes/rbac-node")
        controller.stop()
        elector.release()  # a rolling update's successor must not wait out the lease
        lease = admin.api.request(
            "GET", "/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/lbprovider"
        )
        assert not lease["spec"].get("holderIdentity")
    finally:
        elector.stop()
        controller.stop()


def _recorded(admin: Cluster) -> str | None:
    """The class's node-set digest in the record, or None."""
    try:
        found = admin.api.request("GET", f"{CONFIGMAPS}/{NODE_RECORD_NAME}")
    except ApiError:
        return None
    return (found.get("data") or {}).get(data_key(CLASS))


def _can_list(api: KubeApi) -> bool:
    try:
        api.request("GET", "/api/v1/services")
    except ApiError:
        return False
    return True


def _lead(controller: ServiceController, leading: threading.Event) -> None:
    controller.start()
    leading.set()
