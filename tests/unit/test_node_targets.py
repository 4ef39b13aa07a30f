"""Node targets are shared between node changes, so cached desired models do not copy them.

Every Service synced between two node changes keeps the tuple of targets it
was built with; before, each node change made new target objects, and with
1,000 Services over 5,000 Nodes the controller held hundreds of copies
(``make bench`` B4).
"""

from __future__ import annotations

import pytest

from lbprovider.controller.selection import eligible_nodes
from lbprovider.kube.snapshots import NodeSnapshot

pytestmark = pytest.mark.unit


def node(name: str, address: str = "10.0.0.1") -> NodeSnapshot:
    return NodeSnapshot.parse(
        {
            "metadata": {"name": name},
            "spec": {"providerID": f"aws:///z/{name}"},
            "status": {"addresses": [{"type": "InternalIP", "address": address}]},
        }
    )


def test_unchanged_targets_are_the_previous_objects_and_changed_ones_are_new() -> None:
    before = eligible_nodes([node("a"), node("b")])
    after = eligible_nodes([node("a"), node("b", "10.0.0.2"), node("c")], previous=before)
    assert [target.name for target in after] == ["a", "b", "c"]
    assert after[0] is before[0]  # unchanged: shared
    assert after[1] is not before[1] and after[1].address == "10.0.0.2"  # changed: new
    assert eligible_nodes([node("a"), node("b")]) == before  # same values without ``previous``
