"""The crash matrix: SIGKILL the controller right after its k-th cloud write, restart, converge.

For each cloud and each operation (create; update: ports change, backends
change; type change away and back; class change to another cloud's class;
delete) a controller process of its own (cluster ``crash``, classes
``lbprovider.io/crash-<cloud>``, beside the session's) makes the change.  The
mock holds every write after the k-th unanswered and unapplied (the kit's
``hang`` fault, counted at the mock), the test SIGKILLs the process the moment
the k-th write is done, clears the fault, starts a new process and waits for
convergence.  Then it judges by the clouds' own state (:mod:`cloud_audit`):
exactly the objects the wanted Services need, no orphan, no duplicate per
owner UID, no listener, target or vServer group or node security-group rule
left behind; and by Kubernetes: a Service that wants a load balancer has
ingress and the finalizer, one that does not has neither, deletions complete.

``make test`` runs one k per operation and cloud (k = 1: the kill right after
the first write, the classic duplicate-after-crash-mid-create point);
``LBPROVIDER_RELIABILITY=full`` (``make test-reliability``) first counts the
writes N an operation makes and then runs every k from 1 to N, and prints the
figures.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from cloud_audit import Findings, Wanted, holdings, problems, report
from lbprovider.controller.ownership import OWNERSHIP_ANNOTATION
from lbprovider.controller.selection import EXCLUDE_LABEL, FINALIZER
from lbprovider.mockkit import MockAdmin
from lbprovider.testing.harness import SandboxRun
from lbprovider.testing.kubehelpers import WaitTimeout, wait_for
from second_controller import Restartable, class_entry, write_config

pytestmark = pytest.mark.e2e

FULL = os.environ.get("LBPROVIDER_RELIABILITY") == "full"
CLOUDS = ("aws", "alibaba", "tencent")
OPERATIONS = ("create", "ports", "backends", "type-away-and-back", "class-change", "delete")
CLUSTER = "crash"
NEXT_CLOUD = {"aws": "alibaba", "alibaba": "tencent", "tencent": "aws"}
"""Where a class change moves each cloud's Service."""
CONVERGE_TIMEOUT = 120.0
HTTP = {"name": "http", "protocol": "TCP", "port": 80, "targetPort": 9376}
HTTPS = {"name": "https", "protocol": "TCP", "port": 443, "targetPort": 9377}


def class_of(cloud: str) -> str:
    return f"lbprovider.io/crash-{cloud}"


@dataclass
class Figures:
    """What the matrix found, per cloud (printed at the end)."""

    cases: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLOUDS, 0))
    orphans: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLOUDS, 0))
    duplicates: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLOUDS, 0))
    leftovers: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLOUDS, 0))
    stuck: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLOUDS, 0))
    kills: dict[str, int] = field(default_factory=lambda: dict.fromkeys(CLOUDS, 0))
    """SIGKILLs made with exactly k writes done (the (k+1)-th held, or none came)."""
    writes: dict[tuple[str, str], int] = field(default_factory=dict)
    """(cloud, operation) -> the writes N it makes (full runs)."""
    failures: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.monotonic)

    def add(self, cloud: str, case: str, findings: Findings, *, stuck: bool) -> None:
        self.cases[cloud] += 1
        self.orphans[cloud] += len(findings.orphans)
        self.duplicates[cloud] += len(findings.duplicates)
        self.leftovers[cloud] += len(findings.leftovers)
        self.stuck[cloud] += int(stuck)
        if findings or stuck:
            self.failures.append(f"{case}: stuck={stuck} {findings}")

    def report(self) -> str:
        lines = [
            f"crash matrix ({'full' if FULL else 'reduced: k=1'}), "
            f"{time.monotonic() - self.started:.0f}s:"
        ]
        for cloud in CLOUDS:
            ops = ", ".join(
                f"{op} N={self.writes[(cloud, op)]}"
                for op in OPERATIONS
                if (cloud, op) in self.writes
            )
            lines.append(
                f"  {cloud:8} cases {self.cases[cloud]:3}  orphans {self.orphans[cloud]}  "
                f"duplicates {self.duplicates[cloud]}  leftovers {self.leftovers[cloud]}  "
                f"stuck {self.stuck[cloud]}  kills {self.kills[cloud]}"
                + (f"  (writes per operation: {ops})" if ops else "")
            )
        return "\n".join(lines)


class Rig(Restartable):
    """The crash controller process and the mocks' admin interfaces."""

    def __init__(self, e2e: SandboxRun, directory: Path) -> None:
        config = write_config(
            directory / "crash.yaml",
            cluster_name=CLUSTER,
            classes=[class_entry(e2e, cloud, name=class_of(cloud)) for cloud in CLOUDS],
        )
        super().__init__(e2e, config)
        self.admins = {
            cloud: MockAdmin(e2e.sandbox.mock_clouds[cloud].endpoint) for cloud in CLOUDS
        }

    def writes(self) -> dict[str, int]:
        return {cloud: admin.counters().writes for cloud, admin in self.admins.items()}

    def quiet(self, *, seconds: float = 0.6, timeout: float = 60.0) -> dict[str, int]:
        """Wait until no mock has seen a write for ``seconds``; the counts then."""
        deadline = time.monotonic() + timeout
        last = self.writes()
        since = time.monotonic()
        while time.monotonic() < deadline:
            time.sleep(0.1)
            now = self.writes()
            if now != last:
                last, since = now, time.monotonic()
            elif time.monotonic() - since >= seconds:
                return now
        return last

    def clear_faults(self) -> None:
        for admin in self.admins.values():
            admin.clear_faults()

    def states(self) -> dict[str, Any]:
        return {cloud: admin.state() for cloud, admin in self.admins.items()}


@pytest.fixture(scope="module")
def figures() -> Iterator[Figures]:
    found = Figures()
    yield found
    report(found.report())


@pytest.fixture(scope="module")
def rig(e2e: SandboxRun, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rig]:
    running = Rig(e2e, tmp_path_factory.mktemp("crash"))
    running.start()
    try:
        yield running
    finally:
        running.stop()
        running.clear_faults()


# --- Kubernetes side -------------------------------------------------------------------


def manifest(name: str, cloud: str, ports: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name},
        "spec": {
            "type": "LoadBalancer",
            "loadBalancerClass": class_of(cloud),
            "selector": {"app.kubernetes.io/name": "MyApp"},
            "ports": ports or [HTTP],
        },
    }


def service_path(namespace: str, name: str) -> str:
    return f"/api/v1/namespaces/{namespace}/services/{name}"


def nodes_of(e2e: SandboxRun, cloud: str) -> list[str]:
    return [instance.node_name for instance in e2e.sandbox.mock_clouds[cloud].instances]


def eligible(e2e: SandboxRun, cloud: str) -> int:
    count = 0
    for node in nodes_of(e2e, cloud):
        labels = e2e.cluster.api.request("GET", f"/api/v1/nodes/{node}")["metadata"].get("labels")
        count += int(EXCLUDE_LABEL not in (labels or {}))
    return count


def label_node(e2e: SandboxRun, node: str, *, exclude: bool) -> None:
    e2e.cluster.patch(
        f"/api/v1/nodes/{node}",
        {"metadata": {"labels": {EXCLUDE_LABEL: "true" if exclude else None}}},
    )


def wanted_of(e2e: SandboxRun, service: dict[str, Any]) -> Wanted | None:
    """What the clouds should hold for ``service`` (None: nothing)."""
    spec = service["spec"]
    cloud = next((c for c in CLOUDS if spec.get("loadBalancerClass") == class_of(c)), None)
    if (
        spec.get("type") != "LoadBalancer"
        or cloud is None
        or service["metadata"].get("deletionTimestamp")
    ):
        return None
    ports = spec.get("ports") or []
    return Wanted(
        uid=service["metadata"]["uid"],
        cloud=cloud,
        listeners=frozenset(f"{p['protocol']}:{p['port']}" for p in ports),
        backends=eligible(e2e, cloud),
        node_ports=frozenset(int(p["nodePort"]) for p in ports if p.get("nodePort")),
    )


def kube_problems(e2e: SandboxRun, namespace: str, names: list[str]) -> list[str]:
    """Services whose Kubernetes side has not converged."""
    found = []
    for name in names:
        service = e2e.cluster.service(namespace, name)
        if service is None:
            continue
        wants = wanted_of(e2e, service) is not None
        finalized = FINALIZER in (service["metadata"].get("finalizers") or [])
        ingress = bool(((service.get("status") or {}).get("loadBalancer") or {}).get("ingress"))
        if service["metadata"].get("deletionTimestamp"):
            found.append(f"{name}: deletion not complete")
        elif wants and not (finalized and ingress):
            found.append(f"{name}: wants a load balancer, finalizer={finalized} ingress={ingress}")
        elif not wants and (finalized or ingress):
            found.append(f"{name}: wants none, finalizer={finalized} ingress={ingress}")
    return found


def audit(rig: Rig, namespace: str, names: list[str]) -> tuple[Findings, list[str]]:
    """The clouds' problems for this namespace's Services, and the Kubernetes side's."""
    wanted = []
    for name in names:
        service = rig.e2e.cluster.service(namespace, name)
        if service is not None and (item := wanted_of(rig.e2e, service)) is not None:
            wanted.append(item)
    return problems(holdings(rig.states(), CLUSTER), wanted), kube_problems(
        rig.e2e, namespace, names
    )


def converge(
    rig: Rig, namespace: str, names: list[str], *, timeout: float
) -> tuple[Findings, bool]:
    """Wait until the clouds and Kubernetes agree with the Services; (findings, stuck)."""
    deadline = time.monotonic() + timeout
    while True:
        findings, kube = audit(rig, namespace, names)
        if not findings and not kube:
            return findings, False
        if time.monotonic() > deadline:
            print(f"\nnot converged: {findings} {kube}")
            return findings, bool(kube) or bool(findings.missing)
        time.sleep(0.5)


def owned_by_nobody(service: dict[str, Any] | None) -> bool:
    """The Service no longer holds a load balancer (or is gone)."""
    if service is None:
        return True
    meta = service["metadata"]
    return FINALIZER not in (meta.get("finalizers") or []) and OWNERSHIP_ANNOTATION not in (
        meta.get("annotations") or {}
    )


# --- one case ----------------------------------------------------------------------------


@dataclass
class Case:
    cloud: str
    operation: str
    k: int | None
    """None: no crash (the counting run)."""
    name: str
    namespace: str


def setup(rig: Rig, case: Case) -> None:
    if case.operation == "create":
        return
    rig.e2e.cluster.create_service(case.namespace, manifest(case.name, case.cloud))
    findings, stuck = converge(rig, case.namespace, [case.name], timeout=CONVERGE_TIMEOUT)
    assert not findings and not stuck, f"setup of {case.name} did not converge: {findings}"


def operate(rig: Rig, case: Case) -> Callable[[], bool] | None:
    """Make the change; for a two-step change, the second step (True once made)."""
    cluster = rig.e2e.cluster
    path = service_path(case.namespace, case.name)
    if case.operation == "create":
        cluster.create_service(case.namespace, manifest(case.name, case.cloud))
    elif case.operation == "ports":
        cluster.patch(path, {"spec": {"ports": [HTTP, HTTPS]}})
    elif case.operation == "backends":
        label_node(rig.e2e, nodes_of(rig.e2e, case.cloud)[0], exclude=True)
    elif case.operation == "delete":
        cluster.api.request("DELETE", path)
    elif case.operation == "type-away-and-back":
        before = cluster.service(case.namespace, case.name) or {}
        cluster.patch(path, {"spec": {"type": "ClusterIP"}})
        back: dict[str, Any] = {
            "spec": {"type": "LoadBalancer", "loadBalancerClass": class_of(case.cloud)}
        }
        if case.cloud == "aws":
            # moto keys targets by instance id alone (DESIGN §5): registering the new
            # nodePort and deregistering the old one leaves none.  Keep the nodePort so
            # the case tests us, not that gap.
            back["spec"]["ports"] = before["spec"]["ports"]
        return lambda: bool(cluster.patch(path, back))
    elif case.operation == "class-change":
        target = NEXT_CLOUD[case.cloud]
        cluster.patch(path, {"spec": {"type": "ClusterIP"}})
        cluster.patch(
            path, {"spec": {"type": "LoadBalancer", "loadBalancerClass": class_of(target)}}
        )
    return None


def involved(case: Case) -> list[str]:
    """The mocks an operation writes to, in the order it writes to them."""
    if case.operation == "class-change":
        return [case.cloud, NEXT_CLOUD[case.cloud]]
    return [case.cloud]


def run_case(
    rig: Rig, case: Case, *, first_part: int
) -> tuple[Findings, bool, bool, dict[str, int]]:
    """One case; (findings, stuck, killed with exactly k writes made, writes per involved
    cloud; the held write of a killed case included).  ``first_part``: for a class change,
    the writes the old cloud takes (the hang rules split k between the two mocks)."""
    cluster = rig.e2e.cluster
    setup(rig, case)
    clouds = involved(case)
    base = rig.quiet()
    if case.k is not None:
        budgets = (
            [min(case.k, first_part), max(0, case.k - first_part)] if len(clouds) > 1 else [case.k]
        )
        for cloud, after in zip(clouds, budgets, strict=True):
            rig.admins[cloud].inject_fault(
                "Hang", kind="hang", scope="writes", after=after, count=None
            )

    def made() -> int:
        now = rig.writes()
        return sum(now[cloud] - base[cloud] for cloud in clouds)

    second_step = operate(rig, case)
    if case.k is not None:
        reached_at: float | None = None
        last, last_change = 0, time.monotonic()
        deadline = time.monotonic() + CONVERGE_TIMEOUT
        while time.monotonic() < deadline:
            count = made()
            if count != last:
                last, last_change = count, time.monotonic()
            if count >= case.k + 1:
                break  # the (k+1)-th write is held: exactly k were made
            if count >= case.k:
                reached_at = reached_at or time.monotonic()
                if time.monotonic() - reached_at >= 1.0:
                    break
            if (
                second_step is not None
                and owned_by_nobody(cluster.service(case.namespace, case.name))
                and time.monotonic() - last_change > 1.0
            ):
                second_step()  # the away step finished before the k-th write
                second_step = None
            elif time.monotonic() - last_change > 20.0:
                break  # this run made fewer writes than k: kill anyway
            time.sleep(0.02)
        # The hang rules let exactly k writes through; any beyond were held, unapplied.
        exactly = made() >= case.k
        rig.kill()
        rig.clear_faults()
        if second_step is not None:
            second_step()  # back to LoadBalancer while the controller is down
        rig.start()
    else:
        exactly = False
    if case.k is None and second_step is not None:
        wait_for(
            lambda: owned_by_nobody(cluster.service(case.namespace, case.name)),
            timeout=CONVERGE_TIMEOUT,
            what=f"{case.name} away from LoadBalancer",
        )
        second_step()
    findings, stuck = converge(rig, case.namespace, [case.name], timeout=CONVERGE_TIMEOUT)
    now = rig.writes()
    return findings, stuck, exactly, {cloud: now[cloud] - base[cloud] for cloud in clouds}


def cleanup(rig: Rig, case: Case) -> Findings:
    """Delete the case's Service with the running controller and check the clouds are clean."""
    cluster = rig.e2e.cluster
    if case.operation == "backends":
        label_node(rig.e2e, nodes_of(rig.e2e, case.cloud)[0], exclude=False)
    if cluster.service(case.namespace, case.name) is not None:
        with contextlib.suppress(Exception):
            cluster.api.request("DELETE", service_path(case.namespace, case.name))
    with contextlib.suppress(WaitTimeout):
        wait_for(
            lambda: cluster.service(case.namespace, case.name) is None,
            timeout=CONVERGE_TIMEOUT,
            what=f"{case.name} deleted",
        )
    findings, _ = audit(rig, case.namespace, [])
    return findings


def ks_for(
    rig: Rig, figures: Figures, namespace: str, cloud: str, operation: str
) -> tuple[list[int], int]:
    """The k values to run, and the old cloud's share of a class change's writes."""
    if not FULL:
        return [1], 1
    # Count the writes of an uninterrupted run first.
    case = Case(cloud, operation, None, f"{operation}-{cloud}-count", namespace)
    findings, stuck, _, made = run_case(rig, case, first_part=0)
    total, first = sum(made.values()), made[cloud]
    figures.add(cloud, f"{case.name} (no crash)", findings, stuck=stuck)
    figures.add(cloud, f"{case.name} cleanup", cleanup(rig, case), stuck=False)
    figures.cases[cloud] -= 1  # the cleanup is a check, not a case
    figures.writes[(cloud, operation)] = total
    return list(range(1, total + 1)), first


@pytest.mark.parametrize("operation", OPERATIONS)
@pytest.mark.parametrize("cloud", CLOUDS)
def test_sigkill_after_each_write_converges_without_leak_or_duplicate(
    rig: Rig, figures: Figures, e2e_namespace: str, cloud: str, operation: str
) -> None:
    ks, first_part = ks_for(rig, figures, e2e_namespace, cloud, operation)
    failures_before = len(figures.failures)
    for k in ks:
        case = Case(cloud, operation, k, f"{operation}-{cloud}-k{k}", e2e_namespace)
        findings, stuck, exactly, _ = run_case(rig, case, first_part=first_part)
        figures.add(cloud, case.name, findings, stuck=stuck)
        figures.kills[cloud] += int(exactly)
        assert exactly, f"{case.name}: killed after a write count other than {k}"
        leaked = cleanup(rig, case)
        figures.add(cloud, f"{case.name} cleanup", leaked, stuck=False)
        figures.cases[cloud] -= 1
    assert figures.failures[failures_before:] == []
