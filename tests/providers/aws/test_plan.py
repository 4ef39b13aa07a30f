"""``plan`` and ``list_owned`` on AWS, against moto in server mode.

Drift is made behind the provider's back through plain boto3 straight to moto;
``plan`` must name exactly that change and write nothing (the mock's request
journal), and the following ``ensure`` must make exactly the write ``plan``
named (one computation behind both).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from lbprovider.cloud import (
    ChangeAction,
    DesiredLoadBalancer,
    HealthCheck,
    InvalidService,
    Listener,
    NodeTarget,
    OwnedLoadBalancer,
    PlannedChange,
    Protocol,
    ServiceRef,
)
from lbprovider_aws import naming
from lbprovider_aws.mock import AwsMockCloud
from lbprovider_aws.provider import AwsProvider

pytestmark = pytest.mark.providers

SCHEME = "service.beta.kubernetes.io/aws-load-balancer-scheme"


def service(
    name: str = "web", *, uid: str = "uid-1", cluster: str = "test-cluster", **annotations: str
) -> ServiceRef:
    return ServiceRef(
        cluster=cluster, namespace="default", name=name, uid=uid, annotations=annotations
    )


def web(ref: ServiceRef, nodes: tuple[NodeTarget, ...], **kwargs: Any) -> DesiredLoadBalancer:
    listener = Listener(name="http", port=80, protocol=Protocol.TCP, node_port=30080)
    return DesiredLoadBalancer(ref=ref, listeners=(listener,), nodes=nodes, **kwargs)


def instance_id(node: NodeTarget) -> str:
    return node.provider_id.rsplit("/", 1)[-1]


class Drift:
    """Changes made straight to moto, as another tool or a person would."""

    def __init__(self, cloud: AwsMockCloud, lb_arn: str) -> None:
        self.elbv2 = cloud.client("elbv2")
        self.ec2 = cloud.client("ec2")
        self.lb_arn = lb_arn

    def listener(self, port: int) -> dict[str, Any]:
        found = self.elbv2.describe_listeners(LoadBalancerArn=self.lb_arn)["Listeners"]
        (item,) = [item for item in found if item["Port"] == port]
        return dict(item)

    def group_arn(self, port: int) -> str:
        return str(self.listener(port)["DefaultActions"][0]["TargetGroupArn"])

    def security_group(self) -> str:
        lb = self.elbv2.describe_load_balancers(LoadBalancerArns=[self.lb_arn])
        return str(lb["LoadBalancers"][0]["SecurityGroups"][0])


@pytest.fixture
def ensured(
    provider: AwsProvider, cloud: AwsMockCloud, nodes: tuple[NodeTarget, ...]
) -> tuple[DesiredLoadBalancer, Drift]:
    want = web(service(), nodes)
    status = provider.ensure(want)
    assert provider.plan(want) == ()
    return want, Drift(cloud, status.lb_id)


def plan_then_ensure(
    provider: AwsProvider, want: DesiredLoadBalancer, requests_log: Any
) -> tuple[tuple[PlannedChange, ...], list[str]]:
    """The plan (checked to write nothing) and the writes the next ensure made."""
    requests_log.clear()
    changes = provider.plan(want)
    assert requests_log.writes() == []
    assert requests_log.counts().writes == 0
    requests_log.clear()
    provider.ensure(want)
    writes = requests_log.writes()
    assert provider.plan(want) == ()  # repaired
    return changes, writes


def test_a_listener_removed_behind_our_back_is_planned_and_recreated(
    provider: AwsProvider, ensured: tuple[DesiredLoadBalancer, Drift], requests_log: Any
) -> None:
    want, drift = ensured
    group = naming.target_group_name(want.ref, port=80, protocol="TCP", target_type="instance")
    drift.elbv2.delete_listener(ListenerArn=drift.listener(80)["ListenerArn"])

    changes, writes = plan_then_ensure(provider, want, requests_log)

    assert changes == (
        PlannedChange(
            action=ChangeAction.CREATE, kind="listener", name="TCP:80", after=f"forward to {group}"
        ),
    )
    assert writes == ["CreateListener"]


def test_a_deregistered_target_is_planned_and_registered_again(
    provider: AwsProvider,
    ensured: tuple[DesiredLoadBalancer, Drift],
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
) -> None:
    want, drift = ensured
    gone = instance_id(nodes[1])
    drift.elbv2.deregister_targets(
        TargetGroupArn=drift.group_arn(80), Targets=[{"Id": gone, "Port": 30080}]
    )

    changes, writes = plan_then_ensure(provider, want, requests_log)

    assert changes == (
        PlannedChange(
            action=ChangeAction.CREATE, kind="targets", name="TCP:80", after=f"{gone}:30080"
        ),
    )
    assert writes == ["RegisterTargets"]


def test_a_target_added_behind_our_back_is_planned_for_removal(
    provider: AwsProvider, cloud: AwsMockCloud, nodes: tuple[NodeTarget, ...], requests_log: Any
) -> None:
    want = web(service(), nodes[:2])
    drift = Drift(cloud, provider.ensure(want).lb_id)
    # Another instance (moto keys instance targets by Id: a second port would replace one).
    stray = instance_id(nodes[2])
    drift.elbv2.register_targets(
        TargetGroupArn=drift.group_arn(80), Targets=[{"Id": stray, "Port": 30080}]
    )

    changes, writes = plan_then_ensure(provider, want, requests_log)

    assert changes == (
        PlannedChange(
            action=ChangeAction.DELETE, kind="targets", name="TCP:80", before=f"{stray}:30080"
        ),
    )
    assert writes == ["DeregisterTargets"]


def test_a_changed_health_check_is_planned_as_an_update_and_restored(
    provider: AwsProvider, ensured: tuple[DesiredLoadBalancer, Drift], requests_log: Any
) -> None:
    want, drift = ensured
    drift.elbv2.modify_target_group(
        TargetGroupArn=drift.group_arn(80),
        HealthCheckProtocol="HTTP",
        HealthCheckPort="8080",
        HealthCheckPath="/ready",
    )

    changes, writes = plan_then_ensure(provider, want, requests_log)

    assert changes == (
        PlannedChange(
            action=ChangeAction.UPDATE,
            kind="health check",
            name="TCP:80",
            before="HTTP:8080/ready",
            after="HTTP:10256/healthz",
        ),
    )
    assert writes == ["ModifyTargetGroup"]


def test_a_revoked_source_range_is_planned_and_authorized_again(
    provider: AwsProvider, ensured: tuple[DesiredLoadBalancer, Drift], requests_log: Any
) -> None:
    want, drift = ensured
    drift.ec2.revoke_security_group_ingress(
        GroupId=drift.security_group(),
        IpPermissions=[
            {
                "IpProtocol": "tcp",
                "FromPort": 80,
                "ToPort": 80,
                "IpRanges": [{"CidrIp": "0.0.0.0/0"}],
            }
        ],
    )

    changes, writes = plan_then_ensure(provider, want, requests_log)

    assert changes == (
        PlannedChange(
            action=ChangeAction.CREATE, kind="security group rule", name="TCP:80", after="0.0.0.0/0"
        ),
    )
    assert writes == ["AuthorizeSecurityGroupIngress"]


def test_a_local_traffic_policy_plans_the_health_check_only(
    provider: AwsProvider,
    ensured: tuple[DesiredLoadBalancer, Drift],
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
) -> None:
    want, _ = ensured
    local = web(want.ref, nodes, health_check=HealthCheck(port=32100))

    changes, writes = plan_then_ensure(provider, local, requests_log)

    # healthCheckNodePort lies in the nodePort range the node group already allows.
    assert {(c.action, c.kind, c.name, c.before, c.after) for c in changes} == {
        (ChangeAction.UPDATE, "health check", "TCP:80", "HTTP:10256/healthz", "HTTP:32100/healthz"),
    }
    assert writes == ["ModifyTargetGroup"]


def test_a_scheme_change_plans_the_replacement(
    provider: AwsProvider, ensured: tuple[DesiredLoadBalancer, Drift], requests_log: Any
) -> None:
    want, _ = ensured
    internal = web(service(**{SCHEME: "internal"}), want.nodes)
    requests_log.clear()

    changes = provider.plan(internal)

    assert requests_log.writes() == []
    assert [(c.action, c.kind) for c in changes] == [
        (ChangeAction.DELETE, "load balancer"),
        (ChangeAction.CREATE, "load balancer"),
        (ChangeAction.CREATE, "listener"),  # the old one went with the old NLB
    ]
    assert changes[0].before.startswith("internet-facing")
    assert changes[1].after.startswith("internal")


def test_plan_refuses_what_ensure_refuses_before_any_call(
    provider: AwsProvider, nodes: tuple[NodeTarget, ...], requests_log: Any
) -> None:
    bad = web(service(**{SCHEME: "sideways"}), nodes)
    for call in (provider.plan, provider.ensure):
        with pytest.raises(InvalidService, match="aws-load-balancer-scheme"):
            call(bad)
    assert requests_log.calls == []


def test_plan_refuses_a_load_balancer_ip_outside_the_subnets_without_writing(
    provider: AwsProvider, nodes: tuple[NodeTarget, ...], requests_log: Any
) -> None:
    pinned = web(service(**{SCHEME: "internal"}), nodes, requested_ip="192.168.9.9")
    calls: list[Callable[[DesiredLoadBalancer], object]] = [provider.plan, provider.ensure]
    for call in calls:
        with pytest.raises(InvalidService, match="in none of the NLB subnets"):
            call(pinned)
    # The diff refuses it before the first write, so ensure leaves nothing behind either.
    assert requests_log.writes() == []


def test_list_owned_reports_this_clusters_nlbs_only(
    make_provider: Callable[..., AwsProvider],
    cloud: AwsMockCloud,
    nodes: tuple[NodeTarget, ...],
    requests_log: Any,
) -> None:
    ours = make_provider()
    theirs = make_provider(cluster="other-cluster")
    first = ours.ensure(web(service("a", uid="uid-a"), nodes))
    second = ours.ensure(web(service("b", uid="uid-b"), nodes))
    theirs.ensure(web(service("c", uid="uid-c", cluster="other-cluster"), nodes))
    # An NLB made by someone else, with no tags at all.
    untagged = cloud.client("elbv2").create_load_balancer(
        Name="hand-made", Type="network", Subnets=list(cloud.subnets)
    )["LoadBalancers"][0]["LoadBalancerArn"]
    try:
        requests_log.clear()
        owned = ours.list_owned()
        assert requests_log.writes() == []
        assert set(owned) == {
            OwnedLoadBalancer(lb_id=first.lb_id, service_uid="uid-a", service_key="default/a"),
            OwnedLoadBalancer(lb_id=second.lb_id, service_uid="uid-b", service_key="default/b"),
        }
        (other,) = theirs.list_owned()
        assert other.service_uid == "uid-c"
        assert untagged not in {item.lb_id for item in (*owned, other)}
    finally:
        theirs.delete(service("c", uid="uid-c", cluster="other-cluster"))
        cloud.client("elbv2").delete_load_balancer(LoadBalancerArn=untagged)
