"""ServiceController.sync without an API server: an in-memory store, a recording writer.

One journal records, in order, every write to a Service and every provider
call, so the tests can say "finalizer before the first cloud call" and
"an unchanged Service costs nothing" exactly.  The writer also applies its
writes to the store, as the API server and a watch would, so a second sync
sees what the first one wrote.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from dataclasses import replace
from typing import Any

import pytest

from lbprovider.cloud import (
    CloudError,
    DesiredLoadBalancer,
    InvalidService,
    LoadBalancerStatus,
    NodeTarget,
    OwnedLoadBalancer,
    PlannedChange,
    RetryAfter,
    ServiceRef,
)
from lbprovider.controller import reasons
from lbprovider.controller.ownership import OWNERSHIP_ANNOTATION, Ownership
from lbprovider.controller.selection import FINALIZER
from lbprovider.controller.service_controller import ServiceController
from lbprovider.kube.events import NORMAL, WARNING
from lbprovider.kube.snapshots import (
    NodeSnapshot,
    ServiceSnapshot,
)
from lbprovider.kube.workqueue import WorkQueue
from lbprovider.testing.fake_provider import FakeProvider, FakeSettings
from lbprovider.testing.kubehelpers import wait_for
from lbprovider.testing.memory import (
    Entry,
    ManualClock,
    MemoryNodeSetRecord,
    MemoryStore,
    RecordingWriter,
)

pytestmark = pytest.mark.unit

CLASS = "x.io/lb"
OTHER_CLASS = "other.io/lb"
SECOND_CLASS = "second.io/lb"
"""A second class this controller serves (another cloud)."""
KEY = "ns/web"
INVALID_RETRY = 120.0


# --- the in-memory store, the recording writer, a journaling provider -----------------


class JournalProvider:
    """The fake provider, with its calls in the shared journal."""

    name = "journal"

    def __init__(self, fake: FakeProvider, journal: list[Entry], *, label: str = "") -> None:
        self.fake = fake
        self.journal = journal
        self.prefix = f"{label}:" if label else ""

    def targets(self, node: NodeTarget) -> bool:
        return self.fake.targets(node)

    def get(self, ref: ServiceRef) -> LoadBalancerStatus | None:
        self.journal.append((f"{self.prefix}get", ref.key))
        return self.fake.get(ref)

    def ensure(self, desired: DesiredLoadBalancer) -> LoadBalancerStatus:
        self.journal.append((f"{self.prefix}ensure", desired.ref.key))
        return self.fake.ensure(desired)

    def update_backends(self, desired: DesiredLoadBalancer) -> None:
        self.journal.append((f"{self.prefix}update_backends", desired.ref.key))
        self.fake.update_backends(desired)

    def delete(self, ref: ServiceRef) -> None:
        self.journal.append((f"{self.prefix}delete", ref.key))
        self.fake.delete(ref)

    def plan(self, desired: DesiredLoadBalancer) -> tuple[PlannedChange, ...]:
        self.journal.append((f"{self.prefix}plan", desired.ref.key))
        return self.fake.plan(desired)

    def list_owned(self) -> tuple[OwnedLoadBalancer, ...]:
        return self.fake.list_owned()


class World:
    """A controller wired to the in-memory parts, and handles on them."""

    def __init__(self, *, default_class: str | None = None) -> None:
        self.journal: list[Entry] = []
        self.store = MemoryStore()
        self.writer = RecordingWriter(self.store, self.journal)
        self.fake = FakeProvider(FakeSettings(), cluster_name="c")
        self.second = FakeProvider(FakeSettings(address_pool="198.51.100.0/24"), cluster_name="c")
        self.clock = ManualClock()
        self.queue = WorkQueue(clock=self.clock)
        self.node_record = MemoryNodeSetRecord()
        self.controller = self.restarted(default_class=default_class)

    def restarted(self, *, default_class: str | None = None) -> ServiceController:
        """A new controller process on the same store, writer and clouds (memory lost),
        started without threads: tests call ``sync`` themselves."""
        controller = ServiceController(
            store=self.store,
            writer=self.writer,
            cluster_name="c",
            providers={
                CLASS: JournalProvider(self.fake, self.journal),
                SECOND_CLASS: JournalProvider(self.second, self.journal, label="second"),
            },
            default_class=default_class,
            invalid_retry_seconds=INVALID_RETRY,
            queue=self.queue,
            workers=0,
            resync_seconds=0,
            node_set_record=self.node_record,
        )
        controller.start()
        return controller

    def service(self, key: str = KEY) -> ServiceSnapshot:
        service = self.store.services.get(key)
        assert service is not None
        return service

    def take(self) -> list[Entry]:
        """The journal so far, emptied."""
        entries = list(self.journal)
        self.journal.clear()
        return entries

    def queued(self) -> list[str]:
        """Keys a worker would get now (drains the ready part of the queue)."""
        keys = []
        while (key := self.queue.get(timeout=0)) is not None:
            keys.append(key)
            self.queue.done(key)
        return keys


def service(
    name: str = "web",
    *,
    finalizers: tuple[str, ...] = (),
    deleting: bool = False,
    labels: Mapping[str, str] | None = None,
    **spec: Any,
) -> ServiceSnapshot:
    body: dict[str, Any] = {
        "type": "LoadBalancer",
        "loadBalancerClass": CLASS,
        "ports": [{"name": "http", "port": 80, "nodePort": 30080}],
    }
    body.update(spec)
    meta: dict[str, Any] = {
        "name": name,
        "namespace": "ns",
        "uid": f"uid-{name}",
        "finalizers": list(finalizers),
        "labels": dict(labels or {}),
    }
    if deleting:
        meta["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    return ServiceSnapshot.parse({"metadata": meta, "spec": body})


def node(name: str, *, ready: bool = True, labels: Mapping[str, str] | None = None) -> NodeSnapshot:
    return NodeSnapshot.parse(
        {
            "metadata": {"name": name, "labels": dict(labels or {})},
            "spec": {"providerID": f"fake://{name}"},
            "status": {
                "addresses": [{"type": "InternalIP", "address": "10.0.0.1"}],
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
            },
        }
    )


def created(world: World, snapshot: ServiceSnapshot | None = None) -> ServiceSnapshot:
    """``snapshot`` (default: ``service()``) served once; the journal and the queue emptied."""
    snapshot = snapshot or service()
    world.store.services.put(snapshot)
    world.controller.sync(snapshot.key)
    world.take()
    world.queued()
    return world.service(snapshot.key)


@pytest.fixture
def world() -> Iterator[World]:
    world = World()
    world.store.nodes.put(node("n1"))
    world.queued()  # node events queue nothing yet; start clean anyway
    yield world


# --- create ---------------------------------------------------------------------------


def test_create_puts_the_finalizer_on_before_the_first_cloud_call(world: World) -> None:
    world.store.services.put(service())
    assert world.queued() == [KEY]
    world.controller.sync(KEY)
    assert world.take() == [
        ("add_finalizer", KEY, FINALIZER),
        ("event", NORMAL, reasons.ENSURING_LOAD_BALANCER),
        ("ensure", KEY),
        ("patch_status", KEY),  # the status and the ownership record, in one write
        ("event", NORMAL, reasons.ENSURED_LOAD_BALANCER),
    ]
    lb = world.fake.find(KEY)
    assert lb is not None and [n.name for n in lb.desired.nodes] == ["n1"]
    shown = world.service()
    assert FINALIZER in shown.meta.finalizers
    recorded = Ownership.from_annotations(shown.meta.annotations)
    assert recorded is not None and recorded.lb_id == lb.lb_id and recorded.digest
    assert [dict(entry) for entry in shown.status_ingress] == [
        {"ip": lb.address, "ipMode": "VIP", "ports": [{"port": 80, "protocol": "TCP"}]}
    ]
    (condition,) = shown.status_conditions
    assert (condition["type"], condition["status"], condition["reason"]) == (
        reasons.CONDITION_TYPE,
        "True",
        reasons.CONDITION_ENSURED,
    )
    assert lb.lb_id in condition["message"]


def test_no_eligible_node_is_a_warning_and_the_load_balancer_is_still_made() -> None:
    world = World()
    world.store.services.put(service())
    world.controller.sync(KEY)
    entries = world.take()
    assert entries[:2] == [
        ("add_finalizer", KEY, FINALIZER),
        ("event", WARNING, reasons.UNAVAILABLE_LOAD_BALANCER),
    ]
    assert ("ensure", KEY) in entries
    assert "There are no available nodes for LoadBalancer" in world.writer.messages


def test_a_failed_finalizer_write_means_no_cloud_call(world: World) -> None:
    world.writer.fail_finalizer = RuntimeError("409 conflict")
    world.store.services.put(service())
    with pytest.raises(RuntimeError):
        world.controller.sync(KEY)
    entries = world.take()
    assert entries[0] == ("add_finalizer", KEY, FINALIZER)
    assert ("event", WARNING, reasons.SYNC_LOAD_BALANCER_FAILED) in entries
    assert world.fake.calls == []


# --- unchanged, status only, backends only, resync --------------------------------------


def test_an_unchanged_service_costs_no_call_and_no_write(world: World) -> None:
    first = created(world)
    world.controller.sync(KEY)
    # Labels are not part of the load balancer.
    world.store.services.put(replace(first, meta=replace(first.meta, labels={"team": "a"})))
    world.controller.sync(KEY)
    assert world.take() == []


def test_a_lost_status_is_rewritten_without_a_provider_call(world: World) -> None:
    first = created(world)
    world.store.services.put(replace(first, status_ingress=()))
    world.controller.sync(KEY)
    assert world.take() == [("patch_status", KEY)]
    assert world.writer.statuses[-1] == {"loadBalancer": {"ingress": list(first.status_ingress)}}
    assert world.service().status_ingress == first.status_ingress


def test_a_node_change_updates_backends_only(world: World) -> None:
    created(world)
    world.store.nodes.put(node("n2"))
    assert world.queued() == [KEY]
    world.controller.sync(KEY)
    assert world.take() == [
        ("update_backends", KEY),
        ("event", NORMAL, reasons.UPDATED_LOAD_BALANCER),
    ]  # no Service write: the node set is recorded once per class, not per Service
    lb = world.fake.find(KEY)
    assert lb is not None and [n.name for n in lb.desired.nodes] == ["n1", "n2"]


def test_a_failed_backend_update_is_an_update_failed_warning(world: World) -> None:
    created(world)
    world.fake.fail_next("update_backends", CloudError("throttled"))
    world.store.nodes.put(node("n2"))
    with pytest.raises(CloudError):
        world.controller.sync(KEY)
    entries = world.take()
    assert entries[:2] == [
        ("update_backends", KEY),
        ("event", WARNING, reasons.UPDATE_LOAD_BALANCER_FAILED),
    ]
    # The next sync tries again: nothing was recorded as applied.
    world.controller.sync(KEY)
    assert world.take()[0] == ("update_backends", KEY)


def test_node_rules_queue_only_what_a_backend_change_touches(world: World) -> None:
    created(world)
    created(world, service("pods", allocateLoadBalancerNodePorts=False))
    world.store.services.put(service("theirs", loadBalancerClass=OTHER_CLASS))
    world.queued()
    # Readiness flaps and unrelated labels do not change the backend set.
    world.store.nodes.put(node("n1", ready=False))
    world.store.nodes.put(node("n1", labels={"rack": "r1"}))
    assert world.queued() == []
    # The exclude label does, for node-port Services of ours only.
    label = "node.kubernetes.io/exclude-from-external-load-balancers"
    world.store.nodes.put(node("n1", labels={label: "true"}))
    assert world.queued() == [KEY]


def test_a_spec_change_is_ensured_and_announced(world: World) -> None:
    first = created(world)
    ports = [{"name": "http", "port": 8080, "nodePort": 30080}]
    changed = replace(service(ports=ports), meta=first.meta, status_ingress=first.status_ingress)
    world.store.services.put(replace(changed, status_conditions=first.status_conditions))
    world.controller.sync(KEY)
    assert world.take() == [
        ("event", NORMAL, reasons.ENSURING_LOAD_BALANCER),
        ("ensure", KEY),
        ("patch_status", KEY),  # ingress ports, the condition's message, the applied digest
        ("event", NORMAL, reasons.ENSURED_LOAD_BALANCER),
    ]


def test_resync_ensures_quietly_and_repairs_drift(world: World) -> None:
    created(world)
    world.controller.resync()
    assert world.queued() == [KEY]
    world.controller.sync(KEY)
    assert world.take() == [("ensure", KEY)]  # unchanged: no Event, no write
    # Someone deleted the load balancer in the cloud: the resync rebuilds it.
    lost = world.fake.find(KEY)
    assert lost is not None
    world.fake.delete(lost.desired.ref)
    world.controller.resync()
    world.controller.sync(KEY)
    # The fake cloud derives id and address from the Service UID, so the rebuilt
    # load balancer answers as before: the Service needs no write.
    assert world.take() == [("ensure", KEY)]
    rebuilt = world.fake.find(KEY)
    assert rebuilt is not None
    assert (rebuilt.lb_id, rebuilt.address) == (lost.lb_id, lost.address)
    # Only one sync per resync call is forced.
    world.controller.sync(KEY)
    assert world.take() == []


# --- errors ---------------------------------------------------------------------------


def test_an_invalid_service_is_a_warning_and_a_condition_retried_slowly(world: World) -> None:
    world.store.services.put(service(ports=[{"name": "sig", "port": 9, "protocol": "SCTP"}]))
    world.queued()
    world.controller.process(KEY)
    assert world.take() == [
        ("add_finalizer", KEY, FINALIZER),
        ("event", WARNING, reasons.SYNC_LOAD_BALANCER_FAILED),
        ("patch_status", KEY),
    ]
    world.queued()  # the watch's echo of our own writes
    assert world.fake.calls == []
    assert "SCTP is not supported" in world.writer.messages[-1]
    (condition,) = world.service().status_conditions
    assert (condition["status"], condition["reason"]) == (
        "False",
        reasons.CONDITION_INVALID_SERVICE,
    )
    # Retried after the slow, fixed delay; not before.
    world.clock.now += INVALID_RETRY - 1
    assert world.queued() == []
    world.clock.now += 1
    assert world.queued() == [KEY]
    # The same failure again: the same Event, but the condition is already shown.
    world.controller.process(KEY)
    assert world.take() == [("event", WARNING, reasons.SYNC_LOAD_BALANCER_FAILED)]


def test_a_provider_invalid_service_is_handled_the_same_way(world: World) -> None:
    world.fake.fail_next("ensure", InvalidService("annotation x: not a number"))
    world.store.services.put(service())
    with pytest.raises(InvalidService):
        world.controller.sync(KEY)
    assert world.take()[-2:] == [
        ("event", WARNING, reasons.SYNC_LOAD_BALANCER_FAILED),
        ("patch_status", KEY),
    ]
    assert world.writer.statuses[-1]["conditions"][0]["reason"] == "InvalidService"


def test_retry_after_requeues_after_its_delay_without_a_warning(world: World) -> None:
    world.fake.fail_next("ensure", RetryAfter(7.0, "provisioning"))
    world.store.services.put(service())
    world.queued()
    world.controller.process(KEY)
    assert world.take() == [
        ("add_finalizer", KEY, FINALIZER),
        ("event", NORMAL, reasons.ENSURING_LOAD_BALANCER),
        ("ensure", KEY),
    ]
    world.queued()  # the watch's echo of our own writes
    world.clock.now += 6.9
    assert world.queued() == []
    world.clock.now += 0.1
    assert world.queued() == [KEY]
    world.controller.process(KEY)
    assert world.take() == [
        ("event", NORMAL, reasons.ENSURING_LOAD_BALANCER),
        ("ensure", KEY),
        ("patch_status", KEY),
        ("event", NORMAL, reasons.ENSURED_LOAD_BALANCER),
    ]


def test_other_errors_back_off_with_a_warning_and_a_condition(world: World) -> None:
    world.fake.fail_next("ensure", CloudError("throttled"))
    world.store.services.put(service())
    world.queued()
    world.controller.process(KEY)
    assert world.take()[-3:] == [
        ("ensure", KEY),
        ("event", WARNING, reasons.SYNC_LOAD_BALANCER_FAILED),
        ("patch_status", KEY),
    ]
    assert world.writer.statuses[-1]["conditions"][0]["reason"] == reasons.CONDITION_SYNC_FAILED
    world.queued()  # the watch's echo of our own writes
    world.clock.now += 4.9  # the first backoff step is 5 s
    assert world.queued() == []
    world.clock.now += 0.1
    assert world.queued() == [KEY]


# --- cleanup --------------------------------------------------------------------------


def test_deletion_deletes_in_the_cloud_then_removes_the_finalizer(world: World) -> None:
    first = created(world)
    world.store.services.put(replace(first, meta=replace(first.meta, deleting=True)))
    assert world.queued() == [KEY]
    world.controller.sync(KEY)
    assert world.take() == [
        ("event", NORMAL, reasons.DELETING_LOAD_BALANCER),
        ("delete", KEY),
        ("remove_finalizer", KEY, FINALIZER),  # no status patch on a Service being deleted
        ("event", NORMAL, reasons.DELETED_LOAD_BALANCER),
    ]
    assert world.fake.find(KEY) is None
    assert world.store.services.get(KEY) is None


def test_a_failed_cloud_delete_keeps_the_finalizer(world: World) -> None:
    first = created(world)
    world.fake.fail_next("delete", CloudError("cloud unreachable"))
    world.store.services.put(replace(first, meta=replace(first.meta, deleting=True)))
    with pytest.raises(CloudError):
        world.controller.sync(KEY)
    assert world.take() == [
        ("event", NORMAL, reasons.DELETING_LOAD_BALANCER),
        ("delete", KEY),
        ("event", WARNING, reasons.SYNC_LOAD_BALANCER_FAILED),
    ]
    assert FINALIZER in world.service().meta.finalizers
    world.controller.sync(KEY)
    assert ("remove_finalizer", KEY, FINALIZER) in world.take()
    assert world.store.services.get(KEY) is None


def test_a_type_change_cleans_the_cloud_and_the_status(world: World) -> None:
    first = created(world)
    cluster_ip = service(type="ClusterIP", loadBalancerClass=None)
    world.store.services.put(
        replace(
            cluster_ip,
            meta=first.meta,
            status_ingress=first.status_ingress,
            status_conditions=first.status_conditions,
        )
    )
    world.controller.sync(KEY)
    assert world.take() == [
        ("event", NORMAL, reasons.DELETING_LOAD_BALANCER),
        ("delete", KEY),
        ("patch_status", KEY),
        ("remove_finalizer", KEY, FINALIZER),
        ("event", NORMAL, reasons.DELETED_LOAD_BALANCER),
    ]
    assert world.writer.statuses[-1] == {
        "loadBalancer": {"ingress": None},
        "conditions": [{"type": reasons.CONDITION_TYPE, "$patch": "delete"}],
    }
    shown = world.service()
    assert shown.status_ingress == () and shown.status_conditions == ()
    assert FINALIZER not in shown.meta.finalizers
    assert world.fake.find(KEY) is None
    world.controller.sync(KEY)  # nothing of ours left on it
    assert world.take() == []


def test_a_finalizer_removed_by_hand_still_cleans_the_cloud(world: World) -> None:
    created(world)
    world.store.services.remove(KEY)  # deleted without our finalizer
    assert world.queued() == [KEY]
    world.controller.sync(KEY)
    assert world.take() == [("delete", KEY)]
    assert world.fake.find(KEY) is None


# --- not ours -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "snapshot",
    [
        service(loadBalancerClass=OTHER_CLASS),
        service(loadBalancerClass=None),
        service(type="NodePort", loadBalancerClass=None),
    ],
    ids=["another class", "no class and no default", "not a LoadBalancer"],
)
def test_a_service_not_served_is_never_touched(world: World, snapshot: ServiceSnapshot) -> None:
    world.store.services.put(snapshot)
    assert world.queued() == []  # not even queued
    world.controller.sync(KEY)
    assert world.take() == []
    assert world.fake.calls == []


def test_a_default_class_serves_services_without_a_class() -> None:
    world = World(default_class=CLASS)
    world.store.services.put(service(loadBalancerClass=None))
    assert world.queued() == [KEY]
    world.controller.sync(KEY)
    assert ("ensure", KEY) in world.take()


def test_stop_closes_the_writer(world: World) -> None:
    world.controller.stop(timeout=1)
    assert world.take() == [("close",)]


# --- the ownership record: what survives a restart --------------------------------------


def test_the_ownership_record_is_written_with_the_finalizer_before_any_cloud_call(
    world: World,
) -> None:
    seen: list[Ownership | None] = []
    original = world.fake.ensure

    def ensure(desired: DesiredLoadBalancer) -> LoadBalancerStatus:
        seen.append(Ownership.from_annotations(world.service().meta.annotations))
        return original(desired)

    world.fake.ensure = ensure  # type: ignore[method-assign]  # observe, not replace
    world.store.services.put(service())
    world.controller.sync(KEY)
    assert seen == [Ownership(load_balancer_class=CLASS)]
    recorded = Ownership.from_annotations(world.service().meta.annotations)
    lb = world.fake.find(KEY)
    assert recorded is not None and lb is not None
    assert (recorded.load_balancer_class, recorded.lb_id) == (CLASS, lb.lb_id)
    assert recorded.digest


def test_a_restart_with_a_matching_record_makes_no_cloud_call(world: World) -> None:
    created(world)
    world.controller = world.restarted()
    world.controller.sync(KEY)
    assert world.take() == []  # no provider call, no write, no Event
    # The restarted process knows what was applied: a node change is the cheap path.
    world.store.nodes.put(node("n2"))
    world.controller.sync(KEY)
    assert [entry[0] for entry in world.take()][:1] == ["update_backends"]


def _two_served(world: World) -> list[str]:
    created(world)
    api = created(world, service("api", ports=[{"name": "http", "port": 80, "nodePort": 30081}]))
    return [KEY, api.key]


def _drain(world: World) -> list[str]:
    """Process every ready key as a worker would (outcome-driven requeues included)."""
    keys = []
    while (key := world.queue.get(timeout=0)) is not None:
        keys.append(key)
        try:
            world.controller.process(key)
        finally:
            world.queue.done(key)
    return keys


def test_a_node_round_is_recorded_once_per_class_when_every_load_balancer_took_it(
    world: World,
) -> None:
    keys = _two_served(world)
    saves = world.node_record.saves
    world.store.nodes.put(node("n2"))
    assert sorted(_drain(world)) == sorted(keys)
    assert sorted(e for e in world.take() if e[0] != "event") == sorted(
        ("update_backends", key) for key in keys
    )  # one backend update per load balancer and no Service write
    # One record write per class: ours after its round, the second class (no Services
    # of its own, same fake nodes) at once.
    assert world.node_record.saves == saves + 2
    # A restart now trusts the record: no provider call at all.
    world.controller = world.restarted()
    assert _drain(world) == []
    for key in keys:
        world.controller.sync(key)
    assert world.take() == []


def test_a_node_added_while_down_costs_one_backend_update_per_load_balancer(
    world: World,
) -> None:
    keys = _two_served(world)
    world.store.nodes.put(node("n2"))
    world.queued()  # the controller "was down": the queued node round is lost
    world.controller = world.restarted()
    assert sorted(_drain(world)) == sorted(keys)
    journal = [e for e in world.take() if e[0] != "event"]
    assert sorted(journal) == sorted(("update_backends", key) for key in keys)  # not ensure
    for key in keys:
        lb = world.fake.find(key)
        assert lb is not None and [n.name for n in lb.desired.nodes] == ["n1", "n2"]
    # The round finished and was recorded: the next restart is free again.
    world.controller = world.restarted()
    assert _drain(world) == []


def test_a_restart_in_the_middle_of_a_node_round_updates_every_load_balancer(
    world: World,
) -> None:
    keys = _two_served(world)
    world.store.nodes.put(node("n2"))
    first, second = world.queued()  # a worker takes both ...
    world.queue.add(first)
    _drain(world)  # ... and finishes only the first before the process dies
    world.take()
    world.controller = world.restarted()
    assert sorted(_drain(world)) == sorted(keys)
    assert sorted(e for e in world.take() if e[0] != "event") == sorted(
        ("update_backends", key) for key in keys
    )
    assert second in keys


def test_a_node_of_another_cloud_costs_nothing(world: World) -> None:
    created(world)
    world.store.nodes.put(
        NodeSnapshot.parse(
            {
                "metadata": {"name": "elsewhere"},
                "spec": {"providerID": "aws:///us-east-1a/i-0abc"},
                "status": {
                    "addresses": [{"type": "InternalIP", "address": "10.0.9.9"}],
                    "conditions": [{"type": "Ready", "status": "True"}],
                },
            }
        )
    )
    assert world.queued() == []
    assert world.take() == []


def test_a_restart_after_a_change_made_while_down_ensures_it(world: World) -> None:
    first = created(world)
    world.controller = world.restarted()
    ports = [{"name": "http", "port": 8080, "nodePort": 30080}]
    changed = replace(service(ports=ports), meta=first.meta, status_ingress=first.status_ingress)
    world.store.services.put(replace(changed, status_conditions=first.status_conditions))
    world.controller.sync(KEY)
    assert ("ensure", KEY) in world.take()


def test_a_class_change_cleans_the_old_class_before_building_in_the_new(world: World) -> None:
    first = created(world)
    old_lb = world.fake.find(KEY)
    assert old_lb is not None
    # Type away and back with another class while the controller was down: the API
    # server shows only the end state, the record still names the first class.
    world.controller = world.restarted()
    moved = replace(service(loadBalancerClass=SECOND_CLASS), meta=first.meta)
    world.store.services.put(moved)
    world.controller.sync(KEY)
    journal = world.take()
    calls = [entry for entry in journal if entry[0] in ("delete", "second:ensure")]
    assert calls == [("delete", KEY), ("second:ensure", KEY)]
    assert world.fake.find(KEY) is None
    assert world.second.find(KEY) is not None
    recorded = Ownership.from_annotations(world.service().meta.annotations)
    assert recorded is not None and recorded.load_balancer_class == SECOND_CLASS


def test_a_type_change_cleans_the_recorded_class_only_and_drops_the_record(world: World) -> None:
    first = created(world)
    away = replace(service(type="ClusterIP", loadBalancerClass=None), meta=first.meta)
    world.store.services.put(away)
    world.controller.sync(KEY)
    calls = [entry for entry in world.take() if "delete" in entry[0]]
    assert calls == [("delete", KEY)]  # the second class is not asked
    shown = world.service()
    assert FINALIZER not in shown.meta.finalizers
    assert Ownership.from_annotations(shown.meta.annotations) is None


def test_a_deleted_service_whose_finalizer_was_stripped_is_cleaned_from_its_record(
    world: World,
) -> None:
    created(world, service(loadBalancerClass=SECOND_CLASS))
    world.controller = world.restarted()  # nothing applied in memory: only the record knows
    world.store.services.remove(KEY)
    assert world.queued() == [KEY]
    world.controller.sync(KEY)
    assert [entry for entry in world.take() if "delete" in entry[0]] == [("second:delete", KEY)]
    assert world.second.find(KEY) is None


def test_the_record_is_not_part_of_what_providers_see(world: World) -> None:
    created(world)
    lb = world.fake.find(KEY)
    assert lb is not None
    assert OWNERSHIP_ANNOTATION not in lb.desired.ref.annotations


def test_the_periodic_resync_is_spread_over_its_period(world: World) -> None:
    for name in ("a", "b", "c", "d"):
        created(world, service(name))
    world.controller.resync(spread=100.0)
    assert world.queued() == []  # nothing at once: no burst
    seen: list[str] = []
    for _ in range(100):
        world.clock.now += 1.0
        seen += world.queued()
    assert sorted(seen) == ["ns/a", "ns/b", "ns/c", "ns/d"]  # each once within the period


# --- metrics --------------------------------------------------------------------------


def _sample(name: str, labels: Mapping[str, str] | None = None) -> float:
    from prometheus_client import REGISTRY  # noqa: PLC0415  # only the metrics tests read it

    value = REGISTRY.get_sample_value(name, dict(labels or {}))
    return 0.0 if value is None else value


def test_syncs_are_counted_per_class_and_configurations_in_upstreams_series(
    world: World,
) -> None:
    ok = {"class": SECOND_CLASS, "result": "ok"}
    syncs, configured = (
        _sample("lbprovider_service_syncs_total", ok),
        _sample("service_controller_loadbalancer_sync_total"),
    )
    world.store.services.put(service(loadBalancerClass=SECOND_CLASS))
    world.controller.process(KEY)
    world.controller.process(KEY)  # unchanged: a sync, but no load balancer configured
    assert _sample("lbprovider_service_syncs_total", ok) == syncs + 2
    assert _sample("service_controller_loadbalancer_sync_total") == configured + 1
    timed = _sample("lbprovider_service_sync_duration_seconds_count", {"class": SECOND_CLASS})
    assert timed >= 2


def test_a_node_change_is_timed_in_upstreams_node_sync_series(world: World) -> None:
    created(world)
    node_syncs = _sample("service_controller_nodesync_latency_seconds_count")
    updates = _sample("service_controller_update_loadbalancer_host_latency_seconds_count")
    errors = _sample("service_controller_nodesync_error_total")
    world.fake.fail_next("update_backends", CloudError("down"))
    world.store.nodes.put(node("n2"))
    world.controller.process(KEY)  # fails: backs off
    assert _sample("service_controller_nodesync_error_total") == errors + 1
    assert _sample("service_controller_nodesync_latency_seconds_count") == node_syncs + 1
    world.controller.process(KEY)  # the retry succeeds
    assert _sample("service_controller_update_loadbalancer_host_latency_seconds_count") == (
        updates + 2
    )
    assert _sample("service_controller_nodesync_error_total") == errors + 1


def test_a_failing_service_waits_its_backoff_despite_its_own_status_writes(world: World) -> None:
    # Each failure patches the condition (its message names the cloud's request id):
    # the watch's echo of that write must not requeue the Service ahead of its backoff.
    for attempt in range(3):
        world.fake.fail_next("ensure", CloudError(f"boom (RequestId r-{attempt})"))
    world.store.services.put(service())
    world.queued()
    world.controller.process(KEY)
    assert ("patch_status", KEY) in world.take()
    # Neither the finalizer and ownership record written before the cloud call nor the
    # condition requeue it: the first failure's 5 s hold.
    assert world.queued() == []
    world.clock.now += 4.9
    assert world.queued() == []
    world.clock.now += 0.2  # the 5 s base delay
    assert world.queued() == [KEY]
    world.controller.process(KEY)
    assert ("patch_status", KEY) in world.take()  # a new request id: a new condition
    assert world.queued() == []  # the second failure doubles the delay
    world.clock.now += 9.9
    assert world.queued() == []
    world.clock.now += 0.2
    assert world.queued() == [KEY]


def test_a_lost_ingress_after_success_is_still_repaired(world: World) -> None:
    first = created(world)
    world.store.services.put(replace(first, status_ingress=()))  # someone wiped it
    assert world.queued() == [KEY]


class LateEchoes:
    """The Services as the API server holds them, ahead of the watch: the writer's writes
    wait in ``pending`` until the test delivers them to the controller's store."""

    def __init__(self, store: MemoryStore) -> None:
        self.services = self
        self._store = store
        self.pending: list[ServiceSnapshot] = []

    def get(self, key: str) -> ServiceSnapshot | None:
        return self.pending[-1] if self.pending else self._store.services.get(key)

    def put(self, snapshot: ServiceSnapshot) -> None:
        self.pending.append(snapshot)


def test_the_finalizers_echo_arriving_after_the_status_write_queues_nothing(
    world: World,
) -> None:
    # A create writes twice (finalizer, then status); when the finalizer's echo reaches
    # the cache only after the status was written, it still shows no ingress.  A sync
    # on it would write the same status again (9 extra PATCHes per 1,000 creates).
    late = LateEchoes(world.store)
    world.writer.store = late  # type: ignore[assignment]
    world.store.services.put(service())
    assert world.queued() == [KEY]
    world.controller.process(KEY)
    writes = [entry[0] for entry in world.take() if entry[0] != "event"]
    assert writes == ["add_finalizer", "ensure", "patch_status"]
    finalizer_echo, status_echo = late.pending
    world.store.services.put(finalizer_echo)
    assert world.queued() == []
    world.store.services.put(status_echo)
    assert world.queued() == []
    assert world.service().status_ingress  # served, written once


class GatedTargets(JournalProvider):
    """The fake provider, whose node filter can hold a node rescan half-way."""

    def __init__(self, fake: FakeProvider) -> None:
        super().__init__(fake, [])
        self.gate = threading.Event()
        self.gate.set()
        self.rescans = 0

    def targets(self, node: NodeTarget) -> bool:
        if node.name == "n0":  # the first node of every rescan
            self.rescans += 1
            self.gate.wait(1)
        return self.fake.targets(node)


def test_a_burst_of_node_changes_costs_a_rescan_or_two_not_one_per_event() -> None:
    # A thousand Nodes joining used to rescan every Node once per event, on the informer's
    # thread: O(nodes^2). The node-sync thread takes a burst in one or two rescans.
    store = MemoryStore()
    provider = GatedTargets(FakeProvider(FakeSettings(), cluster_name="c"))
    controller = ServiceController(
        store=store,
        writer=RecordingWriter(store),
        cluster_name="c",
        providers={CLASS: provider},
        workers=1,
        resync_seconds=0,
        node_set_record=MemoryNodeSetRecord(),
    )
    store.nodes.put(node("n0"))
    store.services.put(service())
    controller.start(sync_timeout=5)
    try:
        wait_for(lambda: provider.fake.find(KEY), timeout=10, what="the load balancer")
        provider.rescans = 0
        provider.gate.clear()  # the first rescan waits until every event is in
        for index in range(1, 31):
            store.nodes.put(node(f"n{index}"))
        provider.gate.set()

        def all_nodes() -> bool | None:
            lb = provider.fake.find(KEY)
            return (lb is not None and len(lb.desired.nodes) == 31) or None

        wait_for(all_nodes, timeout=10, what="every node behind the load balancer")
    finally:
        controller.stop(timeout=5)
    assert 1 <= provider.rescans <= 2
