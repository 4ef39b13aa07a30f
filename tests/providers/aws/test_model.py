"""The AWS local model and its diffs: pure functions, no cloud."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lbprovider.cloud import (
    BackendMode,
    ChangeAction,
    DesiredLoadBalancer,
    EndpointTarget,
    HealthCheck,
    InvalidService,
    Listener,
    NodeTarget,
    Protocol,
    ServiceRef,
    SessionAffinity,
)
from lbprovider_aws import model, naming
from lbprovider_aws.options import INTERNAL, Options

pytestmark = pytest.mark.unit

REF = ServiceRef(cluster="c", namespace="ns", name="web", uid="u1")
SUBNETS = ("subnet-1a", "subnet-2b")
NODES = (
    NodeTarget(name="n1", provider_id="aws:///us-east-1a/i-0001", address="10.0.1.5"),
    NodeTarget(name="n2", provider_id="aws:///us-east-1b/i-0002", address="10.0.2.5"),
    NodeTarget(name="n3", provider_id="gce://p/z/vm-1", address="10.9.9.9"),
)


def listener(protocol: Protocol, port: int, node_port: int | None = None, **kw: Any) -> Listener:
    return Listener(
        name=f"{protocol}-{port}", port=port, protocol=protocol, node_port=node_port, **kw
    )


def spec(*listeners: Listener, options: Options | None = None, **kwargs: Any) -> model.NlbSpec:
    ordered = tuple(sorted(listeners, key=lambda item: (item.port, item.protocol)))
    kwargs.setdefault("nodes", NODES)
    desired = DesiredLoadBalancer(ref=REF, listeners=ordered, **kwargs)
    return model.build(desired, options=options or Options(), subnets=SUBNETS)


def test_target_diff_is_exact_on_id_and_port() -> None:
    want = frozenset({("10.0.1.10", 8080), ("10.0.1.10", 8081)})
    register, deregister = model.target_diff(want, {("10.0.1.10", 8080), ("10.0.1.10", 9090)})
    assert register == [("10.0.1.10", 8081)]
    assert deregister == [("10.0.1.10", 9090)]


def test_build_targets_only_aws_nodes_and_opens_node_ports() -> None:
    built = spec(listener(Protocol.TCP, 80, 30080), listener(Protocol.UDP, 5353, 30053))
    assert [group.targets for group in built.target_groups] == [
        frozenset({("i-0001", 30080), ("i-0002", 30080)}),
        frozenset({("i-0001", 30053), ("i-0002", 30053)}),
    ]
    assert built.instance_ids == {"i-0001", "i-0002"}
    assert built.rules == {("tcp", 80, "0.0.0.0/0"), ("udp", 5353, "0.0.0.0/0")}
    # The nodePort range per protocol from the shared backend group, and kube-proxy's
    # health port (UDP groups are health-checked over HTTP there too).
    assert built.backend_rules == {
        ("tcp", 30000, 32767),
        ("udp", 30000, 32767),
        ("tcp", 10256, 10256),
    }
    assert {group.health.port for group in built.target_groups} == {"10256"}
    assert built.name == naming.load_balancer_name(REF)


def test_tcp_and_udp_on_one_port_are_one_tcp_udp_listener() -> None:
    built = spec(listener(Protocol.TCP, 53, 30053), listener(Protocol.UDP, 53, 30053))
    (only,) = built.listeners
    assert only.protocol == "TCP_UDP"
    assert [(p.port, p.protocol) for p in built.ports] == [(53, Protocol.TCP), (53, Protocol.UDP)]
    with pytest.raises(InvalidService, match="same nodePort"):
        spec(listener(Protocol.TCP, 53, 30053), listener(Protocol.UDP, 53, 30054))


def test_pod_ip_targets_have_no_backend_rules_and_check_the_traffic_port() -> None:
    endpoints = (EndpointTarget(ip="10.0.1.10", port=8080),)
    built = spec(
        listener(Protocol.TCP, 80, endpoints=endpoints),
        backend_mode=BackendMode.POD_IP,
        health_check=HealthCheck(port=32000),
        nodes=(),
    )
    (group,) = built.target_groups
    assert (group.target_type, group.port, group.health.port) == ("ip", 8080, "traffic-port")
    assert built.backend_rules == frozenset()
    assert built.instance_ids == frozenset()


def test_requested_ip_is_pinned_only_for_internal_nlbs() -> None:
    public = spec(listener(Protocol.TCP, 80, 30080), requested_ip="10.0.1.7")
    assert public.requested_ip is None
    assert "loadBalancerIP 10.0.1.7 ignored" in public.warnings[0]
    internal = spec(
        listener(Protocol.TCP, 80, 30080),
        options=Options(scheme=INTERNAL),
        requested_ip="10.0.1.7",
    )
    assert (internal.requested_ip, internal.warnings) == ("10.0.1.7", ())
    lb = {"Scheme": INTERNAL}
    assert model.compatible(lb, {naming.REQUESTED_IP_TAG: "10.0.1.7"}, internal)
    assert not model.compatible(lb, {}, internal)
    assert not model.compatible(lb, {}, public)


def test_subnets_come_from_the_annotation_else_the_settings() -> None:
    assert model.subnets_for(Options(subnets=("subnet-9",)), SUBNETS) == ("subnet-9",)
    assert model.subnets_for(Options(), SUBNETS) == SUBNETS
    with pytest.raises(InvalidService, match="no subnets"):
        model.subnets_for(Options(), ())


def test_listener_diff_keeps_matches_and_replaces_the_rest() -> None:
    built = spec(listener(Protocol.TCP, 80, 30080), listener(Protocol.TCP, 443, 30443))
    arns = {group.name: f"arn:tg/{group.port}" for group in built.target_groups}

    def have(arn: str, port: int, protocol: str, group: str) -> dict[str, Any]:
        actions = [{"Type": "forward", "TargetGroupArn": group}]
        return {"ListenerArn": arn, "Port": port, "Protocol": protocol, "DefaultActions": actions}

    changes = model.listener_diff(
        [
            have("l-80", 80, "TCP", "arn:tg/30080"),
            have("l-80-dup", 80, "TCP", "arn:tg/30080"),
            have("l-443", 443, "UDP", "arn:tg/30443"),
            have("l-8080", 8080, "TCP", "arn:tg/x"),
        ],
        built,
        arns,
    )
    assert changes.delete == ("l-80-dup", "l-443", "l-8080")
    assert [(item.port, item.protocol) for item in changes.create] == [(443, "TCP")]
    unchanged = model.listener_diff(
        [have("l-80", 80, "TCP", "arn:tg/30080")], spec(listener(Protocol.TCP, 80, 30080)), arns
    )
    assert unchanged == model.ListenerChanges(delete=(), create=())


def test_health_and_stickiness_updates_only_when_they_differ() -> None:
    (group,) = spec(
        listener(Protocol.TCP, 80, 30080),
        health_check=HealthCheck(port=32100),
        session_affinity=SessionAffinity(),
    ).target_groups
    current = {
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": "32100",
        "HealthCheckPath": "/healthz",
        "Matcher": {"HttpCode": "200-299"},
    }
    assert model.health_update(group, current) is None
    assert model.health_update(group, {**current, "HealthCheckPort": "traffic-port"}) == {
        "HealthCheckProtocol": "HTTP",
        "HealthCheckPort": "32100",
        "HealthCheckPath": "/healthz",
        "Matcher": {"HttpCode": "200-299"},
    }
    # NLB's default matcher (200-399) counts redirects as healthy: 2xx only.
    assert model.health_update(group, {**current, "Matcher": {"HttpCode": "200-399"}}) is not None
    sticky = [
        {"Key": "stickiness.enabled", "Value": "true"},
        {"Key": "stickiness.type", "Value": "source_ip"},
    ]
    assert model.stickiness_update(group, sticky) is None
    assert model.stickiness_update(group, []) == sticky


def test_backend_diff_revokes_only_our_rules_and_reuses_others() -> None:
    mark = naming.marker(REF)
    group = {
        "IpPermissions": [
            {
                "IpProtocol": "tcp",
                "FromPort": port,
                "ToPort": port,
                "UserIdGroupPairs": [{"GroupId": "sg-nlb", "Description": description}],
            }
            for port, description in ((30080, mark), (30443, "operator"), (9100, "metrics"))
        ]
    }
    have = model.backend_rules_of(group, source="sg-nlb", mark=mark)
    assert have.ours == {("tcp", 30080, 30080)}
    authorize, revoke = model.backend_diff(
        frozenset({("tcp", 30443, 30443), ("udp", 30053, 30053)}), have
    )
    assert authorize == [("udp", 30053, 30053)]
    assert revoke == [("tcp", 30080, 30080)]
    (permission,) = model.backend_permissions(authorize, source="sg-nlb", mark=mark)
    assert permission["UserIdGroupPairs"] == [{"GroupId": "sg-nlb", "Description": mark}]


def test_cidr_rules_round_trip_through_permissions() -> None:
    rules = {("tcp", 80, "10.0.0.0/8"), ("tcp", 80, "2001:db8::/32"), ("udp", 53, "0.0.0.0/0")}
    authorize, revoke = model.rule_diff(frozenset(rules), set())
    assert revoke == []
    permissions = model.cidr_permissions(authorize)
    assert model.cidr_rules_of({"IpPermissions": permissions}) == rules


# -- the shared diff (what ensure applies and plan reports) ------------------------------

MARK = naming.marker(REF)
BACKEND_MARK = naming.backend_marker(REF.cluster)


def in_sync(built: model.NlbSpec, **overrides: Any) -> model.Remote:
    """What the cloud looks like right after ``built`` was applied, in AWS's reply shapes."""
    groups = {
        group.name: {
            "TargetGroupArn": f"arn:tg/{group.name}",
            "TargetGroupName": group.name,
            "Protocol": group.protocol,
            "Port": group.port,
            "TargetType": group.target_type,
            "HealthCheckProtocol": group.health.protocol,
            "HealthCheckPort": group.health.port,
            "HealthCheckPath": group.health.path,
            "Matcher": {"HttpCode": group.health.matcher},
        }
        for group in built.target_groups
    }
    values: dict[str, Any] = {
        "lb": {
            "LoadBalancerArn": "arn:lb",
            "Scheme": built.scheme,
            "AvailabilityZones": [{"SubnetId": subnet} for subnet in built.subnets],
            "SecurityGroups": ["sg-nlb", "sg-backend"],
        },
        "lb_tags": {},
        "listeners": tuple(
            {
                "ListenerArn": f"arn:listener/{item.port}",
                "Port": item.port,
                "Protocol": item.protocol,
                "DefaultActions": [
                    {"Type": "forward", "TargetGroupArn": f"arn:tg/{item.target_group}"}
                ],
            }
            for item in built.listeners
        ),
        "groups": groups,
        "attributes": {name: () for name in groups},
        "targets": {group.name: group.targets for group in built.target_groups},
        "security_group": {
            "GroupId": "sg-nlb",
            "IpPermissions": model.cidr_permissions(built.rules),
        },
        "instance_groups": {iid: ("sg-nodes",) for iid in built.instance_ids},
        "node_groups": {
            "sg-nodes": {
                "GroupId": "sg-nodes",
                "IpPermissions": model.backend_permissions(
                    sorted(built.backend_rules), source="sg-backend", mark=BACKEND_MARK
                ),
            }
        },
        "backend_group": {"GroupId": "sg-backend"},
        "vpc_id": "vpc-1",
    }
    values.update(overrides)
    return model.Remote(**values)


NOTHING = model.Remote(
    lb=None,
    lb_tags={},
    listeners=(),
    groups={},
    attributes={},
    targets={},
    security_group=None,
    instance_groups={"i-0001": ("sg-nodes",), "i-0002": ("sg-nodes",)},
    node_groups={},
    vpc_id="vpc-1",
)


def summary(steps: tuple[model.Step, ...]) -> list[tuple[str, str, str]]:
    return [(c.action.value, c.kind, c.name) for c in model.changes_of(steps)]


def test_diff_of_a_matching_cloud_is_empty_in_both_modes() -> None:
    built = spec(
        listener(Protocol.TCP, 53, 30053),
        listener(Protocol.UDP, 53, 30053),
        listener(Protocol.TCP, 443, 30443),
        health_check=HealthCheck(port=32100),
    )
    assert model.diff(built, in_sync(built), mark=MARK, backend_mark=BACKEND_MARK) == ()
    assert (
        model.diff(built, in_sync(built), mark=MARK, backend_mark=BACKEND_MARK, backends_only=True)
        == ()
    )


def test_diff_of_nothing_creates_everything_in_the_order_aws_needs() -> None:
    built = spec(listener(Protocol.TCP, 80, 30080))
    steps = model.diff(built, NOTHING, mark=MARK, backend_mark=BACKEND_MARK)
    assert [type(step.op).__name__ for step in steps] == [
        "CreateSecurityGroup",
        "CreateBackendGroup",
        "ChangeCidrRules",
        "ChangeBackendRules",  # before targets: their health checks must pass at once
        "CreateTargetGroup",
        "ChangeTargets",
        "CreateLoadBalancer",
        "CreateListener",  # after the group and the NLB it joins
    ]
    assert summary(steps) == [
        ("create", "security group", built.name),
        ("create", "security group", "backend"),
        ("create", "security group rule", "TCP:80"),
        ("create", "security group rule", "sg-nodes TCP:10256"),
        ("create", "security group rule", "sg-nodes TCP:30000-32767"),
        ("create", "target group", "TCP:80"),
        ("create", "targets", "TCP:80"),
        ("create", "load balancer", built.name),
        ("create", "listener", "TCP:80"),
    ]
    targets = model.changes_of(steps)[6]
    assert targets.after == "i-0001:30080, i-0002:30080"
    # Nothing new is changed in place before it exists: no update, no delete.
    assert all(c.action is ChangeAction.CREATE for c in model.changes_of(steps))


def test_diff_names_each_drifted_object_once() -> None:
    built = spec(listener(Protocol.TCP, 80, 30080), listener(Protocol.TCP, 443, 30443))
    synced = in_sync(built)
    (web, tls) = built.target_groups
    drifted = in_sync(
        built,
        listeners=synced.listeners[:1],  # the 443 listener is gone
        targets={
            web.name: frozenset({("i-0001", 30080), ("i-0009", 30080)}),
            tls.name: tls.targets,
        },
        groups={
            **synced.groups,
            tls.name: {**synced.groups[tls.name], "HealthCheckPort": "8080"},
        },
    )
    steps = model.diff(built, drifted, mark=MARK, backend_mark=BACKEND_MARK)
    assert [
        (c.action.value, c.kind, c.name, c.before, c.after) for c in model.changes_of(steps)
    ] == [
        ("create", "targets", "TCP:80", "", "i-0002:30080"),
        ("delete", "targets", "TCP:80", "i-0009:30080", ""),
        ("update", "health check", "TCP:443", "HTTP:8080/healthz", "HTTP:10256/healthz"),
        ("create", "listener", "TCP:443", "", f"forward to {tls.name}"),
    ]
    only_backends = model.diff(
        built, drifted, mark=MARK, backend_mark=BACKEND_MARK, backends_only=True
    )
    assert summary(only_backends) == [
        ("create", "targets", "TCP:80"),
        ("delete", "targets", "TCP:80"),
    ]


def test_diff_replaces_a_listener_whose_group_changed_and_deletes_the_old_group() -> None:
    old = spec(listener(Protocol.TCP, 80, 30080))
    new = spec(listener(Protocol.TCP, 80, 30080), listener(Protocol.UDP, 80, 30080))
    steps = model.diff(new, in_sync(old), mark=MARK, backend_mark=BACKEND_MARK)
    (before,) = old.target_groups
    (after,) = new.target_groups
    assert [
        (c.action.value, c.kind, c.name)
        for c in model.changes_of(steps)
        if c.kind not in ("security group rule", "targets")
    ] == [
        ("create", "target group", "TCP_UDP:80"),
        ("delete", "listener", "TCP:80"),
        ("create", "listener", "TCP_UDP:80"),
        ("delete", "target group", "TCP:80"),  # last: the listener no longer uses it
    ]
    deleted = model.changes_of(steps)[-1]
    assert deleted.before == f"{before.name} (TCP:30080, instance targets)"
    assert after.name != before.name


def test_diff_replaces_an_nlb_whose_scheme_changed_first() -> None:
    public = spec(listener(Protocol.TCP, 80, 30080))
    internal = spec(listener(Protocol.TCP, 80, 30080), options=Options(scheme=INTERNAL))
    steps = model.diff(internal, in_sync(public), mark=MARK, backend_mark=BACKEND_MARK)
    assert summary(steps) == [
        ("delete", "load balancer", public.name),
        ("create", "load balancer", public.name),
        ("create", "listener", "TCP:80"),  # the old listener went with the old NLB
    ]
    assert isinstance(steps[0].op, model.DeleteLoadBalancer)


def test_diff_pins_a_private_ip_in_the_subnet_that_holds_it_or_refuses() -> None:
    internal = spec(
        listener(Protocol.TCP, 80, 30080),
        options=Options(scheme=INTERNAL),
        requested_ip="10.0.2.7",
    )
    assert model.needs_subnet_cidrs(internal, None, {})
    cidrs = {"subnet-1a": "10.0.1.0/24", "subnet-2b": "10.0.2.0/24"}
    steps = model.diff(
        internal, replace(NOTHING, subnet_cidrs=cidrs), mark=MARK, backend_mark=BACKEND_MARK
    )
    (create,) = [step.op for step in steps if isinstance(step.op, model.CreateLoadBalancer)]
    assert create.mappings == (
        {"SubnetId": "subnet-1a"},
        {"SubnetId": "subnet-2b", "PrivateIPv4Address": "10.0.2.7"},
    )
    with pytest.raises(InvalidService, match="in none of the NLB subnets"):
        model.diff(
            internal,
            replace(NOTHING, subnet_cidrs={"subnet-1a": "10.0.1.0/24"}),
            mark=MARK,
            backend_mark=BACKEND_MARK,
        )


def test_diff_keeps_long_target_lists_short_and_revokes_only_our_node_rules() -> None:
    many = tuple(
        NodeTarget(name=f"n{i:02}", provider_id=f"aws:///z/i-{i:04}", address="") for i in range(10)
    )
    built = spec(listener(Protocol.TCP, 80, 30080), nodes=many)
    (group,) = built.target_groups
    steps = model.diff(
        built,
        in_sync(built, targets={group.name: frozenset()}),
        mark=MARK,
        backend_mark=BACKEND_MARK,
    )
    (change,) = model.changes_of(steps)
    assert change.after == "i-0000:30080, i-0001:30080, i-0002:30080, i-0003:30080 (+6 more)"

    # A node group whose instances are no longer targets loses our rules, not others'.
    others = {
        "GroupId": "sg-old",
        "IpPermissions": [
            {
                "IpProtocol": "tcp",
                "FromPort": 30080,
                "ToPort": 30080,
                "UserIdGroupPairs": [{"GroupId": "sg-nlb", "Description": description}],
            }
            for description in (MARK,)
        ]
        + [
            {
                "IpProtocol": "tcp",
                "FromPort": 9100,
                "ToPort": 9100,
                "UserIdGroupPairs": [{"GroupId": "sg-nlb", "Description": "metrics"}],
            }
        ],
    }
    synced = in_sync(built)
    moved = in_sync(built, node_groups={**synced.node_groups, "sg-old": others})
    assert [
        (c.action.value, c.kind, c.name, c.before)
        for c in model.changes_of(model.diff(built, moved, mark=MARK, backend_mark=BACKEND_MARK))
    ] == [("delete", "security group rule", "sg-old TCP:30080", "from sg-nlb")]


def test_a_subnet_swap_in_every_zone_of_the_nlb_is_refused() -> None:
    built = replace(spec(listener(Protocol.TCP, 80, 30080)), subnets=("subnet-1c",))
    lb = {
        **in_sync(built).lb,  # type: ignore[dict-item]
        "AvailabilityZones": [{"ZoneName": "zone-a", "SubnetId": "subnet-1a"}],
    }
    remote = in_sync(built, lb=lb, subnet_zones={"subnet-1c": "zone-a"})
    with pytest.raises(InvalidService, match="every zone"):
        model.diff(built, remote, mark=MARK, backend_mark=BACKEND_MARK)
