"""decide(): what one sync does, as a table; and the reason strings users grep for."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import pytest

from lbprovider.cloud import (
    DesiredLoadBalancer,
    Listener,
    NodeTarget,
    Protocol,
    ServiceRef,
)
from lbprovider.controller import reasons
from lbprovider.controller.decision import Action, Applied, Decision, decide

pytestmark = pytest.mark.unit

REF = ServiceRef(cluster="c", namespace="ns", name="s", uid="u1")
NODE_A = NodeTarget(name="a", provider_id="fake://a", address="10.0.0.1")
NODE_B = NodeTarget(name="b", provider_id="fake://b", address="10.0.0.2")
BASE = DesiredLoadBalancer(
    ref=REF,
    listeners=(Listener(name="", port=80, protocol=Protocol.TCP, node_port=30080),),
    nodes=(NODE_A,),
)
MORE_NODES = replace(BASE, nodes=(NODE_A, NODE_B))
OTHER_PORT = replace(
    BASE, listeners=(Listener(name="", port=81, protocol=Protocol.TCP, node_port=30080),)
)
INGRESS: tuple[dict[str, Any], ...] = ({"ip": "192.0.2.1", "ipMode": "VIP"},)
APPLIED = Applied(BASE, INGRESS)

ENSURE_ANNOUNCED = Decision(action=Action.ENSURE, announce=True)
ENSURE_QUIET = Decision(action=Action.ENSURE, announce=False)

CASES: list[tuple[str, dict[str, Any], Decision]] = [
    # (what, inputs, decision)
    (
        "not served, not ours",
        {"desired": None, "has_finalizer": False, "applied": None},
        Decision(action=Action.SKIP),
    ),
    (
        "not served, applied before but no finalizer",
        {"desired": None, "has_finalizer": False, "applied": APPLIED},
        Decision(action=Action.SKIP),
    ),
    (
        "not served any more, carries our finalizer",
        {"desired": None, "has_finalizer": True, "applied": APPLIED},
        Decision(action=Action.CLEANUP),
    ),
    (
        "not served, finalizer, nothing applied in this process (after a restart)",
        {"desired": None, "has_finalizer": True, "applied": None},
        Decision(action=Action.CLEANUP),
    ),
    ("first sync", {"desired": BASE, "has_finalizer": True, "applied": None}, ENSURE_ANNOUNCED),
    (
        "unchanged, status shows what was applied",
        {"desired": BASE, "has_finalizer": True, "applied": APPLIED, "status_ingress": INGRESS},
        Decision(action=Action.STATUS_ONLY),
    ),
    (
        "unchanged, status lost or edited by someone",
        {"desired": BASE, "has_finalizer": True, "applied": APPLIED, "status_ingress": ()},
        Decision(action=Action.STATUS_ONLY, patch_ingress=True),
    ),
    (
        "only nodes moved",
        {
            "desired": MORE_NODES,
            "has_finalizer": True,
            "applied": APPLIED,
            "status_ingress": INGRESS,
        },
        Decision(action=Action.UPDATE_BACKENDS),
    ),
    (
        "a listener changed",
        {"desired": OTHER_PORT, "has_finalizer": True, "applied": APPLIED},
        ENSURE_ANNOUNCED,
    ),
    (
        "resync of an unchanged Service: ensure, quietly",
        {
            "desired": BASE,
            "has_finalizer": True,
            "applied": APPLIED,
            "status_ingress": INGRESS,
            "resync": True,
        },
        ENSURE_QUIET,
    ),
    (
        "resync when only nodes moved: a full ensure, announced",
        {"desired": MORE_NODES, "has_finalizer": True, "applied": APPLIED, "resync": True},
        ENSURE_ANNOUNCED,
    ),
    (
        "resync of a Service never applied here",
        {"desired": BASE, "has_finalizer": True, "applied": None, "resync": True},
        ENSURE_ANNOUNCED,
    ),
]


@pytest.mark.parametrize(("inputs", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_decide(inputs: dict[str, Any], expected: Decision) -> None:
    assert decide(**inputs) == expected


def test_event_reasons_keep_upstreams_strings() -> None:
    assert [
        reasons.ENSURING_LOAD_BALANCER,
        reasons.ENSURED_LOAD_BALANCER,
        reasons.UPDATED_LOAD_BALANCER,
        reasons.DELETING_LOAD_BALANCER,
        reasons.DELETED_LOAD_BALANCER,
        reasons.SYNC_LOAD_BALANCER_FAILED,
        reasons.UNAVAILABLE_LOAD_BALANCER,
        reasons.UPDATE_LOAD_BALANCER_FAILED,
    ] == [
        "EnsuringLoadBalancer",
        "EnsuredLoadBalancer",
        "UpdatedLoadBalancer",
        "DeletingLoadBalancer",
        "DeletedLoadBalancer",
        "SyncLoadBalancerFailed",
        "UnAvailableLoadBalancer",
        "UpdateLoadBalancerFailed",
    ]
    assert reasons.CONDITION_TYPE == "LoadBalancerReady"
