"""Call counters: one notion of a read and a write for every mock cloud.

A read is an action whose name starts with one of :data:`READ_PREFIXES`
(``DescribeLoadBalancers``, ``ListTags``...); every other action is a write.
Calls are counted once authenticated, whether they succeed, fail or are
faulted: that is what the cloud would bill and throttle.
"""

from __future__ import annotations

import threading
from collections import Counter

READ_PREFIXES = ("Describe", "List", "Get", "Query", "Inquiry")


def is_read(action: str) -> bool:
    """True for an action that only reads."""
    return action.startswith(READ_PREFIXES)


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

    def snapshot(self) -> dict[str, object]:
        """``{"reads": n, "writes": n, "rejected": n, "actions": {action: n}}``."""
        with self._lock:
            actions = dict(sorted(self._by_action.items()))
            rejected = self._rejected
        reads = sum(n for action, n in actions.items() if is_read(action))
        return {
            "reads": reads,
            "writes": sum(actions.values()) - reads,
            "rejected": rejected,
            "actions": actions,
        }
