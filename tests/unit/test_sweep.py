"""The orphan sweep over fake providers: which load balancers are orphans, and what is deleted.

The clouds are ``FakeCloud``s holding load balancers made through the
provider's own ``ensure`` (as the controller or a planted orphan would make
them); the Services are snapshots parsed from API-shaped JSON.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

import pytest
from prometheus_client import REGISTRY

from lbprovider.cloud import (
    CloudError,
    DesiredLoadBalancer,
    Listener,
    OwnedLoadBalancer,
    Protocol,
    RetryAfter,
    ServiceRef,
)
from lbprovider.controller.ownership import OWNERSHIP_ANNOTATION, Ownership
from lbprovider.controller.selection import FINALIZER
from lbprovider.controller.sweep import (
    OrphanReason,
    PeriodicSweep,
    classify,
    sweep,
)
from lbprovider.kube.snapshots import ServiceSnapshot
from lbprovider.testing.fake_provider import FakeCloud, FakeProvider, FakeSettings

pytestmark = pytest.mark.unit

CLUSTER = "prod"
FAKE_CLASS = "x.io/fake"
OTHER_CLASS = "x.io/other"
"""A class whose provider is another cloud (named ``other``)."""


class OtherCloudProvider(FakeProvider):
    """A second cloud: same in-memory mechanics, another provider name."""

    name = "other"


def service(
    name: str,
    uid: str,
    *,
    finalizer: bool = False,
    recorded_class: str | None = None,
    load_balancer_class: str | None = FAKE_CLASS,
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
                "uid": uid,
                "annotations": annotations,
                "finalizers": [FINALIZER] if finalizer else [],
            },
            "spec": {
                "type": "LoadBalancer",
                "loadBalancerClass": load_balancer_class,
                "ports": [{"name": "http", "port": 80, "protocol": "TCP", "nodePort": 30080}],
            },
        }
    )


def build(provider: FakeProvider, name: str, uid: str) -> str:
    """A load balancer made through the provider (tagged for ``uid``); its id."""
    ref = ServiceRef(cluster=CLUSTER, namespace="ns", name=name, uid=uid)
    desired = DesiredLoadBalancer(
        ref=ref, listeners=(Listener(name="http", port=80, protocol=Protocol.TCP, node_port=30080),)
    )
    return provider.ensure(desired).lb_id


def fake(cloud: FakeCloud | None = None) -> FakeProvider:
    return FakeProvider(FakeSettings(), cluster_name=CLUSTER, cloud=cloud)


def other(cloud: FakeCloud | None = None) -> OtherCloudProvider:
    return OtherCloudProvider(FakeSettings(), cluster_name=CLUSTER, cloud=cloud)


# --- the rules, one by one -------------------------------------------------------------

OWNED = OwnedLoadBalancer(lb_id="lb-1", service_uid="uid-1", service_key="ns/web")
NAMES = {FAKE_CLASS: "fake", OTHER_CLASS: "other", "x.io/fake-2": "fake"}


@pytest.mark.parametrize(
    ("snapshot", "expected"),
    [
        pytest.param(None, OrphanReason.NO_SERVICE, id="no Service has the UID"),
        pytest.param(
            service("web", "uid-1", load_balancer_class="someone.else/lb"),
            OrphanReason.NOT_SERVED,
            id="no finalizer, no record, another controller's class",
        ),
        pytest.param(service("web", "uid-1", finalizer=True), None, id="finalizer only: ours"),
        pytest.param(
            service("web", "uid-1", load_balancer_class="x.io/fake-2"),
            None,
            id="marks stripped but a class of this cloud serves it: a sync adopts it",
        ),
        pytest.param(
            service("web", "uid-1", load_balancer_class=OTHER_CLASS),
            OrphanReason.NOT_SERVED,
            id="marks stripped and a class of another cloud serves it",
        ),
        pytest.param(
            service("web", "uid-1", finalizer=True, recorded_class=FAKE_CLASS),
            None,
            id="record names this class",
        ),
        pytest.param(
            service("web", "uid-1", recorded_class="x.io/fake-2"),
            None,
            id="record names another class of the same cloud",
        ),
        pytest.param(
            service("web", "uid-1", finalizer=True, recorded_class=OTHER_CLASS),
            OrphanReason.OTHER_CLOUD,
            id="record names a class of another cloud",
        ),
        pytest.param(
            service("web", "uid-1", finalizer=True, recorded_class="elsewhere.io/lb"),
            None,
            id="record names a class another controller serves: not ours to judge",
        ),
    ],
)
def test_orphan_rules(snapshot: ServiceSnapshot | None, expected: OrphanReason | None) -> None:
    verdict = classify(OWNED, service=snapshot, provider_name="fake", provider_names=NAMES)
    assert (verdict[0] if verdict else None) == expected


def test_a_class_less_service_is_adopted_only_through_the_default_class() -> None:
    classless = service("web", "uid-1", load_balancer_class=None)
    assert classify(OWNED, service=classless, provider_name="fake", provider_names=NAMES) == (
        OrphanReason.NOT_SERVED,
        "Service ns/web carries neither our finalizer nor our ownership record",
    )
    adopted = classify(
        OWNED,
        service=classless,
        provider_name="fake",
        provider_names=NAMES,
        default_class=FAKE_CLASS,
    )
    assert adopted is None


def test_the_reason_names_the_service_and_the_holding_class() -> None:
    snapshot = service("web", "uid-1", finalizer=True, recorded_class=OTHER_CLASS)
    verdict = classify(OWNED, service=snapshot, provider_name="fake", provider_names=NAMES)
    assert verdict is not None
    assert verdict[1] == (
        "Service ns/web is held by class x.io/other (other), not by this fake load balancer"
    )


# --- sweep() over fake clouds ----------------------------------------------------------


def test_sweep_lists_orphans_and_deletes_only_when_asked() -> None:
    provider = fake()
    kept = build(provider, "web", "uid-web")
    ghost = build(provider, "gone", "uid-gone")
    unserved = build(provider, "plain", "uid-plain")
    services = [
        service("web", "uid-web", finalizer=True, recorded_class=FAKE_CLASS),
        service("plain", "uid-plain", load_balancer_class="someone.else/lb"),
    ]
    providers = {FAKE_CLASS: provider}

    listed = sweep(cluster_name=CLUSTER, providers=providers, list_services=lambda: services)
    assert {(o.lb_id, o.reason) for o in listed.orphans} == {
        (ghost, OrphanReason.NO_SERVICE),
        (unserved, OrphanReason.NOT_SERVED),
    }
    assert listed.deleted == () and listed.errors == ()
    assert listed.remaining_by_class() == {FAKE_CLASS: 2}
    assert {lb.lb_id for lb in provider.load_balancers.values()} == {kept, ghost, unserved}

    swept = sweep(
        cluster_name=CLUSTER, providers=providers, list_services=lambda: services, delete=True
    )
    assert {o.lb_id for o in swept.deleted} == {ghost, unserved}
    assert swept.remaining == ()
    assert {lb.lb_id for lb in provider.load_balancers.values()} == {kept}
    again = sweep(cluster_name=CLUSTER, providers=providers, list_services=lambda: services)
    assert again.orphans == ()


def test_a_load_balancer_left_in_the_old_cloud_after_a_class_change_is_an_orphan() -> None:
    old_cloud, new_cloud = fake(), other()
    leaked = build(old_cloud, "web", "uid-web")
    held = build(new_cloud, "web", "uid-web")
    services = [service("web", "uid-web", finalizer=True, recorded_class=OTHER_CLASS)]

    result = sweep(
        cluster_name=CLUSTER,
        providers={FAKE_CLASS: old_cloud, OTHER_CLASS: new_cloud},
        list_services=lambda: services,
        delete=True,
    )

    assert [(o.load_balancer_class, o.lb_id, o.reason) for o in result.deleted] == [
        (FAKE_CLASS, leaked, OrphanReason.OTHER_CLOUD)
    ]
    assert old_cloud.load_balancers == {}
    assert [lb.lb_id for lb in new_cloud.load_balancers.values()] == [held]


def test_the_cloud_is_listed_before_the_services() -> None:
    # A Service listed first could be followed by its load balancer's creation: an orphan
    # by mistake. Listed after the cloud, every held load balancer's Service is in the list.
    journal: list[str] = []

    class Journaled(FakeProvider):
        def list_owned(self) -> tuple[OwnedLoadBalancer, ...]:
            journal.append("cloud")
            return super().list_owned()

    def services() -> list[ServiceSnapshot]:
        journal.append("services")
        return []

    provider = Journaled(FakeSettings(), cluster_name=CLUSTER)
    sweep(cluster_name=CLUSTER, providers={FAKE_CLASS: provider}, list_services=services)
    assert journal == ["cloud", "services"]


def test_classes_sharing_one_cloud_report_an_orphan_once() -> None:
    cloud = FakeCloud()
    first, second = fake(cloud), fake(cloud)
    ghost = build(first, "gone", "uid-gone")
    result = sweep(
        cluster_name=CLUSTER,
        providers={FAKE_CLASS: first, "x.io/fake-2": second},
        list_services=list,
    )
    assert [o.lb_id for o in result.orphans] == [ghost]


def test_a_deletion_the_cloud_asks_to_retry_is_retried_until_done() -> None:
    provider = fake()
    ghost = build(provider, "gone", "uid-gone")
    provider.fail_next("delete", RetryAfter(5.0), RetryAfter(7.0))
    slept: list[float] = []
    result = sweep(
        cluster_name=CLUSTER,
        providers={FAKE_CLASS: provider},
        list_services=list,
        delete=True,
        sleep=slept.append,
    )
    assert [o.lb_id for o in result.deleted] == [ghost]
    assert slept == [5.0, 7.0]
    assert provider.load_balancers == {}


def test_a_failed_deletion_is_reported_and_the_others_still_go() -> None:
    provider = fake()
    stuck = build(provider, "stuck", "uid-stuck")
    gone = build(provider, "gone", "uid-gone")
    provider.fail_next("delete", CloudError("AccessDenied"), service="ns/stuck")
    result = sweep(
        cluster_name=CLUSTER, providers={FAKE_CLASS: provider}, list_services=list, delete=True
    )
    assert [o.lb_id for o in result.deleted] == [gone]
    assert [o.lb_id for o in result.remaining] == [stuck]
    assert result.errors == (f"{FAKE_CLASS}: cannot delete {stuck}: AccessDenied",)


def test_a_class_that_cannot_be_listed_is_an_error_and_the_others_are_swept() -> None:
    class Broken(FakeProvider):
        def list_owned(self) -> tuple[OwnedLoadBalancer, ...]:
            raise CloudError("listing refused")

    working = fake()
    ghost = build(working, "gone", "uid-gone")
    result = sweep(
        cluster_name=CLUSTER,
        providers={
            "x.io/broken": Broken(FakeSettings(), cluster_name=CLUSTER),
            FAKE_CLASS: working,
        },
        list_services=list,
    )
    assert result.errors == ("x.io/broken: cannot list load balancers: listing refused",)
    assert [o.lb_id for o in result.orphans] == [ghost]
    assert result.remaining_by_class() == {FAKE_CLASS: 1}


# --- the periodic sweep: log lines and the gauge ---------------------------------------


def gauge(load_balancer_class: str) -> float | None:
    return REGISTRY.get_sample_value(
        "lbprovider_orphaned_load_balancers", {"class": load_balancer_class}
    )


def test_periodic_sweep_logs_each_orphan_and_sets_the_gauge_per_class(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with_orphan, clean = fake(), other()
    ghost = build(with_orphan, "gone", "uid-gone")
    periodic = PeriodicSweep(
        cluster_name=CLUSTER,
        providers={"p.io/with-orphan": with_orphan, "p.io/clean": clean},
        list_services=list,
        interval_seconds=3600,
    )
    with caplog.at_level(logging.WARNING, logger="lbprovider.controller.sweep"):
        periodic.run_once()
    lines = [record for record in caplog.records if record.msg == "orphaned load balancer"]
    assert len(lines) == 1
    fields: dict[str, Any] = vars(lines[0])
    assert {key: fields[key] for key in ("load_balancer_class", "lb_id", "service", "reason")} == {
        "load_balancer_class": "p.io/with-orphan",
        "lb_id": ghost,
        "service": "ns/gone",
        "reason": "no-service",
    }
    assert fields["deleted"] is False
    assert gauge("p.io/with-orphan") == 1
    assert gauge("p.io/clean") == 0
    assert with_orphan.find("ns/gone") is not None, "report-only must not delete"


def test_periodic_sweep_with_delete_leaves_the_gauge_at_zero() -> None:
    provider = fake()
    build(provider, "gone", "uid-gone")
    periodic = PeriodicSweep(
        cluster_name=CLUSTER,
        providers={"p.io/deleting": provider},
        list_services=list,
        interval_seconds=3600,
        delete=True,
    )
    result = periodic.run_once()
    assert len(result.deleted) == 1
    assert gauge("p.io/deleting") == 0
    assert provider.load_balancers == {}


def test_periodic_sweep_runs_on_its_timer_until_stopped() -> None:
    provider = fake()
    build(provider, "gone", "uid-gone")
    periodic = PeriodicSweep(
        cluster_name=CLUSTER,
        providers={"p.io/timed": provider},
        list_services=list,
        interval_seconds=0.05,
        first_delay_seconds=0.0,
    )
    periodic.start()
    try:
        deadline = 100
        while gauge("p.io/timed") is None and deadline:
            deadline -= 1
            time.sleep(0.05)
    finally:
        periodic.stop()
    assert gauge("p.io/timed") == 1


def test_periodic_sweep_with_interval_zero_never_sweeps() -> None:
    calls: list[str] = []

    def services() -> list[ServiceSnapshot]:
        calls.append("listed")
        return []

    periodic = PeriodicSweep(
        cluster_name=CLUSTER,
        providers={"p.io/off": fake()},
        list_services=services,
        interval_seconds=0,
        first_delay_seconds=0.0,
    )
    periodic.start()
    time.sleep(0.2)  # a first sweep would have run by now
    periodic.stop()
    assert calls == []


def test_the_first_sweep_waits_for_the_controller_to_settle_not_the_full_delay() -> None:
    provider = fake()
    build(provider, "gone", "uid-gone")
    settled = threading.Event()
    periodic = PeriodicSweep(
        cluster_name=CLUSTER,
        providers={"p.io/settling": provider},
        list_services=list,
        interval_seconds=3600,
        first_delay_seconds=60.0,
        settled=settled.is_set,
    )
    periodic.start()
    try:
        time.sleep(1.5)  # busy: more than one poll, no sweep yet
        assert gauge("p.io/settling") is None
        settled.set()
        deadline = 60
        while gauge("p.io/settling") is None and deadline:
            deadline -= 1
            time.sleep(0.05)
    finally:
        periodic.stop()
    assert gauge("p.io/settling") == 1  # within a poll of settling, not after 60 s
