"""What the mock clouds hold for one cluster, read from their own state, and what is wrong.

The reliability tests judge by the cloud, never by the provider: every mock's
``GET /_admin/state`` (through :class:`~lbprovider.mockkit.MockAdmin`) is cut
down to one :class:`Holding` per owner UID (load balancers, listeners with
their backend counts, and what hangs off them: AWS target groups, security
groups and node security-group rules, Alibaba vServer groups).
:func:`problems` compares that with the Services that want a load balancer
and names every orphan, duplicate and left-behind object.  :func:`report`
prints a run's figures and appends them to ``$LBPROVIDER_RELIABILITY_REPORT``
(``make test-reliability`` shows that file at the end).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from lbprovider.cloud.tags import CLUSTER_TAG, SERVICE_UID_TAG

AWS_MARKER = "lbprovider:"
# The cluster's shared backend security group (its role tag) and the owner its node rules
# name: held by the cluster while any NLB of it exists, an orphan once none does.
AWS_ROLE_TAG, AWS_BACKEND_ROLE = "lbprovider.io/role", "backend"
REPORT_ENV = "LBPROVIDER_RELIABILITY_REPORT"


def report(text: str) -> None:
    """Print a run's figures; also append them to ``$LBPROVIDER_RELIABILITY_REPORT``."""
    print("\n" + text)
    path = os.environ.get(REPORT_ENV)
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(text + "\n")


@dataclass
class Holding:
    """One owner UID's objects in one cloud."""

    load_balancers: list[str] = field(default_factory=list)
    listeners: dict[str, int] = field(default_factory=dict)
    """``TCP:80`` -> backends behind it."""
    extras: list[str] = field(default_factory=list)
    """Objects no listener explains: an unattached target group, an unused vServer group,
    a node security-group rule on a port the Service no longer has..."""
    rule_ports: set[int] = field(default_factory=set)
    """AWS: the node ports its node security-group rules open."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Wanted:
    """A Service that should have a load balancer in ``cloud``."""

    uid: str
    cloud: str
    listeners: frozenset[str]
    """``TCP:80`` ..."""
    backends: int
    """Backends behind each listener (eligible nodes)."""
    node_ports: frozenset[int]


def _tag_dict(raw: Any) -> dict[str, str]:
    if isinstance(raw, dict) and "Tag" in raw:
        return {str(t["TagKey"]): str(t["TagValue"]) for t in raw["Tag"]}
    if isinstance(raw, list):
        return {str(t["Key"]): str(t["Value"]) for t in raw}
    return {str(k): str(v) for k, v in dict(raw or {}).items()}


def _mine(tags: Mapping[str, str], cluster: str) -> str | None:
    """The owner UID when ``tags`` belong to ``cluster``."""
    if tags.get(CLUSTER_TAG) != cluster:
        return None
    return tags.get(SERVICE_UID_TAG, "?")


def _aws(state: Mapping[str, Any], cluster: str) -> dict[str, Holding]:
    held: dict[str, Holding] = {}
    groups = {tg["arn"]: tg for tg in state.get("target_groups", [])}
    used: set[str] = set()
    for lb in state.get("load_balancers", []):
        uid = _mine(_tag_dict(lb["tags"]), cluster)
        if uid is None:
            continue
        holding = held.setdefault(uid, Holding())
        holding.load_balancers.append(lb["arn"])
        for listener in lb["listeners"]:
            group = groups.get(listener.get("target_group_arn") or "")
            used.add(listener.get("target_group_arn") or "")
            targets = len(group["targets"]) if group else 0
            holding.listeners[f"{listener['protocol']}:{listener['port']}"] = targets
    for arn, group in groups.items():
        uid = _mine(_tag_dict(group["tags"]), cluster)
        if uid is not None and arn not in used:
            held.setdefault(uid, Holding()).extras.append(f"target group {group['name']}")
    shared: list[str] = []
    for group in state.get("security_groups", []):
        tags = _tag_dict(group["tags"])
        uid = _mine(tags, cluster)
        if uid is not None and tags.get(AWS_ROLE_TAG) == AWS_BACKEND_ROLE:
            shared.append(f"security group {group['id']}")
        elif uid is not None and not held.setdefault(uid, Holding()).load_balancers:
            held[uid].extras.append(f"security group {group['id']}")
    for rule in state.get("node_sg_rules", []):
        description = str(rule["description"])
        owner = description[len(AWS_MARKER) :]
        if not owner.startswith(f"{cluster}/"):
            continue
        if owner == f"{cluster}/{AWS_BACKEND_ROLE}":
            shared.append(f"node sg rule {rule['protocol']}:{rule['from_port']}")
            continue
        holding = held.setdefault(owner.split("/", 1)[1], Holding())
        holding.rule_ports.add(int(rule["from_port"]))
        if not holding.load_balancers:
            holding.extras.append(f"node sg rule {rule['protocol']}:{rule['from_port']}")
    if shared and not any(holding.load_balancers for holding in held.values()):
        held.setdefault(AWS_BACKEND_ROLE, Holding()).extras.extend(shared)
    return held


def _alibaba(state: Mapping[str, Any], cluster: str) -> dict[str, Holding]:
    held: dict[str, Holding] = {}
    owners: dict[str, str] = {}
    for lb in state.get("load_balancers", []):
        uid = _mine(_tag_dict(lb.get("Tags")), cluster)
        if uid is not None:
            owners[lb["LoadBalancerId"]] = uid
            held.setdefault(uid, Holding()).load_balancers.append(lb["LoadBalancerId"])
    groups = {g["VServerGroupId"]: g for g in state.get("vserver_groups", [])}
    used: set[str] = set()
    for listener in state.get("listeners", []):
        uid = owners.get(listener["LoadBalancerId"])
        if uid is None:
            continue
        group = groups.get(listener.get("VServerGroupId") or "")
        used.add(listener.get("VServerGroupId") or "")
        backends = len(group["BackendServers"]) if group else 0
        name = f"{str(listener['ListenerProtocol']).upper()}:{listener['ListenerPort']}"
        held[uid].listeners[name] = backends
    for group_id, group in groups.items():
        uid = owners.get(group["LoadBalancerId"])
        if uid is not None and group_id not in used:
            held[uid].extras.append(f"vserver group {group['VServerGroupName']}")
    return held


def _tencent(state: Mapping[str, Any], cluster: str) -> dict[str, Holding]:
    held: dict[str, Holding] = {}
    for lb in state.get("load_balancers", []):
        uid = _mine(_tag_dict(lb["tags"]), cluster)
        if uid is None:
            continue
        holding = held.setdefault(uid, Holding())
        holding.load_balancers.append(lb["id"])
        for listener in lb["listeners"]:
            holding.listeners[f"{listener['protocol']}:{listener['port']}"] = len(
                listener["targets"]
            )
    return held


READERS = {"aws": _aws, "alibaba": _alibaba, "tencent": _tencent}


def holdings(states: Mapping[str, Any], cluster: str) -> dict[str, dict[str, Holding]]:
    """Per cloud, per owner UID, what ``cluster`` holds in each mock's ``state``."""
    return {cloud: READERS[cloud](state, cluster) for cloud, state in states.items()}


@dataclass(frozen=True, slots=True, kw_only=True)
class Findings:
    """What is wrong in the clouds, by kind."""

    orphans: tuple[str, ...] = ()
    duplicates: tuple[str, ...] = ()
    leftovers: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()

    def __bool__(self) -> bool:
        return bool(self.orphans or self.duplicates or self.leftovers or self.missing)


def problems(held: Mapping[str, Mapping[str, Holding]], wanted: list[Wanted]) -> Findings:
    """Orphans (objects of no wanted Service, or in the wrong cloud), duplicates (more
    than one load balancer per UID), leftovers (listeners, groups, rules the Service does
    not need) and missing pieces (no load balancer, too few backends)."""
    want = {(item.cloud, item.uid): item for item in wanted}
    orphans, duplicates, leftovers, missing = [], [], [], []
    for cloud, by_uid in held.items():
        for uid, holding in by_uid.items():
            item = want.get((cloud, uid))
            if item is None:
                what = holding.load_balancers + holding.extras
                if what or holding.rule_ports:
                    orphans.append(f"{cloud} {uid}: {', '.join(what) or 'node sg rules'}")
                continue
            if len(holding.load_balancers) > 1:
                duplicates.append(f"{cloud} {uid}: {holding.load_balancers}")
            if holding.extras:
                leftovers.append(f"{cloud} {uid}: {holding.extras}")
            extra = set(holding.listeners) - item.listeners
            if extra:
                leftovers.append(f"{cloud} {uid}: listeners {sorted(extra)}")
            stale = holding.rule_ports - item.node_ports
            if stale:
                leftovers.append(f"{cloud} {uid}: node sg rules on ports {sorted(stale)}")
    for (cloud, uid), item in want.items():
        found = held.get(cloud, {}).get(uid)
        if found is None or not found.load_balancers:
            missing.append(f"{cloud} {uid}: no load balancer")
            continue
        for name in sorted(item.listeners):
            if found.listeners.get(name) != item.backends:
                missing.append(
                    f"{cloud} {uid}: {name} has {found.listeners.get(name)} backends, "
                    f"wants {item.backends}"
                )
    return Findings(
        orphans=tuple(orphans),
        duplicates=tuple(duplicates),
        leftovers=tuple(leftovers),
        missing=tuple(missing),
    )
