"""The service controller against a real API server, with fake providers.

Every LoadBalancer example of the seed document, given our class, gets a load
balancer and its ingress; Services of no class or another class are never
touched; cleanup, node sync, EndpointSlice backends, errors and retries
behave as operators expect from upstream.
"""

from __future__ import annotations

import time
from functools import partial
from typing import Any

import pytest

from lbprovider.cloud import BackendMode, CloudError, EndpointTarget, RetryAfter
from lbprovider.controller.selection import FINALIZER
from lbprovider.kube.events import MAX_DELAY_SECONDS
from lbprovider.testing.harness import ControllerHarness as Harness
from lbprovider.testing.kubehelpers import wait_for

IP_CLASS = "lbprovider.io/fake"
HOSTNAME_CLASS = "example.com/fake-hostname"

pytestmark = pytest.mark.integration


def lb_service(name: str, ports: list[dict[str, Any]], **spec: Any) -> dict[str, Any]:
    """A ``type: LoadBalancer`` Service manifest (our IP class unless told otherwise)."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {"type": "LoadBalancer", "ports": ports, "loadBalancerClass": IP_CLASS},
    }
    body["spec"].update(spec)
    return body


def listeners(harness: Harness, key: str) -> list[tuple[int, str]]:
    lb = harness.fake.find(key)
    assert lb is not None, f"no load balancer for {key}"
    return [(item.port, item.protocol.value) for item in lb.desired.listeners]


# --- the seed's examples ---------------------------------------------------------------


def test_seed_my_service_gets_a_load_balancer_and_ingress(harness: Harness, namespace: str) -> None:
    # The seed's "LoadBalancer type" example (its clusterIP is in our service CIDR).
    manifest = lb_service(
        "my-service",
        [{"protocol": "TCP", "port": 80, "targetPort": 9376}],
        selector={"app.kubernetes.io/name": "MyApp"},
        clusterIP="10.0.171.239",
    )
    harness.create_service(namespace, manifest)
    ingress = harness.wait_ingress(namespace, "my-service")
    key = f"{namespace}/my-service"
    lb = harness.fake.find(key)
    assert lb is not None
    assert ingress == [
        {"ip": lb.address, "ipMode": "VIP", "ports": [{"port": 80, "protocol": "TCP"}]}
    ]
    service = harness.service(namespace, "my-service")
    assert service is not None
    node_port = service["spec"]["ports"][0]["nodePort"]
    assert [(item.port, item.node_port) for item in lb.desired.listeners] == [(80, node_port)]
    assert FINALIZER in service["metadata"]["finalizers"]
    condition = next(c for c in service["status"]["conditions"] if c["type"] == "LoadBalancerReady")
    assert condition["status"] == "True"
    assert lb.lb_id in condition["message"]
    harness.wait_event(namespace, "my-service", "EnsuredLoadBalancer")
    assert "EnsuringLoadBalancer" in harness.reasons(namespace, "my-service")


def test_seed_multi_port_service(harness: Harness, namespace: str) -> None:
    manifest = lb_service(
        "my-service",
        [
            {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 9376},
            {"name": "https", "protocol": "TCP", "port": 443, "targetPort": 9377},
        ],
        selector={"app.kubernetes.io/name": "MyApp"},
    )
    harness.create_service(namespace, manifest)
    ingress = harness.wait_ingress(namespace, "my-service")
    assert ingress[0]["ports"] == [
        {"port": 80, "protocol": "TCP"},
        {"port": 443, "protocol": "TCP"},
    ]
    assert listeners(harness, f"{namespace}/my-service") == [(80, "TCP"), (443, "TCP")]


def test_no_class_or_another_class_is_never_touched(harness: Harness, namespace: str) -> None:
    ports = [{"protocol": "TCP", "port": 80, "targetPort": 9376}]
    no_class = lb_service("no-class", ports)
    del no_class["spec"]["loadBalancerClass"]
    harness.create_service(namespace, no_class)
    harness.create_service(
        namespace, lb_service("other-class", ports, loadBalancerClass="example.com/other")
    )
    # A Service of ours created after them: once it is served, the others were seen too.
    harness.create_service(namespace, lb_service("ours", ports))
    harness.wait_ingress(namespace, "ours")
    time.sleep(1.0)
    for name in ("no-class", "other-class"):
        key = f"{namespace}/{name}"
        assert harness.fake.calls_for(key) == []
        assert harness.fake_hostname.calls_for(key) == []
        service = harness.service(namespace, name)
        assert service is not None
        assert FINALIZER not in (service["metadata"].get("finalizers") or [])
        assert harness.ingress(namespace, name) == []
        assert harness.events(namespace, name) == []


def test_seed_nginx_named_target_port_with_pod_ip_backends(
    harness: Harness, namespace: str
) -> None:
    node = f"node-{namespace}"[:63]
    harness.api.request(
        "POST",
        "/api/v1/nodes",
        body={"metadata": {"name": node}, "spec": {"providerID": f"fake://{node}"}},
    )
    try:
        # The seed's nginx Pod: containerPort 80 named http-web-svc.
        harness.api.request(
            "POST",
            f"/api/v1/namespaces/{namespace}/pods",
            body={
                "metadata": {"name": "nginx", "labels": {"app.kubernetes.io/name": "proxy"}},
                "spec": {
                    "nodeName": node,
                    "containers": [
                        {
                            "name": "nginx",
                            "image": "nginx:stable",
                            "ports": [{"containerPort": 80, "name": "http-web-svc"}],
                        }
                    ],
                },
            },
        )
        set_pod_ready(harness, namespace, "nginx", ip="10.244.1.7", ready=True)
        manifest = lb_service(
            "nginx-service",
            [
                {
                    "name": "name-of-service-port",
                    "protocol": "TCP",
                    "port": 80,
                    "targetPort": "http-web-svc",
                }
            ],
            selector={"app.kubernetes.io/name": "proxy"},
            allocateLoadBalancerNodePorts=False,
        )
        harness.create_service(namespace, manifest)
        key = f"{namespace}/nginx-service"

        def endpoints() -> tuple[EndpointTarget, ...]:
            lb = harness.fake.find(key)
            return lb.desired.listeners[0].endpoints if lb else ()

        wait_for(endpoints, what="Pod IP backends")
        lb = harness.fake.find(key)
        assert lb is not None
        assert lb.desired.backend_mode is BackendMode.POD_IP
        assert lb.desired.nodes == ()
        assert lb.desired.listeners[0].node_port is None
        assert endpoints() == (EndpointTarget(ip="10.244.1.7", port=80),)
        harness.wait_ingress(namespace, "nginx-service")

        # Backends follow readiness, through update_backends only.
        set_pod_ready(harness, namespace, "nginx", ip="10.244.1.7", ready=False)
        wait_for(lambda: endpoints() == (), what="the unready Pod to leave the backends")
        set_pod_ready(harness, namespace, "nginx", ip="10.244.1.7", ready=True)
        wait_for(endpoints, what="the Pod to come back")
        assert harness.fake.calls_for(key, "update_backends")
        assert harness.fake.calls_for(key, "ensure") == ["ensure"]
    finally:
        harness.api.request("DELETE", f"/api/v1/nodes/{node}")


def set_pod_ready(harness: Harness, namespace: str, name: str, *, ip: str, ready: bool) -> None:
    status = "True" if ready else "False"
    harness.api.request(
        "PATCH",
        f"/api/v1/namespaces/{namespace}/pods/{name}/status",
        body={
            "status": {
                "phase": "Running",
                "podIP": ip,
                "podIPs": [{"ip": ip}],
                "conditions": [{"type": "Ready", "status": status}],
            }
        },
        content_type="application/strategic-merge-patch+json",
    )


# --- protocols, policies and settings -----------------------------------------------------


def test_mixed_tcp_and_udp_on_one_port_and_on_different_ports(
    harness: Harness, namespace: str
) -> None:
    harness.create_service(
        namespace,
        lb_service(
            "dns",
            [
                {"name": "dns-tcp", "protocol": "TCP", "port": 53},
                {"name": "dns-udp", "protocol": "UDP", "port": 53},
                {"name": "syslog", "protocol": "UDP", "port": 514},
            ],
        ),
    )
    ingress = harness.wait_ingress(namespace, "dns")
    assert listeners(harness, f"{namespace}/dns") == [(53, "TCP"), (53, "UDP"), (514, "UDP")]
    assert {(p["port"], p["protocol"]) for p in ingress[0]["ports"]} == {
        (53, "TCP"),
        (53, "UDP"),
        (514, "UDP"),
    }


def test_sctp_is_refused_with_event_and_condition(harness: Harness, namespace: str) -> None:
    harness.create_service(
        namespace, lb_service("sctp", [{"name": "s", "protocol": "SCTP", "port": 9000}])
    )
    harness.create_service(
        namespace, lb_service("fine", [{"name": "t", "protocol": "TCP", "port": 80}])
    )

    event = harness.wait_event(namespace, "sctp", "SyncLoadBalancerFailed")
    assert event["type"] == "Warning"
    assert "SCTP is not supported" in event["message"]

    def ready_condition() -> dict[str, Any] | None:
        service = harness.service(namespace, "sctp") or {}
        conditions = (service.get("status") or {}).get("conditions") or []
        return next((c for c in conditions if c["type"] == "LoadBalancerReady"), None)

    condition = wait_for(ready_condition, what="the LoadBalancerReady condition")
    assert (condition["status"], condition["reason"]) == ("False", "InvalidService")
    assert "SCTP is not supported" in condition["message"]
    assert harness.fake.calls_for(f"{namespace}/sctp") == []
    # The controller keeps serving everyone else.
    harness.wait_ingress(namespace, "fine")


def test_external_traffic_policy_local_checks_health_check_node_port(
    harness: Harness, namespace: str
) -> None:
    harness.create_service(
        namespace, lb_service("local", [{"port": 80}], externalTrafficPolicy="Local")
    )
    harness.wait_ingress(namespace, "local")
    service = harness.service(namespace, "local")
    assert service is not None
    lb = harness.fake.find(f"{namespace}/local")
    assert lb is not None and lb.desired.health_check is not None
    assert lb.desired.health_check.port == service["spec"]["healthCheckNodePort"]
    assert lb.desired.health_check.path == "/healthz"


def test_affinity_and_requested_ip_reach_the_provider(harness: Harness, namespace: str) -> None:
    harness.create_service(
        namespace,
        lb_service(
            "sticky",
            [{"port": 80}],
            sessionAffinity="ClientIP",
            sessionAffinityConfig={"clientIP": {"timeoutSeconds": 600}},
            loadBalancerIP="192.0.2.200",
        ),
    )
    ingress = harness.wait_ingress(namespace, "sticky")
    assert ingress[0]["ip"] == "192.0.2.200"
    lb = harness.fake.find(f"{namespace}/sticky")
    assert lb is not None and lb.desired.session_affinity is not None
    assert lb.desired.session_affinity.timeout_seconds == 600


def test_unsupported_requested_ip_is_a_warning_event(harness: Harness, namespace: str) -> None:
    harness.create_service(
        namespace,
        lb_service(
            "named", [{"port": 80}], loadBalancerClass=HOSTNAME_CLASS, loadBalancerIP="192.0.2.9"
        ),
    )
    ingress = harness.wait_ingress(namespace, "named")
    assert ingress[0]["hostname"].endswith(".lb.example.com")
    assert "ip" not in ingress[0]
    event = harness.wait_event(namespace, "named", "UnsupportedConfiguration")
    assert event["type"] == "Warning" and "192.0.2.9" in event["message"]


# --- lifecycle ------------------------------------------------------------------------------


def test_type_change_cleans_up_and_deletion_waits_for_the_cloud(
    harness: Harness, namespace: str
) -> None:
    harness.create_service(namespace, lb_service("web", [{"port": 80}]))
    harness.wait_ingress(namespace, "web")
    key = f"{namespace}/web"
    # LoadBalancer -> ClusterIP (the class must go with the type).
    harness.patch(
        f"/api/v1/namespaces/{namespace}/services/web",
        {
            "spec": {
                "type": "ClusterIP",
                "loadBalancerClass": None,
                "allocateLoadBalancerNodePorts": None,
                "externalTrafficPolicy": None,
                "ports": [{"port": 80, "nodePort": None}],
            }
        },
    )
    wait_for(lambda: harness.fake.find(key) is None, what="the load balancer to be deleted")

    def released() -> bool:
        service = harness.service(namespace, "web") or {}
        return FINALIZER not in (service.get("metadata", {}).get("finalizers") or [])

    wait_for(released, what="the finalizer to be removed")
    assert harness.ingress(namespace, "web") == []
    harness.wait_event(namespace, "web", "DeletedLoadBalancer")

    # Deleting a served Service: the finalizer holds it until the cloud is clean.
    harness.create_service(namespace, lb_service("gone", [{"port": 80}]))
    harness.wait_ingress(namespace, "gone")
    harness.fake.fail_next("delete", CloudError("cloud unreachable"), service=f"{namespace}/gone")
    harness.api.request("DELETE", f"/api/v1/namespaces/{namespace}/services/gone")
    wait_for(lambda: harness.fake.calls_for(f"{namespace}/gone", "delete"), what="a delete call")
    assert harness.service(namespace, "gone") is not None  # held by the finalizer after a failure
    wait_for(lambda: harness.service(namespace, "gone") is None, what="the Service to go")
    assert harness.fake.find(f"{namespace}/gone") is None
    assert harness.fake.calls_for(f"{namespace}/gone", "delete") == ["delete", "delete"]


def test_errors_back_off_and_retry_after_requeues(harness: Harness, namespace: str) -> None:
    harness.fake.fail_next(
        "ensure",
        RetryAfter(0.5, "provisioning"),
        CloudError("throttled"),
        service=f"{namespace}/flaky",
    )
    harness.create_service(namespace, lb_service("flaky", [{"port": 80}]))
    harness.wait_ingress(namespace, "flaky")
    assert harness.fake.calls_for(f"{namespace}/flaky", "ensure") == ["ensure"] * 3
    event = harness.wait_event(namespace, "flaky", "SyncLoadBalancerFailed")
    assert "throttled" in event["message"] and event["type"] == "Warning"


def test_unchanged_service_costs_no_provider_call(harness: Harness, namespace: str) -> None:
    harness.create_service(namespace, lb_service("calm", [{"port": 80}]))
    harness.wait_ingress(namespace, "calm")
    key = f"{namespace}/calm"
    path = f"/api/v1/namespaces/{namespace}/services/calm"
    harness.patch(path, {"metadata": {"labels": {"team": "a"}}})
    time.sleep(1.0)
    assert harness.fake.calls_for(key) == ["ensure"]
    # Annotations carry cloud settings, so a change there is re-ensured.
    harness.patch(path, {"metadata": {"annotations": {"example.com/tier": "gold"}}})
    wait_for(lambda: harness.fake.calls_for(key) == ["ensure", "ensure"], what="a second ensure")
    lb = harness.fake.find(key)
    assert lb is not None and lb.desired.ref.annotation("example.com/tier") == "gold"


def test_node_changes_update_only_changed_backend_sets(harness: Harness, namespace: str) -> None:
    harness.create_service(namespace, lb_service("nodes", [{"port": 80}]))
    harness.create_service(
        namespace, lb_service("pods", [{"port": 81}], allocateLoadBalancerNodePorts=False)
    )
    harness.wait_ingress(namespace, "nodes")
    harness.wait_ingress(namespace, "pods")
    node_key, pod_key = f"{namespace}/nodes", f"{namespace}/pods"
    name = f"n-{namespace}"[:63]

    def node_names() -> list[str]:
        lb = harness.fake.find(node_key)
        return [node.name for node in lb.desired.nodes] if lb else []

    def in_backends(wanted: bool) -> bool:
        return (name in node_names()) == wanted

    harness.api.request(
        "POST",
        "/api/v1/nodes",
        body={"metadata": {"name": name}, "spec": {"providerID": f"fake://{name}"}},
    )
    try:
        wait_for(lambda: name in node_names(), what="the new node in the backends")
        assert harness.fake.calls_for(node_key) == ["ensure", "update_backends"]

        # A readiness flap and an unrelated label: no provider call.
        for ready in ("False", "True"):
            harness.api.request(
                "PATCH",
                f"/api/v1/nodes/{name}/status",
                body={"status": {"conditions": [{"type": "Ready", "status": ready}]}},
                content_type="application/strategic-merge-patch+json",
            )
        harness.patch(f"/api/v1/nodes/{name}", {"metadata": {"labels": {"rack": "r1"}}})
        time.sleep(1.0)
        assert harness.fake.calls_for(node_key) == ["ensure", "update_backends"]

        # The exclude label takes it out; "false" brings it back; an unparsable value excludes.
        label = "node.kubernetes.io/exclude-from-external-load-balancers"
        for value, present in (("true", False), ("false", True), ("maybe", False)):
            harness.patch(f"/api/v1/nodes/{name}", {"metadata": {"labels": {label: value}}})
            wait_for(partial(in_backends, present), what=f"{label}={value}")
        assert harness.fake.calls_for(node_key).count("ensure") == 1
        # Pod-IP Services have no node backends: node changes never reach their provider.
        assert harness.fake.calls_for(pod_key) == ["ensure"]
    finally:
        harness.api.request("DELETE", f"/api/v1/nodes/{name}")


def test_resync_repairs_cloud_drift_quietly(harness: Harness, namespace: str) -> None:
    harness.create_service(namespace, lb_service("drift", [{"port": 80}]))
    harness.wait_ingress(namespace, "drift")
    key = f"{namespace}/drift"
    # Events are written in the background: count them once the ensure's are all in.
    harness.wait_event(namespace, "drift", "EnsuredLoadBalancer")
    events_before = len(harness.events(namespace, "drift"))
    harness.controller.resync()
    wait_for(lambda: harness.fake.calls_for(key) == ["ensure", "ensure"], what="a resync ensure")
    time.sleep(MAX_DELAY_SECONDS + 0.5)  # an Event of that ensure would be written by now
    assert len(harness.events(namespace, "drift")) == events_before  # nothing changed: no Event

    # Someone deletes the load balancer in the cloud console; the next resync rebuilds it.
    lost = harness.fake.find(key)
    assert lost is not None
    harness.fake.delete(lost.desired.ref)
    harness.controller.resync()
    wait_for(lambda: harness.fake.find(key) is not None, what="the load balancer to come back")
    rebuilt = harness.fake.find(key)
    assert rebuilt is not None
    wait_for(
        lambda: harness.ingress(namespace, "drift")[0]["ip"] == rebuilt.address,
        what="the status to show the rebuilt load balancer",
    )


def test_no_available_nodes_is_a_warning_event(harness: Harness, namespace: str) -> None:
    # Precondition: the session's tests leave no Node behind.
    assert harness.api.request("GET", "/api/v1/nodes")["items"] == []
    harness.create_service(namespace, lb_service("lonely", [{"port": 80}]))
    harness.wait_ingress(namespace, "lonely")
    event = harness.wait_event(namespace, "lonely", "UnAvailableLoadBalancer")
    assert event["type"] == "Warning"
    assert event["message"] == "There are no available nodes for LoadBalancer"


def test_finalizer_removed_by_hand_still_cleans_the_cloud(harness: Harness, namespace: str) -> None:
    harness.create_service(namespace, lb_service("forced", [{"port": 80}]))
    harness.wait_ingress(namespace, "forced")
    key = f"{namespace}/forced"
    harness.fake.fail_next("delete", *[CloudError("cloud unreachable")] * 3, service=key)
    harness.api.request("DELETE", f"/api/v1/namespaces/{namespace}/services/forced")
    wait_for(lambda: harness.fake.calls_for(key, "delete"), what="the first (failing) delete")
    # An impatient operator strips the finalizer while the cloud is still failing.
    harness.patch(
        f"/api/v1/namespaces/{namespace}/services/forced", {"metadata": {"finalizers": None}}
    )
    wait_for(lambda: harness.service(namespace, "forced") is None, what="the Service to go")
    wait_for(lambda: harness.fake.find(key) is None, what="the load balancer to be cleaned anyway")
    assert harness.fake.calls_for(key, "delete") == ["delete"] * 4
