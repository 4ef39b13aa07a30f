"""What one sync of a Service must do: a pure decision over facts.

``decide`` looks only at values (the desired model, or None when the Service
is not served; whether it carries our finalizer; what was last applied; what
its status shows; whether a resync asked) and returns a frozen
:class:`Decision` that ``ServiceController.sync`` carries out.  No I/O here,
so the rules that keep an unchanged Service at zero cloud calls are a table
in the unit tests.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from lbprovider.cloud import DesiredLoadBalancer
from lbprovider.controller.desired import only_backends_changed
from lbprovider.controller.status import same_ingress


@dataclass(frozen=True, slots=True)
class Applied:
    """What the cloud was last made to match for one Service, and the status it gave."""

    desired: DesiredLoadBalancer
    ingress: tuple[Mapping[str, Any], ...]


class Action(enum.Enum):
    """The kind of work a sync does."""

    SKIP = "skip"
    """Not ours and nothing of ours on it: touch nothing, forget what we knew."""
    CLEANUP = "cleanup"
    """Carries our finalizer but is no longer served: clean the cloud, then release it."""
    STATUS_ONLY = "status-only"
    """The cloud already matches: no provider call; re-write the status if it drifted."""
    UPDATE_BACKENDS = "update-backends"
    """Only nodes or endpoints moved: the provider's cheap path."""
    ENSURE = "ensure"
    """First sync, any other change, or a resync (which repairs drift in the cloud)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Decision:
    """The outcome of :func:`decide`."""

    action: Action
    announce: bool = False
    """ENSURE: the Service changed, so Events say so (a resync of an unchanged one is quiet)."""
    patch_ingress: bool = False
    """STATUS_ONLY: the Service shows another ingress than the one last applied."""


def decide(
    *,
    desired: DesiredLoadBalancer | None,
    has_finalizer: bool,
    applied: Applied | None,
    status_ingress: Sequence[Mapping[str, Any]] = (),
    resync: bool = False,
) -> Decision:
    """What a sync must do.

    ``desired`` is None when the Service is not served (not ours, not a
    LoadBalancer, or being deleted); ``applied`` is what this process last
    made the cloud match; ``resync`` forces a provider call so drift made
    behind our back is repaired.
    """
    if desired is None:
        return Decision(action=Action.CLEANUP if has_finalizer else Action.SKIP)
    if applied is not None and not resync:
        if applied.desired == desired:
            return Decision(
                action=Action.STATUS_ONLY,
                patch_ingress=not same_ingress(status_ingress, applied.ingress),
            )
        if only_backends_changed(applied.desired, desired):
            return Decision(action=Action.UPDATE_BACKENDS)
    return Decision(action=Action.ENSURE, announce=applied is None or applied.desired != desired)
