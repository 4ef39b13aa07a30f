"""``lbprovider plan``: what the controller would change in the clouds, without changing it.

For each Service it builds the desired load balancer exactly as a sync does
(``build_desired`` over the eligible nodes and the Service's EndpointSlices,
all listed once) and asks the class's provider to ``plan`` it, which reads
the cloud and writes nothing.  A Service the controller would clean up (our
finalizer, no longer served) plans the deletion of the load balancer its
class's provider finds (``get``); a Service whose ownership record names
another configured class plans that class's deletion first, as a sync does.

The result prints like a Terraform plan::

    ns/web (lbprovider.io/aws-nlb): 2 changes
      + create listener TCP:443
      ~ update health check TCP:80: HTTP:10256 -> HTTP:31000
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from lbprovider.cloud import ChangeAction, PlannedChange, Provider
from lbprovider.controller.desired import build_desired, service_ref
from lbprovider.controller.ownership import Ownership
from lbprovider.controller.selection import class_of, eligible_nodes, has_finalizer
from lbprovider.kube.api import KubeApi
from lbprovider.kube.snapshots import EndpointSliceSnapshot, NodeSnapshot, ServiceSnapshot

EXIT_NO_CHANGES = 0
EXIT_ERROR = 1
EXIT_CHANGES = 2

_SYMBOLS = {ChangeAction.CREATE: "+", ChangeAction.UPDATE: "~", ChangeAction.DELETE: "-"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ClusterState:
    """The Services, Nodes and EndpointSlices a plan reads, listed once."""

    services: tuple[ServiceSnapshot, ...]
    nodes: tuple[NodeSnapshot, ...] = ()
    slices: tuple[EndpointSliceSnapshot, ...] = ()

    @classmethod
    def read(cls, api: KubeApi) -> ClusterState:
        """List everything from the API server (nodes and slices before Services, as the
        controller's informers start)."""
        nodes, _ = api.list_all("/api/v1/nodes")
        slices, _ = api.list_all("/apis/discovery.k8s.io/v1/endpointslices")
        services, _ = api.list_all("/api/v1/services")
        return cls(
            services=tuple(ServiceSnapshot.parse(item) for item in services),
            nodes=tuple(NodeSnapshot.parse(item) for item in nodes),
            slices=tuple(EndpointSliceSnapshot.parse(item) for item in slices),
        )

    def service(self, key: str) -> ServiceSnapshot | None:
        """The Service ``namespace/name``, or None."""
        return next((service for service in self.services if service.key == key), None)

    def slices_for(self, key: str) -> tuple[EndpointSliceSnapshot, ...]:
        """The EndpointSlices of the Service ``namespace/name``."""
        return tuple(item for item in self.slices if item.service_key == key)


@dataclass(frozen=True, slots=True, kw_only=True)
class ServicePlan:
    """What one class would do for one Service (or why nothing is planned)."""

    service_key: str
    load_balancer_class: str | None = None
    changes: tuple[PlannedChange, ...] = ()
    note: str = ""
    """Why nothing is planned here (not served, held by another controller, ...)."""
    error: str = ""
    """Why no plan could be made (invalid Service, a cloud error, not found)."""


def _plan_delete(
    service: ServiceSnapshot, load_balancer_class: str, provider: Provider, cluster_name: str
) -> ServicePlan:
    """The deletion of the load balancer ``provider`` holds for ``service``, if any."""
    try:
        found = provider.get(service_ref(service, cluster_name))
    except Exception as exc:  # any provider failure is this Service's error, not the run's
        return ServicePlan(
            service_key=service.key, load_balancer_class=load_balancer_class, error=str(exc)
        )
    changes: tuple[PlannedChange, ...] = ()
    if found is not None:
        changes = (
            PlannedChange(action=ChangeAction.DELETE, kind="load balancer", name=found.lb_id),
        )
    return ServicePlan(
        service_key=service.key, load_balancer_class=load_balancer_class, changes=changes
    )


def _holders(
    service: ServiceSnapshot, recorded: Ownership | None, providers: Mapping[str, Provider]
) -> list[str]:
    """The classes a cleanup asks (the controller's rule): the recorded class; without a
    record the spec's class, or every class."""
    if recorded is not None:
        return [recorded.load_balancer_class] if recorded.load_balancer_class in providers else []
    name = service.load_balancer_class
    if name is not None and name in providers:
        return [name]
    return sorted(providers)


def plan_service(
    service: ServiceSnapshot,
    *,
    state: ClusterState,
    cluster_name: str,
    providers: Mapping[str, Provider],
    default_class: str | None = None,
) -> tuple[ServicePlan, ...]:
    """What a sync of ``service`` would change in the clouds, one plan per class involved."""
    key = service.key
    served = class_of(service, providers, default_class)
    recorded = Ownership.from_annotations(service.meta.annotations)
    if served is None:
        if recorded is not None and recorded.load_balancer_class not in providers:
            note = f"held by class {recorded.load_balancer_class}, served by another controller"
            return (ServicePlan(service_key=key, note=note),)
        if not has_finalizer(service):
            return (ServicePlan(service_key=key, note="not served by this configuration"),)
        return tuple(
            _plan_delete(service, name, providers[name], cluster_name)
            for name in _holders(service, recorded, providers)
        )
    plans: list[ServicePlan] = []
    if recorded is not None and recorded.load_balancer_class != served:
        if recorded.load_balancer_class in providers:
            plans.append(
                _plan_delete(
                    service,
                    recorded.load_balancer_class,
                    providers[recorded.load_balancer_class],
                    cluster_name,
                )
            )
        else:
            note = (
                f"waits for the controller of class {recorded.load_balancer_class} "
                "to delete its load balancer first"
            )
            return (ServicePlan(service_key=key, load_balancer_class=served, note=note),)
    try:
        desired = build_desired(
            service,
            cluster=cluster_name,
            nodes=eligible_nodes(state.nodes),
            slices=state.slices_for(key),
        )
        changes = providers[served].plan(desired)
    except Exception as exc:  # InvalidService, cloud errors: this Service's error
        plans.append(ServicePlan(service_key=key, load_balancer_class=served, error=str(exc)))
    else:
        plans.append(ServicePlan(service_key=key, load_balancer_class=served, changes=changes))
    return tuple(plans)


def plan_services(
    state: ClusterState,
    *,
    cluster_name: str,
    providers: Mapping[str, Provider],
    default_class: str | None = None,
    keys: Sequence[str] = (),
) -> tuple[ServicePlan, ...]:
    """Plans for the Services ``keys`` (``namespace/name``), or else for every Service a
    sync would touch (served, or carrying our finalizer)."""
    plans: list[ServicePlan] = []
    if keys:
        for key in keys:
            service = state.service(key)
            if service is None:
                plans.append(ServicePlan(service_key=key, error="no such Service"))
            else:
                plans += plan_service(
                    service,
                    state=state,
                    cluster_name=cluster_name,
                    providers=providers,
                    default_class=default_class,
                )
        return tuple(plans)
    for service in sorted(state.services, key=lambda item: item.key):
        touched = class_of(service, providers, default_class) is not None or has_finalizer(service)
        if not touched:
            continue
        for plan in plan_service(
            service,
            state=state,
            cluster_name=cluster_name,
            providers=providers,
            default_class=default_class,
        ):
            if plan.note and plan.load_balancer_class is None:
                continue  # another controller's Service: not part of an unasked-for plan
            plans.append(plan)
    return tuple(plans)


def format_change(change: PlannedChange) -> str:
    """One line: ``+ create listener TCP:443``, ``~ update health check TCP:80: A -> B``."""
    words = [_SYMBOLS[change.action], change.action.value, change.kind]
    if change.name:
        words.append(change.name)
    line = " ".join(words)
    if change.action is ChangeAction.UPDATE:
        before, after = change.before or "(none)", change.after or "(none)"
        return f"{line}: {before} -> {after}" if change.name else f"{line} {before} -> {after}"
    extra = change.after if change.action is ChangeAction.CREATE else change.before
    if extra and extra != change.name:
        line += f" ({extra})"
    return line


def render(plans: Iterable[ServicePlan]) -> str:
    """The whole plan as text, with a summary line."""
    lines: list[str] = []
    counts = dict.fromkeys(ChangeAction, 0)
    changed: set[str] = set()
    unchanged: set[str] = set()
    failed: set[str] = set()
    for plan in plans:
        head = plan.service_key
        if plan.load_balancer_class:
            head += f" ({plan.load_balancer_class})"
        if plan.error:
            lines.append(f"{head}: error: {plan.error}")
            failed.add(plan.service_key)
        elif plan.note:
            lines.append(f"{head}: {plan.note}")
        elif not plan.changes:
            lines.append(f"{head}: no changes")
            unchanged.add(plan.service_key)
        else:
            number = len(plan.changes)
            lines.append(f"{head}: {number} change{'s' if number != 1 else ''}")
            lines += [f"  {format_change(change)}" for change in plan.changes]
            changed.add(plan.service_key)
            for change in plan.changes:
                counts[change.action] += 1
    unchanged -= changed | failed
    if changed:
        summary = (
            f"Plan: {counts[ChangeAction.CREATE]} to create, {counts[ChangeAction.UPDATE]} "
            f"to update, {counts[ChangeAction.DELETE]} to delete, in {len(changed)} Service(s); "
            f"{len(unchanged)} unchanged."
        )
    else:
        summary = f"No changes: {len(unchanged)} Service(s) match the cloud."
    if failed:
        summary += f" {len(failed)} Service(s) could not be planned."
    lines += ["", summary]
    return "\n".join(lines)


def exit_code(plans: Iterable[ServicePlan]) -> int:
    """1 when any Service could not be planned, 2 when something would change, else 0."""
    plans = tuple(plans)
    if any(plan.error for plan in plans):
        return EXIT_ERROR
    if any(plan.changes for plan in plans):
        return EXIT_CHANGES
    return EXIT_NO_CHANGES
