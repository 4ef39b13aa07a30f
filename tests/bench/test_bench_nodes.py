"""Benchmark: what a Node status heartbeat costs the controller on a large cluster.

Kubelets update their Node every few seconds to minutes; the controller must
notice that nothing it cares about changed without rescanning every node.
And what the desired models it keeps cost when nodes keep arriving.
"""

from __future__ import annotations

import time
import tracemalloc
from typing import Any

import pytest

from lbprovider.controller.selection import eligible_nodes, node_target
from lbprovider.kube.snapshots import NodeSnapshot

pytestmark = pytest.mark.bench

NODES = 5000


def raw_node(index: int, *, resource_version: str, ready: str) -> dict[str, Any]:
    return {
        "metadata": {"name": f"node-{index}", "resourceVersion": resource_version},
        "spec": {"providerID": f"aws:///z/i-{index:08x}"},
        "status": {
            "addresses": [
                {
                    "type": "InternalIP",
                    "address": f"10.{index // 65536}.{index // 256 % 256}.{index % 256}",
                }
            ],
            "conditions": [{"type": "Ready", "status": ready}],
        },
    }


def test_heartbeat_cost() -> None:
    nodes = [
        NodeSnapshot.parse(raw_node(i, resource_version="1", ready="True")) for i in range(NODES)
    ]
    beats = [
        NodeSnapshot.parse(raw_node(i, resource_version="2", ready="False")) for i in range(NODES)
    ]

    started = time.perf_counter()
    unchanged = sum(
        node_target(old) == node_target(new) for old, new in zip(nodes, beats, strict=True)
    )
    per_beat = (time.perf_counter() - started) / NODES
    assert unchanged == NODES  # a readiness flap changes no backend

    started = time.perf_counter()
    eligible_nodes(nodes)
    rescan = time.perf_counter() - started
    print(
        f"\n[bench] {NODES} nodes: a heartbeat costs {per_beat * 1e6:.1f} us "
        f"(a full rescan would cost {rescan * 1e3:.1f} ms, {rescan / per_beat:.0f}x more)"
    )


def test_cached_desired_models_share_node_targets() -> None:
    # 1,250 served Services, each synced after one more of 2,000 Nodes arrived: each keeps
    # the node tuple of its generation (as the controller's applied models do).
    services, total = 1250, 2000
    nodes = [
        NodeSnapshot.parse(raw_node(i, resource_version="1", ready="True")) for i in range(total)
    ]
    sizes = {}
    for share in (False, True):
        tracemalloc.start()
        held = []
        current = eligible_nodes(nodes[: total - services])
        for index in range(services):
            grown = nodes[: total - services + index + 1]
            current = eligible_nodes(grown, previous=current if share else ())
            held.append(current)
        sizes[share] = tracemalloc.get_traced_memory()[0] / 2**20
        tracemalloc.stop()
        del held
    print(
        f"\n[bench] {services} cached models over up to {total} nodes: "
        f"{sizes[False]:.0f} MiB with a copy of every target per node change, "
        f"{sizes[True]:.0f} MiB sharing unchanged targets"
    )
    assert sizes[True] < sizes[False] / 4
