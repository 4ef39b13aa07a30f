"""Call counters: one notion of a read and a write for every mock cloud.

A read is an action whose name starts with one of :data:`READ_PREFIXES`
(``DescribeLoadBalancers``, ``ListTags``...); every other action is a write.
Calls are counted once authenticated, whether they succeed, fail or are
faulted: that is what the cloud would bill and throttle.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

READ_PREFIXES = ("Describe", "List", "Get", "Query", "Inquiry")


def is_read(action: str) -> bool:
    """True for an action that only reads."""
    return action.startswith(READ_PREFIXES)


@dataclass(frozen=True, slots=True, kw_only=True)
class CallCounts:
    """Calls a mock cloud answered since its last reset."""

    reads: int
    writes: int
    rejected: int = 0
    actions: Mapping[str, int] = field(default_factory=dict)

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> CallCounts:
        """Parse ``GET /_admin/counters``."""
        return cls(
            reads=int(raw["reads"]),
            writes=int(raw["writes"]),
            rejected=int(raw.get("rejected", 0)),
            actions={str(k): int(v) for k, v in raw.get("actions", {}).items()},
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "reads": self.reads,
            "writes": self.writes,
            "rejected": self.rejected,
            "actions": dict(self.actions),
        }

    @property
    def total(self) -> int:
        return self.reads + self.writes

    def __sub__(self, other: CallCounts) -> CallCounts:
        actions = {
            action: count - other.actions.get(action, 0)
            for action, count in self.actions.items()
            if count != other.actions.get(action, 0)
        }
        return CallCounts(
            reads=self.reads - other.reads,
            writes=self.writes - other.writes,
            rejected=self.rejected - other.rejected,
            actions=actions,
        )


class CallCounters:
    """Calls by action, thread-safe."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_action: Counter[str] = Counter()
        self._rejected = 0

    def record(self, action: str) -> None:
        with self._lock:
            self._by_action[action] += 1

    def record_rejected(self) -> None:
        """A request refused before it was authenticated (bad signature, unknown key)."""
        with self._lock:
            self._rejected += 1

    def reset(self) -> None:
        with self._lock:
            self._by_action.clear()
            self._rejected = 0

    def counts(self) -> CallCounts:
        """Reads, writes and rejected calls so far, and calls per action."""
        with self._lock:
            actions = dict(sorted(self._by_action.items()))
            rejected = self._rejected
        reads = sum(n for action, n in actions.items() if is_read(action))
        return CallCounts(
            reads=reads, writes=sum(actions.values()) - reads, rejected=rejected, actions=actions
        )

    def snapshot(self) -> dict[str, Any]:
        """``{"reads": n, "writes": n, "rejected": n, "actions": {action: n}}``."""
        return self.counts().to_json()
