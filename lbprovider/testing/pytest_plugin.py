"""pytest fixtures around :class:`lbprovider.testing.controlplane.ControlPlane`.

Enable with ``pytest_plugins = ["lbprovider.testing.pytest_plugin"]`` in a
``conftest.py``.  Fixtures:

- ``control_plane`` (session): one etcd + kube-apiserver + kube-controller-manager
  per test session, started the first time a test asks for it, so runs that
  select only unit tests start no process.  Its logs stay in pytest's
  temporary directory.
- ``kube_api`` (session): an admin ``kubernetes.client.ApiClient`` for it.
- ``namespace`` (function): a fresh namespace per test, deleted afterwards.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

from lbprovider.testing.controlplane import ControlPlane

if TYPE_CHECKING:
    from kubernetes.client import ApiClient

__all__ = ["control_plane", "kube_api", "namespace", "namespace_name_for"]

_NAMESPACE_PREFIX = "t-"
_DNS_LABEL_MAX = 63
_SUFFIX_HEX = 6  # random hex characters that keep reruns and parametrized tests apart


def namespace_name_for(test_name: str, *, suffix: str | None = None) -> str:
    """A DNS-1123 label naming a test's namespace: ``t-<test name slug>-<random>``."""
    suffix = secrets.token_hex(_SUFFIX_HEX // 2) if suffix is None else suffix
    slug = re.sub(r"[^a-z0-9]+", "-", test_name.lower()).strip("-")
    room = _DNS_LABEL_MAX - len(_NAMESPACE_PREFIX) - len(suffix) - 1
    slug = slug[:room].rstrip("-") or "test"
    return f"{_NAMESPACE_PREFIX}{slug}-{suffix}"


@pytest.fixture(scope="session")
def control_plane(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ControlPlane]:
    """etcd + kube-apiserver + kube-controller-manager, shared by the session."""
    workdir = tmp_path_factory.mktemp("control-plane")
    with ControlPlane.start(with_controller_manager=True, workdir=workdir) as plane:
        yield plane


@pytest.fixture(scope="session")
def kube_api(control_plane: ControlPlane) -> Iterator[ApiClient]:
    """An admin (``system:masters``) API client for the session's control plane."""
    with control_plane.api_client() as api:
        yield api


@pytest.fixture
def namespace(kube_api: ApiClient, request: pytest.FixtureRequest) -> Iterator[str]:
    """Create a namespace unique to this test; delete it (in the background) afterwards."""
    from kubernetes import client  # noqa: PLC0415 - the client loads only when a test needs it

    core = client.CoreV1Api(kube_api)
    name = namespace_name_for(request.node.name)
    core.create_namespace(
        body=client.V1Namespace(
            metadata=client.V1ObjectMeta(name=name, labels={"lbprovider.test/namespace": "true"})
        )
    )
    # The ServiceAccount admission plugin refuses Pods until the namespace's
    # "default" ServiceAccount exists; creating it beats waiting for the controller.
    try:
        core.create_namespaced_service_account(
            namespace=name,
            body=client.V1ServiceAccount(metadata=client.V1ObjectMeta(name="default")),
        )
    except client.ApiException as exc:
        if exc.status != 409:  # the serviceaccount controller was quicker
            raise
    yield name
    try:
        core.delete_namespace(name=name)
    except client.ApiException as exc:
        if exc.status != 404:
            raise
