"""The Tencent provider against the mock CLB (signatures checked, tasks asynchronous).

What every provider promises (zero writes when unchanged, adoption after a
restart, idempotent delete, foreign nodes ignored, throttling bounded, TCP+UDP
on one port, Pod-IP backends, a reused CLB never deleted) is the contract
suite's (``tests/providers/test_contract.py``); here is what only CLB has.
"""

from __future__ import annotations

import logging
import socket
import threading
from typing import Any

import pytest

from lbprovider.cloud import (
    CloudError,
    EndpointTarget,
    HealthCheck,
    Ingress,
    InvalidService,
    PortStatus,
    Protocol,
    RetryAfter,
    SessionAffinity,
)
from lbprovider.cloud.tags import CLUSTER_TAG, SERVICE_NAME_TAG, SERVICE_UID_TAG
from lbprovider_tencent.api import ERROR_CODES
from lbprovider_tencent.mock import ClbBackend, TencentMockCloud, serve

pytestmark = pytest.mark.providers

SUBNET_ANN = "service.kubernetes.io/qcloud-loadbalancer-internal-subnetid"
EXISTED_ANN = "service.kubernetes.io/tke-existed-lbid"
TCP, UDP = Protocol.TCP, Protocol.UDP


def _targets(listener: dict[str, Any]) -> set[tuple[str, int]]:
    return {(t["instance_id"] or t["eni_ip"], t["port"]) for t in listener["targets"]}


def test_open_lb_with_node_targets_and_status(tc: Any, cloud: Any, provider: Any) -> None:
    service = tc.ref()
    status = tc.converge(lambda: provider.ensure(tc.desired(cloud, service)))
    (lb,) = tc.lb_state(cloud)
    assert lb["type"] == "OPEN"
    assert lb["tags"] == {
        CLUSTER_TAG: tc.CLUSTER,
        SERVICE_UID_TAG: "uid-1",
        SERVICE_NAME_TAG: "default/web",
    }
    (listener,) = lb["listeners"]
    assert (listener["port"], listener["protocol"]) == (80, "TCP")
    instance_ids = {i.provider_id.rsplit("/", 1)[-1] for i in cloud.instances}
    assert _targets(listener) == {(iid, 30080) for iid in instance_ids}
    assert status.lb_id == lb["id"]
    assert status.ingress == (
        Ingress(ip=lb["vips"][0], ip_mode="VIP", ports=(PortStatus(port=80, protocol=TCP),)),
    )
    assert status.warnings == ()
    assert provider.get(service) == status
    assert provider.ensure(tc.desired(cloud, service)) == status


def test_wrong_key_surfaces_signature_failure_as_cloud_error(
    tc: Any, cloud: Any, tmp_path: Any
) -> None:
    secret_id, _ = tc.secrets(cloud)
    bad = tmp_path / "creds.yaml"
    bad.write_text(f"secret_id: {secret_id}\nsecret_key: wrong-key\n")
    provider = tc.make_provider(cloud, credentials_file=str(bad))
    with pytest.raises(CloudError) as caught:
        provider.ensure(tc.desired(cloud, tc.ref()))
    assert "AuthFailure.SignatureFailure" in str(caught.value)
    assert "wrong-key" not in str(caught.value)
    assert not isinstance(caught.value, RetryAfter)
    assert cloud.resources()["load_balancers"] == 0


def test_internal_lb_from_subnet_annotation_with_requested_vip(
    tc: Any, cloud: Any, provider: Any
) -> None:
    subnet = cloud.backend.subnet_id
    service = tc.ref(**{SUBNET_ANN: subnet})
    status = tc.converge(
        lambda: provider.ensure(tc.desired(cloud, service, requested_ip="10.0.1.77"))
    )
    (lb,) = tc.lb_state(cloud)
    assert (lb["type"], lb["subnet_id"], lb["vips"]) == ("INTERNAL", subnet, ["10.0.1.77"])
    assert status.ingress[0].ip == "10.0.1.77"
    assert status.warnings == ()


def test_requested_ip_on_open_lb_is_a_warning(tc: Any, cloud: Any, provider: Any) -> None:
    status = tc.converge(
        lambda: provider.ensure(tc.desired(cloud, tc.ref(), requested_ip="1.2.3.4"))
    )
    assert status.ingress[0].ip != "1.2.3.4"
    assert any("loadBalancerIP" in warning for warning in status.warnings)


@pytest.mark.parametrize(
    "annotations",
    [{SUBNET_ANN: "vsw-123"}, {SUBNET_ANN: "subnet_12"}, {EXISTED_ANN: "clb-123"}],
)
def test_malformed_annotations_are_invalid_service(
    tc: Any, cloud: Any, provider: Any, annotations: dict[str, str]
) -> None:
    with pytest.raises(InvalidService):
        provider.ensure(tc.desired(cloud, tc.ref(**annotations)))
    assert cloud.admin.counters().writes == 0


def test_tcp_and_udp_on_one_port_are_two_listeners_with_their_own_node_ports(
    tc: Any, cloud: Any, provider: Any
) -> None:
    service = tc.ref()
    want = tc.desired(cloud, service, ((53, TCP, 30053), (53, UDP, 30054)))
    status = tc.converge(lambda: provider.ensure(want))
    (lb,) = tc.lb_state(cloud)
    got = sorted((item["port"], item["protocol"], _targets(item)) for item in lb["listeners"])
    ids = {i.provider_id.rsplit("/", 1)[-1] for i in cloud.instances}
    assert got == [
        (53, "TCP", {(iid, 30053) for iid in ids}),
        (53, "UDP", {(iid, 30054) for iid in ids}),
    ]
    assert status.ingress[0].ports == (
        PortStatus(port=53, protocol=TCP),
        PortStatus(port=53, protocol=UDP),
    )


def test_pod_ips_are_eni_targets_and_only_the_difference_is_written(
    tc: Any, cloud: Any, provider: Any
) -> None:
    service = tc.ref()
    eps = (EndpointTarget(ip="10.2.0.5", port=8080), EndpointTarget(ip="10.2.0.6", port=8080))
    tc.converge(lambda: provider.ensure(tc.pod_desired(service, {(80, TCP): eps})))
    (listener,) = tc.lb_state(cloud)[0]["listeners"]
    assert _targets(listener) == {("10.2.0.5", 8080), ("10.2.0.6", 8080)}
    assert all(t["instance_id"] == "" for t in listener["targets"])
    # An endpoint goes away, another comes: only the difference is written.
    cloud.admin.reset()
    eps2 = (EndpointTarget(ip="10.2.0.6", port=8080), EndpointTarget(ip="10.2.0.7", port=8080))
    tc.converge(lambda: provider.ensure(tc.pod_desired(service, {(80, TCP): eps2})))
    (listener,) = tc.lb_state(cloud)[0]["listeners"]
    assert _targets(listener) == {("10.2.0.6", 8080), ("10.2.0.7", 8080)}
    assert tc.writes(cloud) == {"BatchRegisterTargets": 1, "BatchDeregisterTargets": 1}


def test_eni_ip_outside_the_vpc_is_a_cloud_error(tc: Any, cloud: Any, provider: Any) -> None:
    eps = (EndpointTarget(ip="192.168.9.9", port=8080),)
    with pytest.raises(CloudError) as caught:
        tc.converge(lambda: provider.ensure(tc.pod_desired(tc.ref(), {(80, TCP): eps})))
    assert "InvalidParameter" in str(caught.value)


def test_session_affinity_sets_session_expire_time(tc: Any, cloud: Any, provider: Any) -> None:
    service = tc.ref()
    status = tc.converge(
        lambda: provider.ensure(
            tc.desired(cloud, service, session_affinity=SessionAffinity(timeout_seconds=600))
        )
    )
    assert tc.lb_state(cloud)[0]["listeners"][0]["session_expire_time"] == 600
    assert status.warnings == ()
    # The Kubernetes default (10800 s) is above CLB's maximum: clamped, with a warning.
    status = tc.converge(
        lambda: provider.ensure(tc.desired(cloud, service, session_affinity=SessionAffinity()))
    )
    assert tc.lb_state(cloud)[0]["listeners"][0]["session_expire_time"] == 3600
    assert any("3600" in warning for warning in status.warnings)
    tc.converge(lambda: provider.ensure(tc.desired(cloud, service)))
    assert tc.lb_state(cloud)[0]["listeners"][0]["session_expire_time"] == 0


def test_local_traffic_policy_health_check(tc: Any, cloud: Any, provider: Any) -> None:
    tc.converge(
        lambda: provider.ensure(tc.desired(cloud, tc.ref(), health_check=HealthCheck(port=32456)))
    )
    check = tc.lb_state(cloud)[0]["listeners"][0]["health_check"]
    assert (check["CheckType"], check["CheckPort"], check["HttpCheckPath"]) == (
        "HTTP",
        32456,
        "/healthz",
    )


def test_port_and_node_changes_are_diffed(tc: Any, cloud: Any, provider: Any) -> None:
    service = tc.ref()
    tc.converge(lambda: provider.ensure(tc.desired(cloud, service, ((80, TCP, 30080),))))
    nodes = tc.node_targets(cloud)
    cloud.admin.reset()
    tc.converge(
        lambda: provider.update_backends(
            tc.desired(cloud, service, ((80, TCP, 30080),), nodes=nodes[:2])
        )
    )
    (listener,) = tc.lb_state(cloud)[0]["listeners"]
    assert {iid for iid, _ in _targets(listener)} == {
        n.provider_id.rsplit("/", 1)[-1] for n in nodes[:2]
    }
    assert tc.writes(cloud) == {"BatchDeregisterTargets": 1}
    tc.converge(
        lambda: provider.ensure(tc.desired(cloud, service, ((8080, TCP, 30090),), nodes=nodes[:2]))
    )
    (listener,) = tc.lb_state(cloud)[0]["listeners"]
    assert listener["port"] == 8080
    assert {port for _, port in _targets(listener)} == {30090}


def test_async_tasks_raise_retry_after_then_converge(tc: Any, cloud: Any) -> None:
    provider = tc.make_provider(cloud, task_wait_seconds=0.05)
    service = tc.ref()
    want = tc.desired(cloud, service)
    tc.tasks(cloud, hold=True)
    with pytest.raises(RetryAfter) as caught:
        provider.ensure(want)
    assert caught.value.seconds == 0.05
    # The next call reads the CLB still being created: RetryAfter again, no second CLB.
    with pytest.raises(RetryAfter):
        provider.ensure(want)
    assert cloud.resources()["load_balancers"] == 1
    tc.tasks(cloud, hold=False)
    status = tc.converge(lambda: provider.ensure(want))
    assert cloud.resources() == {"load_balancers": 1, "listeners": 1, "targets": 3}
    assert status.ingress[0].ip


def test_resource_in_operating_is_retry_after(tc: Any, cloud: Any, provider: Any) -> None:
    service = tc.ref()
    tc.converge(lambda: provider.ensure(tc.desired(cloud, service)))
    lb_id = tc.lb_state(cloud)[0]["id"]
    # Someone else's task holds the CLB (e.g. a console change).
    tc.tasks(cloud, hold=True)
    cloud.backend.modify_load_balancer_attributes(lb_id, name="renamed")
    cloud.admin.reset()
    with pytest.raises(RetryAfter) as caught:
        provider.ensure(tc.desired(cloud, service, ((81, TCP, 30081),)))
    # Retried a bounded number of times inside the call, then a wait (not a failure).
    assert caught.value.seconds == 0.05
    assert cloud.admin.counters().actions["DeleteListener"] == 4
    tc.tasks(cloud, hold=False)
    tc.converge(lambda: provider.ensure(tc.desired(cloud, service, ((81, TCP, 30081),))))
    assert [item["port"] for item in tc.lb_state(cloud)[0]["listeners"]] == [81]


def test_failed_task_is_a_cloud_error_and_the_next_call_repairs(
    tc: Any, cloud: Any, provider: Any
) -> None:
    service = tc.ref()
    tc.converge(lambda: provider.ensure(tc.desired(cloud, service)))
    tc.tasks(cloud, fail_next=1)
    want = tc.desired(cloud, service, ((80, TCP, 30080), (90, UDP, 30090)))
    with pytest.raises(CloudError) as caught:
        tc.converge(lambda: provider.ensure(want))
    assert "failed" in str(caught.value)
    tc.converge(lambda: provider.ensure(want))
    assert sorted(item["port"] for item in tc.lb_state(cloud)[0]["listeners"]) == [80, 90]


def test_same_name_with_a_new_uid_gets_its_own_clb(tc: Any, cloud: Any) -> None:
    """Ownership is the Service UID, not its name: a recreated Service gets a new CLB."""
    first = tc.converge(lambda: tc.make_provider(cloud).ensure(tc.desired(cloud, tc.ref())))
    restarted = tc.make_provider(cloud)
    other = tc.converge(lambda: restarted.ensure(tc.desired(cloud, tc.ref(uid="uid-2"))))
    assert other.lb_id != first.lb_id
    assert cloud.resources()["load_balancers"] == 2


def test_reused_lb_keeps_foreign_listeners_and_is_never_deleted(
    tc: Any, cloud: Any, provider: Any
) -> None:
    lb_id = cloud.backend.seed_load_balancer(name="users-clb")
    cloud.backend.seed_listener(lb_id, port=22, protocol="TCP", name="ssh-by-hand")
    service = tc.ref(**{EXISTED_ANN: lb_id})
    status = tc.converge(lambda: provider.ensure(tc.desired(cloud, service)))
    assert status.lb_id == lb_id
    assert cloud.resources()["load_balancers"] == 1
    (lb,) = tc.lb_state(cloud)
    assert sorted(item["port"] for item in lb["listeners"]) == [22, 80]
    assert lb["tags"] == {}  # a reused CLB is not tagged as ours
    tc.converge(lambda: provider.delete(service))
    (lb,) = tc.lb_state(cloud)
    assert [item["name"] for item in lb["listeners"]] == ["ssh-by-hand"]
    tc.converge(lambda: provider.delete(service))  # idempotent
    assert cloud.resources()["load_balancers"] == 1


def test_reused_lb_port_taken_by_a_foreign_listener(tc: Any, cloud: Any, provider: Any) -> None:
    lb_id = cloud.backend.seed_load_balancer()
    cloud.backend.seed_listener(lb_id, port=80, protocol="TCP", name="by-hand")
    with pytest.raises(InvalidService):
        provider.ensure(tc.desired(cloud, tc.ref(**{EXISTED_ANN: lb_id})))
    assert cloud.admin.counters().writes == 0


def test_reuse_of_missing_or_foreign_lb_is_refused(tc: Any, cloud: Any, provider: Any) -> None:
    with pytest.raises(InvalidService):
        provider.ensure(tc.desired(cloud, tc.ref(**{EXISTED_ANN: "lb-doesnotx"})))
    owner = tc.converge(lambda: provider.ensure(tc.desired(cloud, tc.ref(uid="owner"))))
    with pytest.raises(InvalidService):
        provider.ensure(tc.desired(cloud, tc.ref(uid="intruder", **{EXISTED_ANN: owner.lb_id})))
    tc.converge(lambda: provider.delete(tc.ref(uid="intruder", **{EXISTED_ANN: owner.lb_id})))
    assert cloud.resources()["load_balancers"] == 1


@pytest.mark.parametrize("code", sorted(ERROR_CODES.throttling))
def test_every_tencent_throttling_code_is_retried_then_retry_after(
    tc: Any, cloud: Any, code: str
) -> None:
    provider = tc.make_provider(cloud)
    cloud.admin.inject_fault(code, count=2)
    tc.converge(lambda: provider.ensure(tc.desired(cloud, tc.ref())))
    assert cloud.resources()["load_balancers"] == 1
    assert cloud.admin.counters().actions["DescribeLoadBalancers"] >= 3
    cloud.admin.inject_fault(code, count=None)
    with pytest.raises(RetryAfter):
        provider.ensure(tc.desired(cloud, tc.ref()))


def test_persistent_internal_error_gives_up_with_cloud_error(tc: Any, cloud: Any) -> None:
    provider = tc.make_provider(cloud, max_attempts=2)
    cloud.admin.inject_fault("InternalError", count=5)
    with pytest.raises(CloudError) as caught:
        provider.ensure(tc.desired(cloud, tc.ref()))
    assert "InternalError" in str(caught.value)
    assert not isinstance(caught.value, RetryAfter)
    assert cloud.admin.counters().actions["DescribeLoadBalancers"] == 2


def test_delete_while_a_task_runs_is_retry_after(tc: Any, cloud: Any) -> None:
    provider = tc.make_provider(cloud, task_wait_seconds=0.05)
    service = tc.ref()
    tc.converge(lambda: provider.ensure(tc.desired(cloud, service)))
    tc.tasks(cloud, hold=True)
    with pytest.raises(RetryAfter):
        provider.delete(service)
    with pytest.raises(RetryAfter):
        provider.delete(service)  # the CLB is in operation: ResourceInOperating
    tc.tasks(cloud, hold=False)
    tc.converge(lambda: provider.delete(service))
    assert cloud.resources()["load_balancers"] == 0


def test_network_errors_are_retried_until_the_api_answers(
    tc: Any, cloud: Any, caplog: pytest.LogCaptureFixture
) -> None:
    """The first attempt meets a closed port; the API comes up while the kit's caller waits."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    backend = ClbBackend(credentials=dict([tc.secrets(cloud)]), instances=3, task_delay=0.0)
    late_mocks: list[TencentMockCloud] = []
    late = threading.Timer(0.1, lambda: late_mocks.append(serve(backend, port=port)))
    provider = tc.make_provider(cloud, endpoint=f"127.0.0.1:{port}", max_attempts=5)
    late.start()
    caplog.set_level(logging.INFO, logger="lbprovider.providerkit.calls")
    try:
        status = tc.converge(lambda: provider.ensure(tc.desired(cloud, tc.ref())))
    finally:
        late.join()
        for mock in late_mocks:
            mock.stop()
    assert status.lb_id in {lb.lb_id for lb in backend.load_balancers.values()}
    retries = [r for r in caplog.records if r.message == "retrying cloud api call"]
    assert any(getattr(r, "provider", None) == "tencent" for r in retries)


def test_unknown_subnet_or_taken_vip_is_invalid_service(tc: Any, cloud: Any, provider: Any) -> None:
    with pytest.raises(InvalidService, match="SubnetId"):
        provider.ensure(tc.desired(cloud, tc.ref(**{SUBNET_ANN: "subnet-nothere1"})))
    subnet = {SUBNET_ANN: cloud.backend.subnet_id}
    tc.converge(
        lambda: provider.ensure(tc.desired(cloud, tc.ref(**subnet), requested_ip="10.0.1.60"))
    )
    with pytest.raises(InvalidService, match="in use"):
        provider.ensure(tc.desired(cloud, tc.ref(uid="uid-2", **subnet), requested_ip="10.0.1.60"))
    assert cloud.resources()["load_balancers"] == 1
