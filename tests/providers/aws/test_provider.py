"""The AWS provider against moto in server mode, driven by real boto3 over HTTP.

Every assertion reads the cloud back through boto3 straight to moto, or what
reached the mock through its admin routes (counters, request journal), never
the provider's internals.  What every provider promises (zero writes when
unchanged, adoption after a restart, idempotent delete, throttling bounded,
Pod-IP backends...) is checked by the contract suite; these are AWS's own.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lbprovider.cloud import (
    BackendMode,
    CloudError,
    DesiredLoadBalancer,
    EndpointTarget,
    HealthCheck,
    InvalidService,
    Listener,
    LoadBalancerStatus,
    NodeTarget,
    PortStatus,
    Protocol,
    RetryAfter,
    ServiceRef,
    SessionAffinity,
)
from lbprovider_aws.mock import AwsMockCloud
from lbprovider_aws.provider import AwsProvider

pytestmark = pytest.mark.providers

SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"
INTERNAL_LEGACY = "service.beta.kubernetes.io/aws-load-balancer-internal"
SUBNETS = "service.beta.kubernetes.io/aws-load-balancer-subnets"


def service(
    name: str = "web",
    *,
    namespace: str = "default",
    uid: str = "uid-1",
    annotations: dict[str, str] | None = None,
    cluster: str = "test-cluster",
) -> ServiceRef:
    return ServiceRef(
        cluster=cluster, namespace=namespace, name=name, uid=uid, annotations=annotations or {}
    )


def tcp(port: int, node_port: int | None = None, **kwargs: Any) -> Listener:
    return Listener(
        name=f"tcp-{port}", port=port, protocol=Protocol.TCP, node_port=node_port, **kwargs
    )


def udp(port: int, node_port: int | None = None, **kwargs: Any) -> Listener:
    return Listener(
        name=f"udp-{port}", port=port, protocol=Protocol.UDP, node_port=node_port, **kwargs
    )


def desired(
    ref: ServiceRef, *listeners: Listener, nodes: tuple[NodeTarget, ...] = (), **kwargs: Any
) -> DesiredLoadBalancer:
    ordered = tuple(sorted(listeners, key=lambda item: (item.port, item.protocol)))
    return DesiredLoadBalancer(ref=ref, listeners=ordered, nodes=nodes, **kwargs)


def instance_ids(nodes: tuple[NodeTarget, ...]) -> set[str]:
    return {n.provider_id.rsplit("/", 1)[-1] for n in nodes if n.provider_id.startswith("aws://")}


def own_group(read: Reader, lb_arn: str) -> str:
    """The NLB's own security group (tagged with the Service), beside the shared backend one."""
    groups = read.lb(lb_arn)["SecurityGroups"]
    (own,) = [
        group_id
        for group_id in groups
        if "lbprovider.io/service-uid" in {t["Key"] for t in read.security_group(group_id)["Tags"]}
    ]
    assert len(groups) == 2, groups
    return str(own)


class Reader:
    """Reads the cloud back through plain boto3 clients."""

    def __init__(self, cloud: AwsMockCloud) -> None:
        self.elbv2 = cloud.client("elbv2")
        self.ec2 = cloud.client("ec2")

    def lb(self, arn: str) -> dict[str, Any]:
        found: dict[str, Any] = self.elbv2.describe_load_balancers(LoadBalancerArns=[arn])[
            "LoadBalancers"
        ][0]
        return found

    def lb_arns(self) -> set[str]:
        return {
            lb["LoadBalancerArn"] for lb in self.elbv2.describe_load_balancers()["LoadBalancers"]
        }

    def tags(self, arn: str) -> dict[str, str]:
        found = self.elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
        return {t["Key"]: t["Value"] for t in found}

    def listeners(self, lb_arn: str) -> dict[int, tuple[str, str]]:
        found = self.elbv2.describe_listeners(LoadBalancerArn=lb_arn)["Listeners"]
        return {
            int(item["Port"]): (item["Protocol"], item["DefaultActions"][0]["TargetGroupArn"])
            for item in found
        }

    def target_group(self, arn: str) -> dict[str, Any]:
        found: dict[str, Any] = self.elbv2.describe_target_groups(TargetGroupArns=[arn])[
            "TargetGroups"
        ][0]
        return found

    def target_group_arns(self) -> set[str]:
        return {tg["TargetGroupArn"] for tg in self.elbv2.describe_target_groups()["TargetGroups"]}

    def targets(self, tg_arn: str) -> set[tuple[str, int]]:
        found = self.elbv2.describe_target_health(TargetGroupArn=tg_arn)["TargetHealthDescriptions"]
        return {(item["Target"]["Id"], int(item["Target"]["Port"])) for item in found}

    def attributes(self, tg_arn: str) -> dict[str, str]:
        found = self.elbv2.describe_target_group_attributes(TargetGroupArn=tg_arn)["Attributes"]
        return {item["Key"]: str(item["Value"]) for item in found}

    def security_group(self, group_id: str) -> dict[str, Any]:
        found: dict[str, Any] = self.ec2.describe_security_groups(GroupIds=[group_id])[
            "SecurityGroups"
        ][0]
        return found

    def rules(self, group_id: str) -> set[tuple[str, int, str]]:
        rules = set()
        for perm in self.security_group(group_id)["IpPermissions"]:
            for item in perm.get("IpRanges", []):
                rules.add((perm["IpProtocol"], int(perm["FromPort"]), item["CidrIp"]))
        return rules


@pytest.fixture
def read(cloud: AwsMockCloud) -> Reader:
    return Reader(cloud)


def hostname(status: LoadBalancerStatus) -> str:
    assert len(status.ingress) == 1
    ingress = status.ingress[0]
    assert ingress.ip is None
    assert ingress.ip_mode is None
    assert ingress.hostname
    return ingress.hostname


def test_create_builds_an_nlb_with_listeners_targets_and_tags(
    provider: AwsProvider, read: Reader, nodes: tuple[NodeTarget, ...]
) -> None:
    ref = service()
    status = provider.ensure(desired(ref, tcp(80, 30080), tcp(443, 30443), nodes=nodes))

    lb = read.lb(status.lb_id)
    assert lb["Type"] == "network"
    assert lb["Scheme"] == "internet-facing"
    assert hostname(status) == lb["DNSName"]
    assert status.ingress[0].ports == (
        PortStatus(port=80, protocol=Protocol.TCP),
        PortStatus(port=443, protocol=Protocol.TCP),
    )
    assert status.warnings == ()
    assert len(lb["LoadBalancerName"]) <= 32
    tags = read.tags(status.lb_id)
    assert tags["lbprovider.io/cluster"] == "test-cluster"
    assert tags["lbprovider.io/service-uid"] == "uid-1"
    assert tags["kubernetes.io/service-name"] == "default/web"
    assert tags["kubernetes.io/cluster/test-cluster"] == "owned"

    listeners = read.listeners(status.lb_id)
    assert {port: proto for port, (proto, _) in listeners.items()} == {80: "TCP", 443: "TCP"}
    ids = instance_ids(nodes)
    assert len(ids) == 3  # the node of another cloud is not a target
    for port, node_port in ((80, 30080), (443, 30443)):
        group = read.target_group(listeners[port][1])
        assert group["TargetType"] == "instance"
        # externalTrafficPolicy Cluster: kube-proxy's node health, 2xx only.
        assert group["HealthCheckProtocol"] == "HTTP"
        assert (group["HealthCheckPort"], group["HealthCheckPath"]) == ("10256", "/healthz")
        assert group["Matcher"] == {"HttpCode": "200-299"}
        assert read.tags(group["TargetGroupArn"])["lbprovider.io/service-uid"] == "uid-1"
        assert read.targets(group["TargetGroupArn"]) == {(i, node_port) for i in ids}

    group_id = own_group(read, status.lb_id)
    assert read.rules(group_id) == {("tcp", 80, "0.0.0.0/0"), ("tcp", 443, "0.0.0.0/0")}

    found = provider.get(ref)
    assert found is not None
    assert found.lb_id == status.lb_id
    assert hostname(found) == lb["DNSName"]
    assert found.ingress[0].ports == status.ingress[0].ports


def test_update_adds_and_removes_ports_and_nodes_in_place(
    provider: AwsProvider, read: Reader, nodes: tuple[NodeTarget, ...]
) -> None:
    ref = service()
    first = provider.ensure(desired(ref, tcp(80, 30080), nodes=nodes))
    old_group = read.listeners(first.lb_id)[80][1]

    second = provider.ensure(desired(ref, tcp(443, 30443), tcp(8443, 30843), nodes=nodes[:1]))

    assert second.lb_id == first.lb_id  # updated, not replaced
    listeners = read.listeners(first.lb_id)
    assert set(listeners) == {443, 8443}
    assert old_group not in read.target_group_arns()  # the removed port's group is gone
    (only,) = instance_ids(nodes[:1])
    assert read.targets(listeners[443][1]) == {(only, 30443)}
    assert read.targets(listeners[8443][1]) == {(only, 30843)}
    group_id = read.lb(first.lb_id)["SecurityGroups"][0]
    assert read.rules(group_id) == {("tcp", 443, "0.0.0.0/0"), ("tcp", 8443, "0.0.0.0/0")}
    assert [p.port for p in second.ingress[0].ports] == [443, 8443]


def test_update_backends_only_touches_registrations(
    provider: AwsProvider, read: Reader, nodes: tuple[NodeTarget, ...], requests_log: Any
) -> None:
    ref = service()
    status = provider.ensure(desired(ref, tcp(80, 30080), nodes=nodes[:1]))
    requests_log.clear()

    provider.update_backends(desired(ref, tcp(80, 30080), nodes=nodes[1:]))

    assert set(requests_log.writes()) == {"RegisterTargets", "DeregisterTargets"}
    group = read.listeners(status.lb_id)[80][1]
    assert read.targets(group) == {(i, 30080) for i in instance_ids(nodes[1:])}


def test_tcp_and_udp_on_one_port_become_one_tcp_udp_listener(
    provider: AwsProvider, read: Reader, nodes: tuple[NodeTarget, ...]
) -> None:
    ref = service("dns")
    status = provider.ensure(desired(ref, tcp(53, 30053), udp(53, 30053), nodes=nodes))

    listeners = read.listeners(status.lb_id)
    assert list(listeners) == [53]
    protocol, group_arn = listeners[53]
    assert protocol == "TCP_UDP"
    assert read.target_group(group_arn)["Protocol"] == "TCP_UDP"
    assert read.targets(group_arn) == {(i, 30053) for i in instance_ids(nodes)}
    assert status.ingress[0].ports == (
        PortStatus(port=53, protocol=Protocol.TCP),
        PortStatus(port=53, protocol=Protocol.UDP),
    )
    group_id = read.lb(status.lb_id)["SecurityGroups"][0]
    assert read.rules(group_id) == {("tcp", 53, "0.0.0.0/0"), ("udp", 53, "0.0.0.0/0")}


def test_tcp_and_udp_with_different_node_ports_is_invalid_and_creates_nothing(
    provider: AwsProvider, nodes: tuple[NodeTarget, ...], requests_log: Any, cloud: AwsMockCloud
) -> None:
    with pytest.raises(InvalidService, match="same nodePort"):
        provider.ensure(desired(service(), tcp(53, 30053), udp(53, 30054), nodes=nodes))
    assert requests_log.writes() == []
    assert cloud.resources() == {
        "load_balancers": 0,
        "target_groups": 0,
        "security_groups": 0,
        "node_sg_rules": 0,
    }


def test_pod_ip_mode_checks_the_traffic_port_not_a_node_port(
    provider: AwsProvider, read: Reader
) -> None:
    endpoints = (EndpointTarget(ip="10.0.1.10", port=8080),)
    status = provider.ensure(
        desired(
            service(),
            tcp(80, endpoints=endpoints),
            backend_mode=BackendMode.POD_IP,
            health_check=HealthCheck(port=32000),
        )
    )
    group = read.target_group(read.listeners(status.lb_id)[80][1])
    assert group["TargetType"] == "ip"
    assert (group["HealthCheckProtocol"], group["HealthCheckPort"]) == ("TCP", "traffic-port")


def test_targets_are_registered_in_batches(
    provider: AwsProvider, read: Reader, requests_log: Any
) -> None:
    endpoints = tuple(
        EndpointTarget(ip=f"10.0.{1 + i // 200}.{10 + i % 200}", port=8080) for i in range(150)
    )
    status = provider.ensure(
        desired(service(), tcp(80, endpoints=endpoints), backend_mode=BackendMode.POD_IP)
    )
    assert len(requests_log.of("RegisterTargets")) == 2
    group = read.listeners(status.lb_id)[80][1]
    assert read.targets(group) == {(ep.ip, ep.port) for ep in endpoints}

    requests_log.clear()
    provider.update_backends(
        desired(service(), tcp(80, endpoints=endpoints[:20]), backend_mode=BackendMode.POD_IP)
    )
    assert requests_log.writes() == ["DeregisterTargets", "DeregisterTargets"]
    assert read.targets(group) == {(ep.ip, ep.port) for ep in endpoints[:20]}


def test_same_ip_on_two_ports_is_registered_as_two_targets(
    provider: AwsProvider, requests_log: Any
) -> None:
    # moto keys IP targets by Id only, so read-back cannot show this: check what was sent.
    endpoints = (
        EndpointTarget(ip="10.0.1.10", port=8080),
        EndpointTarget(ip="10.0.1.10", port=8081),
    )
    provider.ensure(
        desired(service(), tcp(80, endpoints=endpoints), backend_mode=BackendMode.POD_IP)
    )

    (register,) = requests_log.of("RegisterTargets")
    sent = set()
    for index in (1, 2, 3):
        target_id = register.get(f"Targets.member.{index}.Id")
        if target_id:
            sent.add((target_id[0], int(register[f"Targets.member.{index}.Port"][0])))
    assert sent == {("10.0.1.10", 8080), ("10.0.1.10", 8081)}


@pytest.mark.parametrize(
    "annotations",
    [{SCHEME: "internal"}, {INTERNAL_LEGACY: "true"}],
    ids=["scheme", "legacy-internal"],
)
def test_internal_through_either_annotation(
    provider: AwsProvider, read: Reader, nodes: tuple[NodeTarget, ...], annotations: dict[str, str]
) -> None:
    status = provider.ensure(desired(service(annotations=annotations), tcp(80, 30080), nodes=nodes))
    assert read.lb(status.lb_id)["Scheme"] == "internal"


@pytest.mark.parametrize(
    ("annotations", "named"),
    [
        ({SCHEME: "private"}, SCHEME),
        ({INTERNAL_LEGACY: "maybe"}, INTERNAL_LEGACY),
        ({SCHEME: "internet-facing", INTERNAL_LEGACY: "true"}, "disagree"),
        ({SUBNETS: "my-subnet-name"}, SUBNETS),
    ],
    ids=["bad-scheme", "bad-legacy", "conflict", "subnet-name"],
)
def test_bad_annotations_are_invalid_service_and_cost_nothing(
    provider: AwsProvider,
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
    annotations: dict[str, str],
    named: str,
) -> None:
    with pytest.raises(InvalidService, match=named):
        provider.ensure(desired(service(annotations=annotations), tcp(80, 30080), nodes=nodes))
    assert requests_log.calls == []
    assert requests_log.counts().total == 0


def test_subnets_annotation_overrides_the_settings(
    provider: AwsProvider, read: Reader, cloud: AwsMockCloud, nodes: tuple[NodeTarget, ...]
) -> None:
    chosen = cloud.subnets[1]
    status = provider.ensure(
        desired(service(annotations={SUBNETS: chosen}), tcp(80, 30080), nodes=nodes)
    )
    zones = read.lb(status.lb_id)["AvailabilityZones"]
    assert [zone["SubnetId"] for zone in zones] == [chosen]

    again = provider.ensure(desired(service(), tcp(80, 30080), nodes=nodes))
    assert again.lb_id == status.lb_id  # subnets change in place
    zones = read.lb(status.lb_id)["AvailabilityZones"]
    assert {zone["SubnetId"] for zone in zones} == set(cloud.subnets)


def test_source_ranges_become_security_group_rules(
    provider: AwsProvider, read: Reader, nodes: tuple[NodeTarget, ...]
) -> None:
    ref = service()
    ranges = ("203.0.113.0/24", "198.51.100.7/32")
    listeners = (tcp(80, 30080), udp(5353, 30053))
    status = provider.ensure(desired(ref, *listeners, nodes=nodes, source_ranges=ranges))

    group_id = own_group(read, status.lb_id)
    group = read.security_group(group_id)
    assert {t["Key"]: t["Value"] for t in group["Tags"]}["lbprovider.io/service-uid"] == "uid-1"
    assert read.rules(group_id) == {
        (proto, port, cidr) for proto, port in (("tcp", 80), ("udp", 5353)) for cidr in ranges
    }

    provider.ensure(desired(ref, *listeners, nodes=nodes, source_ranges=("192.0.2.0/24",)))
    assert read.rules(group_id) == {("tcp", 80, "192.0.2.0/24"), ("udp", 5353, "192.0.2.0/24")}


def test_session_affinity_sets_source_ip_stickiness(
    provider: AwsProvider, read: Reader, nodes: tuple[NodeTarget, ...]
) -> None:
    ref = service()
    sticky = SessionAffinity()
    status = provider.ensure(desired(ref, tcp(80, 30080), nodes=nodes, session_affinity=sticky))
    group = read.listeners(status.lb_id)[80][1]
    attributes = read.attributes(group)
    assert attributes["stickiness.enabled"] == "true"
    assert attributes["stickiness.type"] == "source_ip"

    provider.ensure(desired(ref, tcp(80, 30080), nodes=nodes))
    assert read.attributes(group)["stickiness.enabled"] == "false"


def test_health_check_for_local_traffic_policy(
    provider: AwsProvider, read: Reader, nodes: tuple[NodeTarget, ...]
) -> None:
    ref = service()
    check = HealthCheck(port=32123)
    status = provider.ensure(desired(ref, tcp(80, 30080), nodes=nodes, health_check=check))
    group_arn = read.listeners(status.lb_id)[80][1]
    group = read.target_group(group_arn)
    assert (group["HealthCheckProtocol"], group["HealthCheckPort"]) == ("HTTP", "32123")
    assert group["HealthCheckPath"] == "/healthz"

    provider.ensure(desired(ref, tcp(80, 30080), nodes=nodes))
    group = read.target_group(group_arn)
    assert (group["HealthCheckProtocol"], group["HealthCheckPort"]) == ("HTTP", "10256")


def test_load_balancer_ip_on_internet_facing_is_a_warning(
    provider: AwsProvider, read: Reader, nodes: tuple[NodeTarget, ...]
) -> None:
    status = provider.ensure(
        desired(service(), tcp(80, 30080), nodes=nodes, requested_ip="203.0.113.10")
    )
    assert len(status.warnings) == 1
    assert "loadBalancerIP 203.0.113.10" in status.warnings[0]
    assert read.lb(status.lb_id)["Scheme"] == "internet-facing"


def test_load_balancer_ip_on_internal_pins_a_private_address(
    provider: AwsProvider, nodes: tuple[NodeTarget, ...], requests_log: Any, cloud: AwsMockCloud
) -> None:
    ref = service(annotations={SCHEME: "internal"})
    status = provider.ensure(desired(ref, tcp(80, 30080), nodes=nodes, requested_ip="10.0.2.50"))

    assert status.warnings == ()
    (create,) = requests_log.of("CreateLoadBalancer")
    mappings = {
        create[f"SubnetMappings.member.{i}.SubnetId"][0]: create.get(
            f"SubnetMappings.member.{i}.PrivateIPv4Address", [None]
        )[0]
        for i in (1, 2)
    }
    assert mappings == {cloud.subnets[0]: None, cloud.subnets[1]: "10.0.2.50"}

    with pytest.raises(InvalidService, match="in none of the NLB subnets"):
        provider.ensure(
            desired(
                service(uid="uid-2", annotations={SCHEME: "internal"}),
                tcp(80, 30080),
                nodes=nodes,
                requested_ip="192.168.7.7",
            )
        )


def test_scheme_change_replaces_the_nlb(
    provider: AwsProvider, read: Reader, nodes: tuple[NodeTarget, ...]
) -> None:
    first = provider.ensure(desired(service(), tcp(80, 30080), nodes=nodes))
    second = provider.ensure(
        desired(service(annotations={SCHEME: "internal"}), tcp(80, 30080), nodes=nodes)
    )
    assert second.lb_id != first.lb_id
    assert read.lb_arns() == {second.lb_id}
    assert read.lb(second.lb_id)["Scheme"] == "internal"


def test_unchanged_ensure_makes_zero_write_requests(
    provider: AwsProvider, nodes: tuple[NodeTarget, ...], requests_log: Any
) -> None:
    want = desired(
        service(annotations={SCHEME: "internal"}),
        tcp(53, 30053),
        udp(53, 30053),
        tcp(443, 30443),
        nodes=nodes,
        health_check=HealthCheck(port=32000),
        session_affinity=SessionAffinity(),
        source_ranges=("10.0.0.0/8",),
        requested_ip="10.0.1.77",
    )
    provider.ensure(want)
    assert "CreateLoadBalancer" in requests_log.writes()
    requests_log.clear()

    provider.ensure(want)
    provider.update_backends(want)

    assert requests_log.calls  # it did read the cloud
    assert requests_log.writes() == []


def test_same_name_in_two_namespaces_or_recreated_gets_distinct_nlbs(
    provider: AwsProvider, read: Reader, nodes: tuple[NodeTarget, ...]
) -> None:
    refs = [
        service("web", namespace="team-a", uid="uid-a"),
        service("web", namespace="team-b", uid="uid-b"),
        service("web", namespace="team-a", uid="uid-a2"),  # deleted and re-created
    ]
    statuses = [provider.ensure(desired(ref, tcp(80, 30080), nodes=nodes)) for ref in refs]

    arns = {status.lb_id for status in statuses}
    assert len(arns) == 3
    assert len({read.lb(arn)["LoadBalancerName"] for arn in arns}) == 3
    assert len({hostname(status) for status in statuses}) == 3
    for ref, status in zip(refs, statuses, strict=True):
        assert read.tags(status.lb_id)["lbprovider.io/service-uid"] == ref.uid

    provider.delete(refs[0])
    assert read.lb_arns() == {statuses[1].lb_id, statuses[2].lb_id}


def test_delete_removes_only_ours(
    make_provider: Callable[..., AwsProvider],
    read: Reader,
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
) -> None:
    ref = service()
    provider = make_provider()
    ours = provider.ensure(
        desired(ref, tcp(80, 30080), udp(53, 30053), nodes=nodes, source_ranges=("10.0.0.0/8",))
    )
    # The same Service UID in another cluster, and objects nobody here created.
    other_cluster = make_provider("other-cluster").ensure(
        desired(service(cluster="other-cluster"), tcp(80, 30080), nodes=nodes)
    )
    unrelated_lb = read.elbv2.create_load_balancer(
        Name="unrelated", Type="network", Subnets=list(cloud.subnets)
    )["LoadBalancers"][0]["LoadBalancerArn"]
    unrelated_tg = read.elbv2.create_target_group(
        Name="unrelated", Protocol="TCP", Port=80, VpcId=cloud.vpc_id, TargetType="instance"
    )["TargetGroups"][0]["TargetGroupArn"]
    ours_groups = {arn for _, arn in read.listeners(ours.lb_id).values()}
    before = cloud.resources()
    # Per cluster: the NLB's own group and the shared backend group; node rules: ours
    # TCP and UDP nodePort ranges and kube-proxy's port, the other cluster's TCP and port.
    assert before == {
        "load_balancers": 2,
        "target_groups": 3,
        "security_groups": 4,
        "node_sg_rules": 5,
    }

    provider.delete(ref)

    assert provider.get(ref) is None
    assert read.lb_arns() == {other_cluster.lb_id, unrelated_lb}
    assert ours_groups.isdisjoint(read.target_group_arns())
    assert unrelated_tg in read.target_group_arns()
    assert cloud.resources() == {
        "load_balancers": 1,
        "target_groups": 1,
        "security_groups": 2,
        "node_sg_rules": 2,
    }

    make_provider("other-cluster").delete(service(cluster="other-cluster"))
    assert cloud.resources() == {
        "load_balancers": 0,
        "target_groups": 0,
        "security_groups": 0,
        "node_sg_rules": 0,
    }
    assert read.lb_arns() == {unrelated_lb}


def test_throttling_and_5xx_are_retried(
    provider: AwsProvider, read: Reader, nodes: tuple[NodeTarget, ...], requests_log: Any
) -> None:
    # retry_attempts (3 by default) retries after the first request: four requests per call.
    requests_log.fail_next(2, code="Throttling")
    requests_log.fail_next(1, status=503, code="ServiceUnavailable")
    status = provider.ensure(desired(service(), tcp(80, 30080), nodes=nodes))
    assert requests_log.faults_left() == []  # all three were answered, and retried past
    assert set(read.listeners(status.lb_id)) == {80}


def test_retry_attempts_bound_the_requests_of_one_call(
    make_provider: Callable[..., AwsProvider], nodes: tuple[NodeTarget, ...], requests_log: Any
) -> None:
    # One layer of retries (the kit's call wrapper; botocore's own are off): 1 + 1 requests.
    provider = make_provider(retry_attempts=1)
    requests_log.fail_next(50, code="Throttling")
    with pytest.raises(RetryAfter, match="throttled"):
        provider.ensure(desired(service(), tcp(80, 30080), nodes=nodes))
    (left,) = requests_log.faults_left()
    assert 50 - left["count"] == 2
    assert requests_log.counts().total == 2
    assert requests_log.writes() == []


def test_other_errors_are_cloud_errors_without_retries(
    provider: AwsProvider, nodes: tuple[NodeTarget, ...], requests_log: Any
) -> None:
    requests_log.fail_next(1, code="AccessDenied")
    with pytest.raises(CloudError, match="AccessDenied") as caught:
        provider.ensure(desired(service(), tcp(80, 30080), nodes=nodes))
    assert not isinstance(caught.value, (RetryAfter, InvalidService))
    assert requests_log.writes() == []  # it stopped at the failed read


def test_session_affinity_timeout_is_a_warning(
    provider: AwsProvider, nodes: tuple[NodeTarget, ...]
) -> None:
    status = provider.ensure(
        desired(
            service(),
            tcp(80, 30080),
            nodes=nodes,
            session_affinity=SessionAffinity(timeout_seconds=60),
        )
    )
    assert len(status.warnings) == 1
    assert "timeout 60s" in status.warnings[0]
