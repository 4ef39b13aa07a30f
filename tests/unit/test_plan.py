"""``lbprovider plan`` over the fake provider: what it plans, how it prints, its exit code.

Each cloud is a ``FakeCloud`` that the controller's own code path filled
(``build_desired`` + ``ensure``); the plan must then read it and write nothing.
"""

from __future__ import annotations

from typing import Any

import pytest

from lbprovider.cloud import ChangeAction, PlannedChange
from lbprovider.controller.desired import build_desired
from lbprovider.controller.ownership import OWNERSHIP_ANNOTATION, Ownership
from lbprovider.controller.plan import (
    EXIT_CHANGES,
    EXIT_ERROR,
    EXIT_NO_CHANGES,
    ClusterState,
    exit_code,
    format_change,
    plan_services,
    render,
)
from lbprovider.controller.selection import FINALIZER, eligible_nodes
from lbprovider.kube.snapshots import NodeSnapshot, ServiceSnapshot
from lbprovider.testing.fake_provider import FakeProvider, FakeSettings

pytestmark = pytest.mark.unit

CLUSTER = "prod"
CLASS = "x.io/fake"
SECOND = "x.io/fake-2"
HTTP = {"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}
HTTPS = {"name": "https", "port": 443, "protocol": "TCP", "nodePort": 30443}


def node(name: str) -> NodeSnapshot:
    return NodeSnapshot.parse(
        {
            "metadata": {"name": name, "uid": f"uid-{name}"},
            "spec": {"providerID": f"fake://{name}"},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.1"}]},
        }
    )


NODES = (node("node-a"), node("node-b"))


def service(
    name: str = "web",
    *,
    ports: list[dict[str, Any]] | None = None,
    load_balancer_class: str = CLASS,
    service_type: str = "LoadBalancer",
    finalizer: bool = True,
    recorded_class: str | None = CLASS,
) -> ServiceSnapshot:
    annotations = {}
    if recorded_class is not None:
        annotations[OWNERSHIP_ANNOTATION] = Ownership(
            load_balancer_class=recorded_class
        ).to_annotation()
    return ServiceSnapshot.parse(
        {
            "metadata": {
                "namespace": "ns",
                "name": name,
                "uid": f"uid-{name}",
                "annotations": annotations,
                "finalizers": [FINALIZER] if finalizer else [],
            },
            "spec": {
                "type": service_type,
                "loadBalancerClass": load_balancer_class,
                "ports": ports if ports is not None else [HTTP],
            },
        }
    )


def provider() -> FakeProvider:
    return FakeProvider(FakeSettings(), cluster_name=CLUSTER)


def applied(fake: FakeProvider, snapshot: ServiceSnapshot) -> None:
    """What a sync of ``snapshot`` made the cloud look like."""
    fake.ensure(build_desired(snapshot, cluster=CLUSTER, nodes=eligible_nodes(NODES)))


def plan(
    services: list[ServiceSnapshot], providers: dict[str, FakeProvider], *keys: str
) -> tuple[str, int]:
    plans = plan_services(
        ClusterState(services=tuple(services), nodes=NODES),
        cluster_name=CLUSTER,
        providers=providers,
        keys=keys,
    )
    return render(plans), exit_code(plans)


def test_a_service_in_sync_plans_nothing_and_nothing_is_written() -> None:
    fake = provider()
    applied(fake, service())
    before = fake.cloud.counters.counts()
    text, code = plan([service()], {CLASS: fake})
    assert code == EXIT_NO_CHANGES
    assert text == "ns/web (x.io/fake): no changes\n\nNo changes: 1 Service(s) match the cloud."
    assert (fake.cloud.counters.counts() - before).writes == 0


def test_a_changed_service_plans_exactly_the_change() -> None:
    fake = provider()
    applied(fake, service())
    text, code = plan([service(ports=[HTTP, HTTPS])], {CLASS: fake})
    assert code == EXIT_CHANGES
    assert text.splitlines() == [
        "ns/web (x.io/fake): 3 changes",
        "  + create listener TCP:443",
        "  + create backend node-a:30443",
        "  + create backend node-b:30443",
        "",
        "Plan: 3 to create, 0 to update, 0 to delete, in 1 Service(s); 0 unchanged.",
    ]
    assert fake.find("ns/web") is not None
    assert [lb.desired.listeners[-1].port for lb in fake.load_balancers.values()] == [80]


def test_a_new_service_plans_its_load_balancer() -> None:
    text, code = plan([service(finalizer=False, recorded_class=None)], {CLASS: provider()})
    assert code == EXIT_CHANGES
    assert "  + create load balancer ns/web" in text.splitlines()


def test_a_service_no_longer_served_plans_the_deletion_of_its_load_balancer() -> None:
    fake = provider()
    applied(fake, service())
    lb_id = next(iter(fake.load_balancers.values())).lb_id
    text, code = plan([service(service_type="ClusterIP")], {CLASS: fake})
    assert code == EXIT_CHANGES
    assert text.splitlines()[:2] == [
        "ns/web (x.io/fake): 1 change",
        f"  - delete load balancer {lb_id}",
    ]
    assert fake.find("ns/web") is not None


def test_a_cleaned_up_service_plans_nothing() -> None:
    # Our finalizer still on it, but its load balancer is already gone.
    text, code = plan([service(service_type="ClusterIP")], {CLASS: provider()})
    assert code == EXIT_NO_CHANGES
    assert text.splitlines()[0] == "ns/web (x.io/fake): no changes"


def test_a_class_change_plans_the_old_deletion_before_the_new_load_balancer() -> None:
    old, new = provider(), provider()
    applied(old, service())
    lb_id = next(iter(old.load_balancers.values())).lb_id
    moved = service(load_balancer_class=SECOND, recorded_class=CLASS)
    text, code = plan([moved], {CLASS: old, SECOND: new})
    assert code == EXIT_CHANGES
    lines = text.splitlines()
    assert lines[0:2] == ["ns/web (x.io/fake): 1 change", f"  - delete load balancer {lb_id}"]
    assert lines[2] == "ns/web (x.io/fake-2): 4 changes"
    assert lines[3] == "  + create load balancer ns/web"


def test_services_of_other_controllers_are_left_out_unless_named() -> None:
    theirs = service(load_balancer_class="elsewhere.io/lb", recorded_class="elsewhere.io/lb")
    text, code = plan([theirs], {CLASS: provider()})
    assert code == EXIT_NO_CHANGES
    assert "ns/web" not in text
    named, code = plan([theirs], {CLASS: provider()}, "ns/web")
    assert code == EXIT_NO_CHANGES
    assert (
        named.splitlines()[0]
        == "ns/web: held by class elsewhere.io/lb, served by another controller"
    )


def test_an_invalid_or_missing_service_is_an_error() -> None:
    sctp = service(ports=[{"name": "sig", "port": 3868, "protocol": "SCTP", "nodePort": 30868}])
    text, code = plan([sctp], {CLASS: provider()}, "ns/web", "ns/nope")
    assert code == EXIT_ERROR
    lines = text.splitlines()
    assert lines[0].startswith(
        "ns/web (x.io/fake): error: port sig: protocol SCTP is not supported"
    )
    assert lines[1] == "ns/nope: error: no such Service"
    assert (
        lines[-1] == "No changes: 0 Service(s) match the cloud. 2 Service(s) could not be planned."
    )


def test_errors_win_over_changes_in_the_exit_code() -> None:
    fake = provider()
    text, code = plan([service()], {CLASS: fake}, "ns/web", "ns/missing")
    assert code == EXIT_ERROR
    assert "  + create load balancer ns/web" in text.splitlines()


@pytest.mark.parametrize(
    ("change", "line"),
    [
        (
            PlannedChange(action=ChangeAction.CREATE, kind="listener", name="TCP:443"),
            "+ create listener TCP:443",
        ),
        (
            PlannedChange(
                action=ChangeAction.UPDATE,
                kind="health check",
                name="",
                before="HTTP:10256",
                after="HTTP:31000",
            ),
            "~ update health check HTTP:10256 -> HTTP:31000",
        ),
        (
            PlannedChange(
                action=ChangeAction.UPDATE,
                kind="attribute",
                name="stickiness",
                before="",
                after="source_ip",
            ),
            "~ update attribute stickiness: (none) -> source_ip",
        ),
        (
            PlannedChange(
                action=ChangeAction.DELETE,
                kind="backends",
                name="i-0abc:30080",
                before="i-0abc:30080",
            ),
            "- delete backends i-0abc:30080",
        ),
        (
            PlannedChange(
                action=ChangeAction.CREATE,
                kind="target group",
                name="k8s-web-80",
                after="TCP 30080",
            ),
            "+ create target group k8s-web-80 (TCP 30080)",
        ),
    ],
)
def test_change_lines_read_like_a_terraform_plan(change: PlannedChange, line: str) -> None:
    assert format_change(change) == line
