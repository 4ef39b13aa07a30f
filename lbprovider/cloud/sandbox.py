"""The contract for mock clouds: what the sandbox and e2e tests start per provider.

A provider package registers ``start`` under the ``lbprovider.mock_clouds``
entry-point group::

    def start(*, host: str = "127.0.0.1", port: int = 0, instances: int = 2) -> MockCloud

It starts a wire-level mock of its cloud on ``host:port`` (0 = a free port),
seeds ``instances`` compute instances (the nodes the sandbox registers) and
returns a handle.  Stdlib only, like the rest of ``lbprovider.cloud``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxInstance:
    """A seeded instance; the sandbox registers a Node with these values."""

    node_name: str
    provider_id: str
    internal_ip: str


class MockCloud(Protocol):
    """A running mock cloud."""

    provider: str
    """The registered provider name that talks to it (``aws``, ``alibaba``, ...)."""
    endpoint: str
    """``http://127.0.0.1:PORT``."""
    instances: tuple[SandboxInstance, ...]

    def provider_settings(self) -> dict[str, Any]:
        """Class settings (the ``settings:`` block) pointing the provider at this mock."""
        ...

    def internal_annotations(self) -> dict[str, str]:
        """Service annotations that ask this cloud for an internal load balancer here.

        The seed document's internal-LB examples use these; the sandbox fills
        in ids (a subnet, a vSwitch) only the mock knows.
        """
        ...

    def describe(self) -> list[dict[str, Any]]:
        """Every load balancer carrying an lbprovider cluster tag, as the cloud holds it.

        One dict each, with the keys ``service`` (``namespace/name`` from the
        tags), ``lb_id``, ``address``, ``listeners`` (``port/protocol -> backend
        port``), ``backends`` (instances or Pod IPs) and ``health_check``;
        ``make demo`` prints them as its table.
        """
        ...

    def resources(self) -> dict[str, int]:
        """Counts of load-balancer resources left in the mock (e.g. {"load_balancers": 0})."""
        ...

    def stop(self) -> None:
        """Stop serving; idempotent."""
        ...
