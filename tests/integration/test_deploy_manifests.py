"""deploy/overlays/<cloud> is what an operator applies: the API server accepts it, and it runs.

Every overlay is rendered with ``kubectl kustomize`` (as ``kubectl apply -k``
does), dry-run on a real API server with strict field validation, and its
configuration, read from the mounted ConfigMap with the credentials from the
mounted Secret, passes ``lbprovider run --check``.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from kubernetes.client import ApiClient

from deploy_overlays import OVERLAYS, one, pod_filesystem, render
from lbprovider.kube.api import KubeApi

pytestmark = pytest.mark.integration

COLLECTIONS = {
    ("v1", "ServiceAccount"): "/api/v1/namespaces/{ns}/serviceaccounts",
    ("v1", "ConfigMap"): "/api/v1/namespaces/{ns}/configmaps",
    ("v1", "Secret"): "/api/v1/namespaces/{ns}/secrets",
    ("apps/v1", "Deployment"): "/apis/apps/v1/namespaces/{ns}/deployments",
    ("policy/v1", "PodDisruptionBudget"): "/apis/policy/v1/namespaces/{ns}/poddisruptionbudgets",
    ("rbac.authorization.k8s.io/v1", "ClusterRole"): (
        "/apis/rbac.authorization.k8s.io/v1/clusterroles"
    ),
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): (
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
    ),
    ("rbac.authorization.k8s.io/v1", "Role"): (
        "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles"
    ),
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): (
        "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"
    ),
}
BASE_KINDS = [
    "ClusterRole",
    "ClusterRoleBinding",
    "ConfigMap",
    "Deployment",
    "PodDisruptionBudget",
    "Role",
    "RoleBinding",
    "ServiceAccount",
]
CLASS_OF = {
    "aws": "lbprovider.io/aws-nlb (aws)",
    "alibaba": "lbprovider.io/alibaba-slb (alibaba)",
    "tencent": "lbprovider.io/tencent-clb (tencent)",
}


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_passes_server_side_dry_run(kube_api: ApiClient, overlay: str) -> None:
    api = KubeApi(kube_api)
    kinds = []
    for manifest in render(overlay):
        assert manifest["metadata"].get("namespace", "kube-system") == "kube-system"
        key = (manifest["apiVersion"], manifest["kind"])
        path = COLLECTIONS[key].format(ns=manifest["metadata"].get("namespace", ""))
        # Strict field validation: a misspelt field is an error, not silently dropped.
        api.request(
            "POST", path, query={"dryRun": "All", "fieldValidation": "Strict"}, body=manifest
        )
        kinds.append(manifest["kind"])
    expected = BASE_KINDS if overlay == "aws" else [*BASE_KINDS, "Secret"]
    assert sorted(kinds) == sorted(expected)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_configuration_passes_check_as_mounted(overlay: str, tmp_path: Path) -> None:
    config = pod_filesystem(render(overlay), tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "lbprovider.cli", "run", "--config", str(config), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert f"configuration OK; serving {CLASS_OF[overlay]}" in result.stdout


def test_a_missing_credentials_key_fails_the_check(tmp_path: Path) -> None:
    """The check really reads the mounted Secret: without it, the Pod's config is refused."""
    manifests = [m for m in render("alibaba") if m["kind"] != "Secret"]
    config = pod_filesystem(manifests, tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "lbprovider.cli", "run", "--config", str(config), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 2
    assert "credentials_file" in result.stderr


def test_aws_credentials_come_from_irsa_alibaba_and_tencent_from_a_required_secret() -> None:
    aws = render("aws")
    account = one(aws, "ServiceAccount")
    assert account["metadata"]["annotations"]["eks.amazonaws.com/role-arn"].startswith(
        "arn:aws:iam::"
    )
    assert "credentials_file" not in one(aws, "ConfigMap")["data"]["lbprovider.yaml"]
    for overlay in ("alibaba", "tencent"):
        manifests = render(overlay)
        secret = one(manifests, "Secret")
        volumes = one(manifests, "Deployment")["spec"]["template"]["spec"]["volumes"]
        mounted = next(v["secret"] for v in volumes if "secret" in v)
        assert mounted["secretName"] == secret["metadata"]["name"]
        assert mounted["optional"] is False  # no keys, no Pod: not a controller failing later


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_deployment_is_non_root_read_only_bounded_and_disruption_safe(overlay: str) -> None:
    manifests = render(overlay)
    deployment = one(manifests, "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container: dict[str, Any] = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]
    assert container["resources"]["limits"]["memory"]
    assert container["resources"]["requests"]["memory"]
    budget = one(manifests, "PodDisruptionBudget")["spec"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert budget["selector"]["matchLabels"].items() <= labels.items()
    # A drain may evict the standby or the leader, never both at once.
    assert deployment["spec"]["replicas"] > budget["maxUnavailable"]
