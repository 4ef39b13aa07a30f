"""The informer's list+watch logic: bookmarks, 410 relists, only real changes dispatched.

The API side is a scripted stand-in for ``KubeApi`` (two methods), not an API
server: the real one is exercised by the integration tests.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from lbprovider.kube.api import ApiError
from lbprovider.kube.informer import Informer
from lbprovider.kube.snapshots import NodeSnapshot

pytestmark = pytest.mark.unit


def node(name: str, rv: str, **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "resourceVersion": rv, "labels": labels}}


class ScriptedApi:
    """Answers list_all and watch from scripts; records the resourceVersions watched from."""

    def __init__(
        self, lists: list[list[dict[str, Any]]], watches: list[list[dict[str, Any]] | int]
    ):
        self.lists = lists
        self.watches = watches
        self.watched_from: list[str] = []
        self.done = threading.Event()

    def list_all(self, path: str) -> tuple[list[dict[str, Any]], str]:
        items = self.lists.pop(0)
        return items, f"list-{len(self.lists)}"

    def watch(
        self, path: str, *, resource_version: str, timeout_seconds: int, on_open: Any = None
    ) -> Iterator[dict[str, Any]]:
        self.watched_from.append(resource_version)
        if not self.watches:
            self.done.set()
            threading.Event().wait(5)  # idle like a quiet watch until the test stops us
            return
        script = self.watches.pop(0)
        if isinstance(script, int):
            raise ApiError(script, "gone", method="WATCH", path=path)
        yield from script


def test_watch_bookmarks_410_and_relists_dispatch_only_real_changes() -> None:
    api = ScriptedApi(
        lists=[
            [node("a", "1"), node("b", "2")],
            # After the 410: "a" changed, "b" is gone, "c" is new; "d" never changed.
            [node("a", "7", zone="z1"), node("c", "8"), node("d", "5")],
        ],
        watches=[
            [
                {"type": "ADDED", "object": node("d", "5")},
                {"type": "MODIFIED", "object": node("d", "5")},  # same snapshot: no dispatch
                {"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "6"}}},
            ],
            [{"type": "ERROR", "object": {"code": 410}}],
        ],
    )
    informer: Informer[NodeSnapshot] = Informer(
        api,  # type: ignore[arg-type]  # the scripted stand-in has the two methods used
        kind="Node",
        path="/api/v1/nodes",
        parse=NodeSnapshot.parse,
        retry_delay=0,
    )
    seen: list[tuple[str | None, str | None]] = []
    informer.add_handler(
        lambda old, new: seen.append((old and old.meta.resource_version, new and new.meta.name))
    )
    informer.start()
    assert api.done.wait(5)
    informer.stop()
    assert api.watched_from == ["list-1", "6", "list-0"]  # the bookmark moved us on
    assert seen == [
        (None, "a"),
        (None, "b"),
        (None, "d"),
        ("1", "a"),  # relist: a changed
        (None, "c"),  # relist: c is new
        ("2", None),  # relist: b is gone
    ]
    assert sorted(snapshot.meta.name for snapshot in informer.items()) == ["a", "c", "d"]
