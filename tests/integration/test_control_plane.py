"""The test control plane is a real Kubernetes API: it allocates, validates and authorizes.

These tests pin down the behaviour the provider's tests rely on, so that a
fake or half-configured API server cannot pass for the real thing.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import pytest
import yaml
from kubernetes import client, config

from lbprovider.testing.controlplane import ControlPlane

pytestmark = pytest.mark.integration

T = TypeVar("T")


def _eventually(probe: Callable[[], T | None], *, timeout: float = 30.0, what: str) -> T:
    """Poll ``probe`` until it returns something other than None."""
    deadline = time.monotonic() + timeout
    while True:
        result = probe()
        if result is not None:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(0.2)


M = TypeVar("M")


def _model(kind: Callable[[Any], M | None], data: Any) -> M:
    """``kind(data)`` (a model's ``from_dict``), which is typed Optional but never None here."""
    model = kind(data)
    assert model is not None
    return model


def _service(manifest: str) -> client.V1Service:
    return _model(client.V1Service.from_dict, yaml.safe_load(manifest))


def _spec(service: client.V1Service) -> client.V1ServiceSpec:
    assert service.spec is not None
    return service.spec


def _ports(service: client.V1Service) -> list[client.V1ServicePort]:
    return list(_spec(service).ports or [])


@pytest.fixture
def core(kube_api: client.ApiClient) -> client.CoreV1Api:
    return client.CoreV1Api(kube_api)


def test_load_balancer_service_gets_a_node_port(core: client.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_service(
        namespace=namespace,
        body=_service(
            """
            metadata: {name: web}
            spec:
              type: LoadBalancer
              selector: {app: web}
              ports: [{name: http, port: 80, targetPort: 8080}]
            """
        ),
    )

    port = _ports(created)[0]
    assert port.node_port is not None
    assert 30000 <= port.node_port <= 32767  # the API server's default node-port range
    assert str(_spec(created).cluster_ip).startswith("10.0.")
    assert _spec(created).allocate_load_balancer_node_ports in (None, True)


def test_no_node_port_when_allocation_is_off(core: client.CoreV1Api, namespace: str) -> None:
    created = core.create_namespaced_service(
        namespace=namespace,
        body=_service(
            """
            metadata: {name: direct}
            spec:
              type: LoadBalancer
              allocateLoadBalancerNodePorts: false
              selector: {app: web}
              ports: [{name: http, port: 80, targetPort: 8080}]
            """
        ),
    )

    assert _spec(created).allocate_load_balancer_node_ports is False
    assert _ports(created)[0].node_port is None


def test_invalid_port_name_is_rejected_with_422(core: client.CoreV1Api, namespace: str) -> None:
    with pytest.raises(client.ApiException) as caught:
        core.create_namespaced_service(
            namespace=namespace,
            body=_service(
                """
                metadata: {name: bad-port-name}
                spec:
                  type: LoadBalancer
                  ports: [{name: 123_abc, port: 80}]
                """
            ),
        )

    assert caught.value.status == 422
    assert "spec.ports[0].name" in str(caught.value.body)


def test_seed_document_cluster_ip_is_accepted(core: client.CoreV1Api, namespace: str) -> None:
    # The LoadBalancer example of the seed (Kubernetes' Service concepts page).
    created = core.create_namespaced_service(
        namespace=namespace,
        body=_service(
            """
            metadata: {name: my-service}
            spec:
              selector: {app.kubernetes.io/name: MyApp}
              ports: [{protocol: TCP, port: 80, targetPort: 9376}]
              clusterIP: 10.0.171.239
              type: LoadBalancer
            """
        ),
    )

    try:
        assert _spec(created).cluster_ip == "10.0.171.239"
        assert _ports(created)[0].node_port is not None
    finally:
        # A fixed ClusterIP is cluster-wide: free it now for other tests of the
        # session rather than when the namespace controller gets round to it.
        core.delete_namespaced_service(name="my-service", namespace=namespace)


@pytest.fixture
def node(core: client.CoreV1Api, namespace: str) -> Iterator[str]:
    """A Node object (no kubelet behind it) named after the test's namespace."""
    name = f"node-{namespace}"[:63]
    core.create_node(body=_model(client.V1Node.from_dict, {"metadata": {"name": name}}))
    yield name
    core.delete_node(name=name)


def test_controller_manager_publishes_endpoint_slices(
    kube_api: client.ApiClient, core: client.CoreV1Api, namespace: str, node: str
) -> None:
    core.create_namespaced_pod(
        namespace=namespace,
        body=_model(
            client.V1Pod.from_dict,
            {
                "metadata": {"name": "web-0", "labels": {"app": "web"}},
                "spec": {
                    "nodeName": node,
                    "containers": [
                        {
                            "name": "web",
                            "image": "registry.k8s.io/pause:3.10",
                            "ports": [{"name": "http", "containerPort": 8080}],
                        }
                    ],
                },
            },
        ),
    )
    # No kubelet runs: report the Pod running and Ready the way a kubelet would.
    core.patch_namespaced_pod_status(
        name="web-0",
        namespace=namespace,
        body={
            "status": {
                "phase": "Running",
                "podIP": "10.244.0.7",
                "podIPs": [{"ip": "10.244.0.7"}],
                "conditions": [{"type": "Ready", "status": "True"}],
            }
        },
    )
    core.create_namespaced_service(
        namespace=namespace,
        body=_service(
            """
            metadata: {name: web}
            spec:
              type: LoadBalancer
              selector: {app: web}
              ports: [{name: web, port: 80, targetPort: http}]
            """
        ),
    )
    discovery = client.DiscoveryV1Api(kube_api)

    def ready_endpoints() -> list[Any] | None:
        slices = discovery.list_namespaced_endpoint_slice(
            namespace=namespace, label_selector="kubernetes.io/service-name=web"
        ).items
        found = [
            (s, e) for s in slices for e in s.endpoints or [] if e.conditions and e.conditions.ready
        ]
        return found or None

    ((endpoint_slice, endpoint),) = _eventually(ready_endpoints, what="a ready endpoint")

    assert endpoint_slice.address_type == "IPv4"
    assert endpoint.addresses == ["10.244.0.7"]
    assert endpoint.node_name == node
    assert endpoint.target_ref.name == "web-0"
    # The named targetPort "http" resolved through the Pod's container port.
    assert [(p.name, p.port, p.protocol) for p in endpoint_slice.ports] == [("web", 8080, "TCP")]
    assert endpoint_slice.metadata.labels["endpointslice.kubernetes.io/managed-by"] == (
        "endpointslice-controller.k8s.io"
    )


def test_service_account_needs_rbac_to_list_services(
    control_plane: ControlPlane,
    kube_api: client.ApiClient,
    core: client.CoreV1Api,
    namespace: str,
    tmp_path: Path,
) -> None:
    core.create_namespaced_service_account(
        namespace=namespace,
        body=_model(client.V1ServiceAccount.from_dict, {"metadata": {"name": "reader"}}),
    )
    token = control_plane.request_token(namespace=namespace, service_account="reader")
    kubeconfig = control_plane.write_kubeconfig_for_token(tmp_path / "reader.kubeconfig", token)

    with config.new_client_from_config(config_file=str(kubeconfig)) as reader_api:
        as_reader = client.CoreV1Api(reader_api)
        with pytest.raises(client.ApiException) as caught:
            as_reader.list_namespaced_service(namespace=namespace)
        assert caught.value.status == 403
        assert f"system:serviceaccount:{namespace}:reader" in str(caught.value.body)

        rbac = client.RbacAuthorizationV1Api(kube_api)
        rbac.create_namespaced_role(
            namespace=namespace,
            body=_model(
                client.V1Role.from_dict,
                {
                    "metadata": {"name": "service-reader"},
                    "rules": [{"apiGroups": [""], "resources": ["services"], "verbs": ["list"]}],
                },
            ),
        )
        rbac.create_namespaced_role_binding(
            namespace=namespace,
            body=_model(
                client.V1RoleBinding.from_dict,
                {
                    "metadata": {"name": "reader-reads-services"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "Role",
                        "name": "service-reader",
                    },
                    "subjects": [
                        {"kind": "ServiceAccount", "name": "reader", "namespace": namespace}
                    ],
                },
            ),
        )

        def listed() -> list[Any] | None:
            # The authorizer reads RBAC from an informer: allow a moment to catch up.
            try:
                return list(as_reader.list_namespaced_service(namespace=namespace).items)
            except client.ApiException as exc:
                if exc.status != 403:
                    raise
                return None

        assert _eventually(listed, timeout=10, what="the RoleBinding to take effect") == []
