"""Fixtures for the AWS provider tests: the process's AWS mock cloud (moto behind its proxy).

What reached the cloud is read from the mock's admin routes: the shared
counters (``MockAdmin.counters``) and the AWS mock's request journal
(``/_admin/requests``: the action and parameters of every forwarded request).
Before and after each test the cloud is swept back to its seeded state, and
after it nothing of lbprovider's may be left.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from contract_suite.aws import shared_cloud, sweep
from lbprovider.cloud import NodeTarget
from lbprovider.mockkit import CallCounts, MockAdmin
from lbprovider_aws.mock import AwsMockCloud
from lbprovider_aws.provider import AwsProvider, create

READ_PREFIXES = ("Describe", "Get", "List")
EMPTY = {"load_balancers": 0, "target_groups": 0, "security_groups": 0, "node_sg_rules": 0}

Params = dict[str, list[str]]


class Journal:
    """The requests the mock forwarded to moto since the last :meth:`clear`, with their
    parameters (parsed form bodies), and the shared counters."""

    def __init__(self, admin: MockAdmin) -> None:
        self.admin = admin

    @property
    def calls(self) -> list[tuple[str, Params]]:
        entries = self.admin.request("GET", "requests")["requests"]
        return [(str(entry["action"]), entry["params"]) for entry in entries]

    def clear(self) -> None:
        self.admin.request("DELETE", "requests")
        self.admin.reset()

    def writes(self) -> list[str]:
        return [action for action, _ in self.calls if not action.startswith(READ_PREFIXES)]

    def of(self, action: str) -> list[Params]:
        return [params for name, params in self.calls if name == action]

    def counts(self) -> CallCounts:
        return self.admin.counters()

    def fail_next(self, count: int, *, status: int = 400, code: str = "Throttling") -> None:
        """Answer the next ``count`` calls with an AWS error (the kit's fault rules)."""
        self.admin.inject_fault(code, status=status, count=count)

    def faults_left(self) -> list[dict[str, Any]]:
        faults: list[dict[str, Any]] = self.admin.request("GET", "faults")["faults"]
        return faults


@pytest.fixture(scope="session")
def cloud() -> AwsMockCloud:
    return shared_cloud()


@pytest.fixture
def requests_log(cloud: AwsMockCloud) -> Journal:
    journal = Journal(cloud.admin)
    journal.clear()
    return journal


@pytest.fixture
def settings(cloud: AwsMockCloud) -> Iterator[dict[str, Any]]:
    """Class settings pointing at the mock; the cloud is swept before and after the test."""
    sweep(cloud)
    values = cloud.provider_settings()
    yield values
    cloud.admin.clear_faults()
    sweep(cloud)
    assert cloud.resources() == EMPTY
    assert (
        cloud.client("ec2").describe_security_groups(GroupIds=[cloud.node_security_group])[
            "SecurityGroups"
        ][0]["IpPermissions"]
        == []
    )


@pytest.fixture
def make_provider(settings: dict[str, Any]) -> Callable[..., AwsProvider]:
    def build(cluster: str = "test-cluster", **overrides: Any) -> AwsProvider:
        return create({**settings, **overrides}, cluster_name=cluster)

    return build


@pytest.fixture
def provider(make_provider: Callable[..., AwsProvider]) -> AwsProvider:
    return make_provider()


@pytest.fixture
def nodes(cloud: AwsMockCloud) -> tuple[NodeTarget, ...]:
    """The seeded instances as nodes, plus one node of another cloud (must be ignored)."""
    ours = tuple(
        NodeTarget(name=i.node_name, provider_id=i.provider_id, address=i.internal_ip)
        for i in cloud.instances
    )
    return (*ours, NodeTarget(name="zz-other", provider_id="gce://p/z/vm-1", address="10.9.9.9"))
