"""deploy/ is valid: the API server accepts every manifest, and the shipped configuration loads."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes.client import ApiClient

from lbprovider.config import build_providers, parse_config
from lbprovider.kube.api import KubeApi

pytestmark = pytest.mark.integration

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
COLLECTIONS = {
    ("v1", "ServiceAccount"): "/api/v1/namespaces/{ns}/serviceaccounts",
    ("v1", "ConfigMap"): "/api/v1/namespaces/{ns}/configmaps",
    ("apps/v1", "Deployment"): "/apis/apps/v1/namespaces/{ns}/deployments",
    (
        "rbac.authorization.k8s.io/v1",
        "ClusterRole",
    ): "/apis/rbac.authorization.k8s.io/v1/clusterroles",
    ("rbac.authorization.k8s.io/v1", "ClusterRoleBinding"): (
        "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings"
    ),
    (
        "rbac.authorization.k8s.io/v1",
        "Role",
    ): "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/roles",
    ("rbac.authorization.k8s.io/v1", "RoleBinding"): (
        "/apis/rbac.authorization.k8s.io/v1/namespaces/{ns}/rolebindings"
    ),
}


def manifests() -> list[dict[str, Any]]:
    kustomization = yaml.safe_load((DEPLOY / "kustomization.yaml").read_text())
    found: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        found.extend(doc for doc in yaml.safe_load_all((DEPLOY / resource).read_text()) if doc)
    return found


def test_every_manifest_passes_server_side_validation(kube_api: ApiClient) -> None:
    api = KubeApi(kube_api)
    kinds = []
    for manifest in manifests():
        key = (manifest["apiVersion"], manifest["kind"])
        path = COLLECTIONS[key].format(ns=manifest["metadata"].get("namespace", ""))
        # Strict field validation: a misspelt field is an error, not silently dropped.
        api.request(
            "POST", path, query={"dryRun": "All", "fieldValidation": "Strict"}, body=manifest
        )
        kinds.append(manifest["kind"])
    assert sorted(kinds) == sorted(
        [
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "Role",
            "RoleBinding",
            "ConfigMap",
            "Deployment",
        ]
    )


def test_the_deployment_runs_as_non_root_with_a_read_only_root() -> None:
    deployment = next(m for m in manifests() if m["kind"] == "Deployment")
    pod = deployment["spec"]["template"]["spec"]
    assert pod["securityContext"]["runAsNonRoot"] is True
    container = pod["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["capabilities"]["drop"] == ["ALL"]


def test_the_shipped_configuration_loads() -> None:
    config_map = next(m for m in manifests() if m["kind"] == "ConfigMap")
    config = parse_config(yaml.safe_load(config_map["data"]["lbprovider.yaml"]))
    assert config.leader_election.enabled
    assert [entry.name for entry in config.classes] == ["lbprovider.io/aws-nlb"]
    assert list(build_providers(config)) == ["lbprovider.io/aws-nlb"]
